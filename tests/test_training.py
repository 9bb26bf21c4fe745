"""A tiny training run writes every file, and the result loads and classifies."""
import json
from pathlib import Path

import pytest

from core.cli import train
from core.hashing import sha256_of
from core.imaging.decode import read_image_file
from core.model import training
from core.model.bundle import CARD_FILE, HISTORY_FILE, MODEL_FILE, PREDICTIONS_FILE
from core.model.ood import OOD_FILE
from core.serving.classifier import Classifier


def _tiny_dataset(root: Path, xray_paths: dict[str, list[Path]]) -> Path:
    for folder, paths in xray_paths.items():
        (root / folder).mkdir(parents=True)
        for path in paths:
            (root / folder / path.name).symlink_to(path)
    return root


@pytest.mark.parametrize("backbone, size", [("small_cnn", 32), ("mobilenet_v2", 64)])
def test_tiny_training_run_writes_every_file(xray_paths, tmp_path, backbone, size):
    data, out = _tiny_dataset(tmp_path / "data", xray_paths), tmp_path / "model"
    args = [str(data), "--out", str(out), "--backbone", backbone, "--epochs", "1", "--img-size", str(size), "--folds", "2"]
    assert train.main(args) == 0
    for name in (MODEL_FILE, CARD_FILE, HISTORY_FILE, PREDICTIONS_FILE, OOD_FILE):
        assert (out / name).is_file(), name
    card = json.loads((out / CARD_FILE).read_text())
    assert card["model_sha256"] == sha256_of(out / MODEL_FILE)
    assert card["backbone"] == backbone and card["input_size"] == size and card["training_data"]["n"] == 12
    assert card["validation"]["grouped_by"] == "patient" and "leave_one_source_out" not in card["validation"]
    assert len(json.loads((out / HISTORY_FILE).read_text())["folds"]) == 2
    assert len(json.loads((out / PREDICTIONS_FILE).read_text())) == 12
    analysis = Classifier.from_dir(out).analyse(read_image_file(xray_paths["normal"][0]).pixels)
    assert analysis.probabilities.sum() == pytest.approx(1.0, abs=1e-5)


def test_training_refuses_a_folder_without_images(tmp_path, capsys):
    (tmp_path / "normal").mkdir()
    assert train.main([str(tmp_path), "--out", str(tmp_path / "m")]) == 2
    assert "no images found" in capsys.readouterr().err


def test_resnet50_without_reachable_weights_fails_with_a_clear_message_or_trains(xray_paths, tmp_path, capsys):
    data = _tiny_dataset(tmp_path / "data", xray_paths)
    args = [str(data), "--out", str(tmp_path / "m"), "--backbone", "resnet50", "--epochs", "1", "--img-size", "32", "--folds", "2"]
    code = train.main(args)
    if code == 2:  # offline, with no ResNet50 file in the Keras cache
        assert "ImageNet weights for resnet50" in capsys.readouterr().err
    else:
        assert code == 0 and (tmp_path / "m" / MODEL_FILE).is_file()


def test_a_multi_source_run_reports_every_source_left_out(small_multisource_dir, tmp_path):
    data, out = small_multisource_dir, tmp_path / "model"
    args = [str(data), "--out", str(out), "--epochs", "1", "--img-size", "64", "--folds", "2", "--restyled-copies", "1"]
    assert train.main(args) == 0
    card = json.loads((out / CARD_FILE).read_text())
    validation = card["validation"]
    sources = {"kermany", "ieee8023", "nih", "hannover", "figure1"}
    assert set(validation["leave_one_source_out"]["per_source"]) == sources == set(validation["grouped_cv"]["per_source"])
    left_out_nih = validation["leave_one_source_out"]["per_source"]["nih"]
    assert set(left_out_nih["recall"]) == {"normal", "pneumonia_unspecified"} and 0 <= left_out_nih["not_a_chest_xray"] <= 1
    assert {a["figure"] for a in validation["aims"]} >= {"adult_non_covid19_called_covid19", "covid19_auroc", "ece"}
    assert len(card["training_files"]) == card["training_data"]["n"]
    rows = json.loads((out / PREDICTIONS_FILE).read_text())
    assert {r["source"] for r in rows} == sources and all("left_out_probabilities" in r for r in rows)
    by_patient = {}
    for r in rows:
        by_patient.setdefault(r["patient"], set()).add(r["fold"])
    assert all(len(folds) == 1 for folds in by_patient.values())  # no patient on both sides


def test_the_coarse_label_loss_rewards_either_pneumonia():
    import numpy as np

    from core.classes import LABEL_NAMES, target_sets
    probabilities = np.array([[0.1, 0.1, 0.5, 0.3], [0.1, 0.1, 0.5, 0.3]], dtype="float32")
    allowed = target_sets(np.array([LABEL_NAMES.index("pneumonia_unspecified"), LABEL_NAMES.index("viral_pneumonia")]))
    losses = np.asarray(training.set_cross_entropy(allowed, probabilities))
    assert losses == pytest.approx([-np.log(0.8), -np.log(0.3)], rel=1e-5)
