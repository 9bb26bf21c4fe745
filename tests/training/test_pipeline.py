"""A tiny training run writes every file, and the result loads and classifies."""
import os
import shlex
import subprocess
import sys

import pytest

from core.cli import train
from core.hashing import sha256_of
from core.imaging.decode import read_image_file
from core.model.bundle import load_bundle
from core.model.card import CARD_FILE, HISTORY_FILE, MODEL_FILE, OOD_FILE, PREDICTIONS_FILE, read_card
from core.paths import REPO_ROOT as REPO
from core.serving.classifier import Classifier
from core.training import recipe
from tests.support.files import linked_dataset


@pytest.mark.training
@pytest.mark.parametrize("backbone, size", [("small_cnn", 32), ("mobilenet_v2", 64)])
def test_tiny_training_run_writes_every_file(xray_paths, tmp_path, backbone, size):
    data, out = linked_dataset(tmp_path / "data", xray_paths), tmp_path / "model"
    args = [str(data), "--out", str(out), "--backbone", backbone, "--epochs", "1", "--img-size", str(size), "--folds", "2"]
    assert train.main(args) == 0
    for name in (MODEL_FILE, CARD_FILE, HISTORY_FILE, PREDICTIONS_FILE, OOD_FILE):
        assert (out / name).is_file(), name
    bundle = load_bundle(out)
    card = bundle.card
    assert card.model_sha256 == sha256_of(out / MODEL_FILE) and card.history_sha256 == sha256_of(out / HISTORY_FILE)
    assert card.backbone == backbone and card.input_size == size and card.training_data.n == 12
    assert card.validation.grouped_by == "patient" and card.loso_accuracy is None and card.validation.aims is None
    assert card.recipe.restyled_copies == (0 if backbone == "small_cnn" else 2) and card.cross_validation.folds == 2
    assert train.parse_args(shlex.split(card.training_command)[3:]).out == str(out)
    assert len(bundle.history()["folds"]) == 2
    assert len(bundle.predictions()) == 12
    analysis = Classifier.from_dir(out).analyse(read_image_file(xray_paths["normal"][0]).pixels)
    assert analysis.probabilities.sum() == pytest.approx(1.0, abs=1e-5)


def test_training_refuses_a_folder_without_images(tmp_path, capsys):
    (tmp_path / "normal").mkdir()
    assert train.main([str(tmp_path), "--out", str(tmp_path / "m")]) == 2
    assert "no images found" in capsys.readouterr().err


def test_resnet50_without_its_weights_offline_stops_with_where_to_put_them(xray_paths, tmp_path):
    cache, closed = tmp_path / "keras_home", "http://127.0.0.1:9"  # an empty Keras cache; downloads go nowhere
    offline = {**os.environ, "KERAS_HOME": str(cache), "HTTPS_PROXY": closed, "https_proxy": closed, "NO_PROXY": "", "no_proxy": ""}
    data, out = linked_dataset(tmp_path / "data", xray_paths), tmp_path / "m"
    run = subprocess.run([sys.executable, "-m", "core.cli.train", str(data), "--out", str(out), "--backbone", "resnet50",
                          "--epochs", "1", "--img-size", "32", "--folds", "2"], cwd=REPO, env=offline, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert f"Put resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5 in {cache / 'models'}" in run.stderr
    assert not out.exists()


@pytest.mark.training
def test_a_multi_source_run_reports_every_source_left_out(small_multisource_dir, tmp_path):
    data, out = small_multisource_dir, tmp_path / "model"
    args = [str(data), "--out", str(out), "--epochs", "1", "--img-size", "64", "--folds", "2", "--restyled-copies", "1"]
    assert train.main(args) == 0
    card = read_card(out)
    validation = card.validation
    sources = {"kermany", "ieee8023", "nih", "hannover", "figure1"}
    assert set(validation.leave_one_source_out.per_source) == sources == set(validation.grouped_cv.per_source)
    left_out_nih = validation.leave_one_source_out.per_source["nih"]
    assert set(left_out_nih.recall) == {"normal", "pneumonia_unspecified"} and 0 <= left_out_nih.not_a_chest_xray <= 1
    assert {a.figure for a in validation.aims} >= {"adult_non_covid19_called_covid19", "covid19_auroc", "ece"}
    assert len(card.training_files) == card.training_data.n
    rows = load_bundle(out).predictions()
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
    losses = np.asarray(recipe.set_cross_entropy(allowed, probabilities))
    assert losses == pytest.approx([-np.log(0.8), -np.log(0.3)], rel=1e-5)
