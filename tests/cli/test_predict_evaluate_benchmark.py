"""The command-line contracts: predict, evaluate and benchmark."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from core.classes import CLASS_NAMES, display_name
from core.cli import benchmark, evaluate, predict
from core.data.labelled import read_labelled_folder
from core.hashing import sha256_of
from core.paths import REPO_ROOT as REPO
from tests.support.files import linked_dataset


def small_dataset(root: Path, xray_paths: dict[str, list[Path]]) -> Path:
    """Two shared X-rays per class, linked into a folder-per-class data set."""
    return linked_dataset(root, {label: paths[:2] for label, paths in xray_paths.items()})


def test_predict_prints_one_json_object_per_file_and_writes_the_overlay(xray_paths, tmp_path, capsys):
    files = [str(xray_paths["covid19"][0]), str(xray_paths["normal"][0])]
    assert predict.main(files + ["--cam", str(tmp_path)]) == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["file"] for r in results] == files
    for r in results:
        assert set(r) >= {"label", "display_label", "probabilities", "status"}
        assert r["display_label"] == display_name(r["label"]) and list(r["probabilities"]) == list(CLASS_NAMES)
        assert sum(r["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert r["status"] in ("ok", "inconclusive") and Path(r["cam"]).is_file()


def test_predict_reports_bad_files_exits_2_and_still_classifies_the_rest(xray_paths, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("this is not an image")
    run = subprocess.run([sys.executable, "-m", "core.cli.predict", str(bad), str(xray_paths["normal"][0]), str(tmp_path / "missing.jpg")],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    results = [json.loads(line) for line in run.stdout.splitlines()]
    assert "notes.png" in results[0]["error"] and "not an image" in results[0]["error"]
    assert results[1]["label"] in CLASS_NAMES
    assert "missing.jpg" in results[2]["error"]


def test_predict_other_saliency_methods_write_overlays(xray_paths, tmp_path, capsys):
    assert predict.main([str(xray_paths["viral_pneumonia"][0]), "--cam", str(tmp_path), "--method", "gradcam++"]) == 0
    assert Path(json.loads(capsys.readouterr().out)["cam"]).name.endswith("_gradcam++.png")


def test_evaluate_matches_sklearn_on_the_same_predictions(classifier, xray_paths, tmp_path, capsys):
    data = small_dataset(tmp_path / "data", xray_paths)
    assert evaluate.main([str(data)]) == 0
    summary = json.loads(capsys.readouterr().out)
    images = list(read_labelled_folder(str(data)))
    truth = [im.label for im in images]
    predicted = [a.top for a in classifier.classify_batch([im.pixels for im in images])]
    assert summary["n"] == len(images) == 8
    assert summary["accuracy"] == pytest.approx(accuracy_score(truth, predicted))
    assert summary["macro_f1"] == pytest.approx(f1_score(truth, predicted, average="macro", labels=range(4), zero_division=0))
    assert summary["confusion_matrix"] == confusion_matrix(truth, predicted, labels=range(4)).tolist()
    assert set(summary["per_class"]) == set(CLASS_NAMES) and {"ece", "abstained", "not_a_chest_xray"} <= set(summary)


def test_evaluate_gives_wilson_intervals_and_counts_the_models_training_files(classifier, xray_paths, tmp_path, capsys):
    data = small_dataset(tmp_path / "data", xray_paths)
    assert evaluate.main([str(data)]) == 0
    summary = json.loads(capsys.readouterr().out)
    correct = round(summary["accuracy"] * summary["n"])
    interval = binomtest(correct, summary["n"]).proportion_ci(method="wilson")
    assert summary["accuracy_ci"] == pytest.approx([interval.low, interval.high])
    for figures in summary["per_class"].values():
        low, high = figures["recall_ci"]
        assert low <= figures["recall"] <= high
    trained = {entry.sha256 for entry in classifier.card.training_files}
    assert summary["in_training_set"] == sum(sha256_of(path) in trained for path in data.rglob("*.*"))


@pytest.mark.parametrize("layout, message", [
    ({}, "no such folder"),
    ({"normal": []}, "no images found"),
    ({"normal": [], "tuberculosis": []}, "unknown class folder"),
])
def test_evaluate_refuses_unusable_folders_with_a_message(tmp_path, capsys, layout, message):
    root = tmp_path / "data"
    for folder in layout:
        (root / folder).mkdir(parents=True)
    assert evaluate.main([str(root)]) == 2
    assert message in capsys.readouterr().err


def test_benchmark_json_has_the_documented_figures(capsys):
    assert benchmark.main(["--json", "--repeats", "5"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert {"p50_ms", "p95_ms", "naive_p50_ms", "batch_images_per_s", "load_s"} <= set(figures)
    assert 0 < figures["p50_ms"] <= figures["p95_ms"] and figures["batch_images_per_s"] > 0
    assert np.isfinite(figures["load_s"])
