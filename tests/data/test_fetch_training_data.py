"""Rebuilding the training folder from the manifest's origins, here from a local file source (file:// URLs to copies
of a few shared images): every file verified by its SHA-256, a bad one reported and not kept, a rerun resumes."""
import csv
import hashlib
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.data.manifest import read_manifest
from core.paths import SHIPPED_MANIFEST
from scripts.fetch_training_data import main, origin_url, parse_args, read_rows

PER_LABEL = 1


def rows_of(manifest: Path) -> list[dict[str, str]]:
    with open(manifest, newline="") as f:
        return list(csv.DictReader(f))


def write_manifest(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def origins(multisource_dir: Path, tmp_path: Path) -> list[dict[str, str]]:
    """The first row of each label, its origin rewritten to a file:// URL of a copy (a stand-in for the public host)."""
    rows, seen = [], set()
    for row in rows_of(multisource_dir / "manifest.csv"):
        if row["label"] not in seen:
            seen.add(row["label"])
            copy = tmp_path / "origin" / row["origin"].rpartition("/")[2]
            copy.parent.mkdir(exist_ok=True)
            shutil.copyfile(multisource_dir / row["file"], copy)
            rows.append({**row, "origin": copy.as_uri()})
    return rows


def fetch(out: Path, rows: list[dict[str, str]], capsys, *options: str) -> tuple[int, str, str]:
    code = main([str(out), "--manifest", str(write_manifest(out.parent / "manifest.csv", rows)), *options])
    printed = capsys.readouterr()
    return code, printed.out, printed.err


def test_the_folder_is_rebuilt_with_every_file_verified_and_a_manifest_the_trainer_reads(origins, multisource_dir, tmp_path, capsys):
    out = tmp_path / "training"
    code, printed, errors = fetch(out, origins, capsys)
    assert code == 0 and errors == ""
    for i, row in enumerate(origins, 1):
        assert (out / row["file"]).read_bytes() == (multisource_dir / row["file"]).read_bytes()
        assert f"[{i}/{len(origins)}] {row['file']}: downloaded" in printed
    assert rows_of(out / "manifest.csv") == origins
    assert {s.relative_path for s in read_manifest(out)} == {row["file"] for row in origins}
    assert printed.splitlines()[-1] == f"{out}: {len(origins)} of {len(origins)} images ({len(origins)} downloaded); 0 failed"


def test_a_rerun_skips_files_already_there_without_downloading_them(origins, tmp_path, capsys):
    out = tmp_path / "training"
    assert fetch(out, origins, capsys)[0] == 0
    shutil.rmtree(tmp_path / "origin")  # the host is gone: only files already present can succeed
    code, printed, _ = fetch(out, origins, capsys)
    assert code == 0 and printed.count(": already present") == len(origins)


def test_a_hash_mismatch_is_reported_and_that_file_is_not_kept(origins, tmp_path, capsys):
    out, bad = tmp_path / "training", origins[0]
    tampered = [{**bad, "sha256": hashlib.sha256(b"another image").hexdigest()}, *origins[1:]]
    code, printed, errors = fetch(out, tampered, capsys)
    assert code == 2
    assert f"{bad['file']}: SHA-256 differs from the manifest, as downloaded and re-encoded" in errors and "not kept" in errors
    assert not (out / bad["file"]).exists() and not list(out.rglob("*.part"))
    assert [row["file"] for row in rows_of(out / "manifest.csv")] == [row["file"] for row in origins[1:]]
    assert printed.splitlines()[-1].endswith("; 1 failed, listed above (the manifest written leaves them out)")


def test_a_file_that_cannot_be_downloaded_is_named_with_its_url_and_the_rest_still_come(origins, tmp_path, capsys):
    out, missing = tmp_path / "training", (tmp_path / "origin" / "gone.jpg").as_uri()
    code, _, errors = fetch(out, [{**origins[0], "origin": missing}, *origins[1:]], capsys)
    assert code == 2 and f"{origins[0]['file']}: could not download {missing}" in errors
    assert all((out / row["file"]).is_file() for row in origins[1:])


def test_an_original_is_re_encoded_as_the_data_set_was_and_kept_only_when_asked(origins, tmp_path, capsys):
    with Image.open(tmp_path / "origin" / origins[0]["origin"].rpartition("/")[2]) as image:
        grey = np.asarray(image.convert("L").resize((1000, 900)), dtype=np.uint16)
    original = tmp_path / "origin" / "sixteen_bit.png"
    Image.fromarray(grey * 40 + 300).save(original)  # a 16-bit original larger than the data set keeps
    row = {**origins[0], "file": "normal/sixteen_bit.jpg", "origin": original.as_uri(), "sha256": "0" * 64}
    out = tmp_path / "training"
    assert fetch(out, [row], capsys)[0] == 2 and not (out / row["file"]).exists()

    code, printed, _ = fetch(out, [row], capsys, "--keep-mismatched")
    assert code == 0 and f"{row['file']}: kept with a different SHA-256" in printed
    data = (out / row["file"]).read_bytes()
    with Image.open(io.BytesIO(data)) as kept:
        assert (kept.format, kept.mode, kept.size) == ("JPEG", "L", (768, 691))
        assert np.asarray(kept).min() <= 2 and np.asarray(kept).max() >= 253  # 16 bits stretched onto 0-255
    assert rows_of(out / "manifest.csv")[0]["sha256"] == hashlib.sha256(data).hexdigest()

    again = tmp_path / "again"  # the re-encoding is deterministic: a manifest with that hash verifies the file
    code, printed, _ = fetch(again, [{**row, "sha256": hashlib.sha256(data).hexdigest()}], capsys)
    assert code == 0 and f"{row['file']}: re-encoded" in printed and (again / row["file"]).read_bytes() == data


def test_a_file_name_leaving_the_output_folder_is_refused(origins, tmp_path, capsys):
    code, _, errors = fetch(tmp_path / "training", [{**origins[0], "file": "../escaped.jpg"}], capsys)
    assert code == 2 and "../escaped.jpg: the file name points outside the output folder" in errors
    assert not (tmp_path / "escaped.jpg").exists()


def test_github_origins_become_raw_urls_at_their_commit():
    origin = "muhammedtalo/COVID-19@ee3e2cffc0824711bed675275506b26f19be7198:X-Ray Image DataSet/No_findings/00001280_004.png"
    assert origin_url(origin) == ("https://raw.githubusercontent.com/muhammedtalo/COVID-19/ee3e2cffc0824711bed675275506b26f19be7198/"
                                  "X-Ray%20Image%20DataSet/No_findings/00001280_004.png")


def test_a_missing_manifest_gets_a_message_not_a_traceback(tmp_path, capsys):
    assert main([str(tmp_path / "out"), "--manifest", str(tmp_path / "nowhere.csv")]) == 2
    assert "no manifest at" in capsys.readouterr().err


def test_without_shared_the_shipped_manifest_is_the_default_and_names_every_training_film(multisource_dir):
    assert parse_args(["out"]).manifest == SHIPPED_MANIFEST
    shipped = read_rows(SHIPPED_MANIFEST)
    assert len(shipped) == 1566
    assert shipped == rows_of(multisource_dir / "manifest.csv")
    assert all(row["origin"] and len(row["sha256"]) == 64 for row in shipped)
