"""Rebuild the multi-source training folder (a folder per label plus manifest.csv) from its manifest's public origins.

    python -m scripts.fetch_training_data OUT_DIR [--manifest PATH] [--keep-mismatched]

Each manifest row names where its image came from: `owner/repo@commit:path` (a file of a public GitHub repository at
a fixed commit) or a URL. The data set re-encoded most images (its README: longest side at most 768 px by LANCZOS,
16-bit mapped to 8 bits by min-max, saved as JPEG quality 90), so a download whose SHA-256 differs from the manifest's
is re-encoded that way and checked again. A file whose hash still differs is reported and not kept, unless
--keep-mismatched is given (then the manifest written records the hash of the file kept). Files already in OUT_DIR
with the right hash are skipped, so an interrupted run resumes where it stopped. Needs internet access, not ../shared:
the manifest defaults to the copy shipped in assets/training_data/.
"""
import argparse
import csv
import hashlib
import io
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from core.paths import SHIPPED_MANIFEST

MANIFEST_FILE = "manifest.csv"
RAW_GITHUB = "https://raw.githubusercontent.com"
MAX_SIDE, JPEG_QUALITY = 768, 90  # the data set's re-encoding (its README, "Image format")
TIMEOUT_S = 60


class FetchError(Exception):
    """One file could not be fetched; the message says which and why."""


@dataclass(frozen=True)
class Fetched:
    row: dict[str, str]  # the manifest row, its sha256 that of the file now in OUT_DIR
    how: str  # "already present", "downloaded", "re-encoded" or "kept with a different SHA-256"


def origin_url(origin: str) -> str:
    """The URL of a manifest origin: `owner/repo@commit:path` on GitHub, or a URL as it is."""
    if "://" in origin:
        return origin
    repository, _, rest = origin.partition("@")
    commit, _, path = rest.partition(":")
    if repository.count("/") != 1 or not commit or not path:
        raise FetchError(f"origin {origin!r} is neither a URL nor owner/repo@commit:path")
    return f"{RAW_GITHUB}/{repository}/{commit}/{urllib.parse.quote(path)}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            return response.read()
    except (urllib.error.URLError, OSError) as err:
        raise FetchError(f"could not download {url} ({getattr(err, 'reason', err)})") from None


def reencode(data: bytes, suffix: str) -> bytes:
    """The data set's recipe: 16-bit min-max to 8 bits, longest side at most MAX_SIDE (LANCZOS), JPEG quality 90 (PNG
    for a .png name), greyscale kept greyscale."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
    if image.mode.startswith("I"):
        values = np.asarray(image, dtype=np.float64)
        span = values.max() - values.min()
        image = Image.fromarray(np.round((values - values.min()) / (span or 1) * 255).astype(np.uint8))
    if max(image.size) > MAX_SIDE:
        scale = MAX_SIDE / max(image.size)
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    if suffix.lower() == ".png":
        image.save(buffer, "PNG")
    else:
        image.convert("L" if image.mode in ("1", "L", "LA") else "RGB").save(buffer, "JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def fetch(row: dict[str, str], out: Path, keep_mismatched: bool) -> Fetched:
    """Put one manifest row's image at OUT_DIR/file, verified against its SHA-256 when the manifest gives one."""
    target, expected = out / row["file"], row.get("sha256", "")
    if not target.resolve().is_relative_to(out.resolve()):
        raise FetchError("the file name points outside the output folder")
    if target.is_file() and (not expected or sha256(target.read_bytes()) == expected):
        return Fetched(row, "already present")
    data, how = download(origin_url(row["origin"])), "downloaded"
    if expected and sha256(data) != expected:
        try:
            data, how = reencode(data, target.suffix), "re-encoded"
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            raise FetchError(f"SHA-256 differs from the manifest and the download is not an image ({err})") from None
        if sha256(data) != expected:
            if not keep_mismatched:
                raise FetchError(f"SHA-256 differs from the manifest, as downloaded and re-encoded ({sha256(data)[:12]}…, "
                                 f"expected {expected[:12]}…): not kept")
            how = "kept with a different SHA-256"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    partial.write_bytes(data)
    partial.replace(target)  # never a half-written image under the real name
    return Fetched({**row, "sha256": sha256(data)} if expected else row, how)


def read_rows(manifest: Path) -> list[dict[str, str]]:
    with open(manifest, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"file", "label", "origin"} <= set(rows[0]):
        raise FetchError(f"{manifest}: needs rows with at least the columns file, label and origin")
    return rows


def write_rows(path: Path, rows: list[dict[str, str]]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m scripts.fetch_training_data", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the folder to fill: a folder per label plus manifest.csv")
    parser.add_argument("--manifest", type=Path, default=SHIPPED_MANIFEST,
                        help="the data set's manifest.csv (default: the copy shipped in assets/training_data/)")
    parser.add_argument("--keep-mismatched", action="store_true",
                        help="keep a file whose SHA-256 differs from the manifest's even after re-encoding")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not args.manifest.is_file():
        print(f"error: no manifest at {args.manifest}: pass --manifest PATH (the data set's manifest.csv)", file=sys.stderr)
        return 2
    try:
        rows = read_rows(args.manifest)
    except FetchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    kept, failed, counts = [], [], {}
    for i, row in enumerate(rows, 1):
        try:
            result = fetch(row, args.out, args.keep_mismatched)
        except FetchError as err:
            failed.append(row["file"])
            print(f"[{i}/{len(rows)}] {row['file']}: {err}", file=sys.stderr, flush=True)
            continue
        kept.append(result.row)
        counts[result.how] = counts.get(result.how, 0) + 1
        print(f"[{i}/{len(rows)}] {row['file']}: {result.how}", flush=True)
    if kept:
        write_rows(args.out / MANIFEST_FILE, kept)
    summary = ", ".join(f"{n} {how}" for how, n in counts.items()) or "nothing fetched"
    print(f"{args.out}: {len(kept)} of {len(rows)} images ({summary}); {len(failed)} failed"
          + (", listed above (the manifest written leaves them out)" if failed else ""))
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
