"""The model folder's contract: a card missing a key, with other classes or beside a changed file is refused; save
and load give back the same card; and the shipped card tells the truth (its figures recompute from its files)."""
import json
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pytest
from scipy.special import log_softmax

from core.classes import CLASS_NAMES, LABEL_NAMES
from core.data.manifest import read_manifest
from core.evaluation import by_source
from core.evaluation.metrics import classification_summary, expected_calibration_error
from core.model.abstention import choose_threshold
from core.model.bundle import load_bundle, save_bundle
from core.model.calibration import apply_temperature, fit_temperature
from core.model.card import (
    CARD_FILE,
    HISTORY_FILE,
    MODEL_FILE,
    OOD_FILE,
    PREDICTIONS_FILE,
    ModelCard,
    ModelLoadError,
    list_model_dirs,
    read_card,
    read_predictions,
)
from core.model.ood import OodDetector
from core.paths import DEFAULT_MODEL_DIR
from core.serving.classifier import Classifier


@pytest.fixture(scope="module")
def card() -> ModelCard:
    return read_card(DEFAULT_MODEL_DIR)


@pytest.fixture(scope="module")
def rows(card) -> list[dict]:
    return read_predictions(DEFAULT_MODEL_DIR, card)


def linked_copy(tmp_path: Path) -> Path:
    """models/default as links, so that a test can replace one file."""
    copy = tmp_path / "default"
    copy.mkdir()
    for name in (MODEL_FILE, CARD_FILE, OOD_FILE, PREDICTIONS_FILE, HISTORY_FILE):
        (copy / name).symlink_to(DEFAULT_MODEL_DIR / name)
    return copy


def with_card(tmp_path: Path, change) -> Path:
    """A copy of models/default whose card JSON is `change(card)`."""
    copy = linked_copy(tmp_path)
    data = change(json.loads((DEFAULT_MODEL_DIR / CARD_FILE).read_text()))
    (copy / CARD_FILE).unlink()
    (copy / CARD_FILE).write_text(json.dumps(data))
    return copy


@pytest.mark.parametrize("directory", list_model_dirs(), ids=lambda d: d.name)
def test_every_shipped_model_folder_loads_with_its_checked_card(directory):
    bundle = load_bundle(directory)
    assert bundle.card.name == directory.name and [c.name for c in bundle.card.classes] == list(CLASS_NAMES)
    assert bundle.model.output_shape == (None, len(CLASS_NAMES))
    assert bundle.ood.threshold == bundle.card.ood.threshold and bundle.card.calibration.temperature > 1.0


def test_a_card_without_calibration_is_refused_by_name_instead_of_serving_raw_probabilities(tmp_path):
    copy = with_card(tmp_path, lambda card: {k: v for k, v in card.items() if k != "calibration"})
    with pytest.raises(ModelLoadError, match=rf"{CARD_FILE}: the model card has no 'calibration'"):
        Classifier.from_dir(copy)


def test_a_card_whose_classes_differ_from_the_registry_is_refused(tmp_path):
    copy = with_card(tmp_path, lambda card: {**card, "classes": card["classes"][::-1]})
    with pytest.raises(ModelLoadError, match="classes .* differ from the registry's"):
        load_bundle(copy)


@pytest.mark.parametrize("change, message", [
    (lambda card: {**card, "card_version": 0}, "card version 0, but this code reads version 2"),
    (lambda card: {**card, "parameters": 1}, "unknown key"),
    (lambda card: {**card, "calibration": {**card["calibration"], "temperature": "2"}}, "'temperature' is '2', of the wrong type"),
    (lambda card: {**card, "ood": {"threshold": 0.2}}, "malformed"),
], ids=["version", "unknown key", "wrong type", "malformed section"])
def test_a_card_of_another_version_or_shape_is_refused_with_a_clear_message(tmp_path, change, message):
    with pytest.raises(ModelLoadError, match=message):
        read_card(with_card(tmp_path, change))


@pytest.mark.parametrize("name", [OOD_FILE, PREDICTIONS_FILE, HISTORY_FILE])
def test_a_file_changed_by_one_byte_is_refused(tmp_path, name):
    copy = linked_copy(tmp_path)
    data = bytearray((DEFAULT_MODEL_DIR / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / name).unlink()
    (copy / name).write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=rf"{name}: SHA-256 .* differs from the model card"):
        load_bundle(copy)


def test_save_then_load_gives_back_the_same_card_model_and_files(card, tmp_path):
    inputs = keras.Input((card.input_size, card.input_size, 3))
    model = keras.Model(inputs, keras.layers.Dense(len(CLASS_NAMES), activation="softmax")(keras.layers.GlobalAveragePooling2D()(inputs)))
    detector = OodDetector.fit(np.random.default_rng(0).normal(size=(20, 8)))
    detector.threshold = 0.25
    predictions, history = [{"path": "a.png", "true": "normal"}], {"folds": [], "final": {"loss": [1.0]}}
    unsaved = replace(card, name="copy", model_sha256="", predictions_sha256="", history_sha256="", ood=replace(card.ood, sha256=""))
    saved = save_bundle(tmp_path / "copy", model, unsaved, detector, predictions, history)
    loaded = load_bundle(tmp_path / "copy")
    assert loaded.card == saved and saved == replace(unsaved, model_sha256=saved.model_sha256, predictions_sha256=saved.predictions_sha256,
                                                     history_sha256=saved.history_sha256, ood=saved.ood)
    assert len({saved.model_sha256, saved.predictions_sha256, saved.history_sha256, saved.ood.sha256}) == 4
    assert loaded.predictions() == predictions and loaded.history() == history
    assert loaded.ood.threshold == 0.25 and np.allclose(loaded.ood.reference, detector.reference, atol=1e-3)
    assert loaded.model.count_params() == model.count_params()


def _probabilities(rows: list[dict], key: str = "probabilities") -> np.ndarray:
    return np.array([[r[key][name] for name in CLASS_NAMES] for r in rows])


@pytest.fixture(scope="module")
def stored(rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, out-of-fold probabilities and folds of the images with a class label (not the coarse one)."""
    exact = [r for r in rows if r["true"] in CLASS_NAMES]
    labels = np.array([CLASS_NAMES.index(r["true"]) for r in exact])
    return labels, _probabilities(exact), np.array([r["fold"] for r in exact])


def _close(stored, recomputed) -> bool:
    """Equal, up to float rounding, through nested dicts and lists."""
    if isinstance(stored, dict):
        return stored.keys() == recomputed.keys() and all(_close(stored[k], recomputed[k]) for k in stored)
    if isinstance(stored, list):
        return len(stored) == len(recomputed) and all(map(_close, stored, recomputed))
    if isinstance(stored, float) and recomputed is not None:
        return stored == pytest.approx(recomputed)
    return stored == recomputed


def _nll(labels: np.ndarray, probabilities: np.ndarray) -> float:
    return float(-np.log(np.clip(probabilities[np.arange(len(labels)), labels], 1e-12, 1)).mean())


def test_card_figures_recompute_from_the_stored_out_of_fold_predictions(card, stored):
    labels, probabilities, folds = stored
    cv = card.cross_validation
    per_fold = [classification_summary(labels[folds == k], probabilities[folds == k]) for k in sorted(set(folds))]
    assert cv["accuracy"]["mean"] == pytest.approx(np.mean([f["accuracy"] for f in per_fold]))
    assert cv["macro_f1"]["std"] == pytest.approx(np.std([f["macro_f1"] for f in per_fold]))
    assert cv["pooled"]["confusion_matrix"] == classification_summary(labels, probabilities)["confusion_matrix"]
    assert card.calibration.ece_before == pytest.approx(expected_calibration_error(labels, probabilities))
    calibrated = apply_temperature(probabilities, card.calibration.temperature)
    assert card.calibration.ece_after == pytest.approx(expected_calibration_error(labels, calibrated))
    assert card.abstention == pytest.approx(choose_threshold(labels, calibrated, card.abstention["target_accuracy"]))
    counts = {k: v for k, v in card.training_data["counts"].items() if k in CLASS_NAMES}
    assert counts == dict(zip(CLASS_NAMES, np.bincount(labels).tolist()))


def test_per_source_and_left_out_figures_recompute_from_the_stored_predictions(card, rows):
    labels = np.array([LABEL_NAMES.index(r["true"]) for r in rows])
    sources, ages = np.array([r["source"] for r in rows]), np.array([r["age_group"] for r in rows])
    temperature, validation = card.calibration.temperature, card.validation
    left_out = apply_temperature(_probabilities(rows, "left_out_probabilities"), temperature)
    rejected = np.array([r["left_out_not_a_chest_xray"] for r in rows])
    assert _close(validation["leave_one_source_out"]["per_source"], by_source.per_source(labels, left_out, sources, rejected))
    assert _close(validation["leave_one_source_out"]["headline"], by_source.headline(labels, left_out, ages))
    grouped = apply_temperature(_probabilities(rows), temperature)
    assert _close(validation["grouped_cv"]["headline"], by_source.headline(labels, grouped, ages))
    assert _close(validation["aims"], by_source.check_aims(validation["leave_one_source_out"], validation["grouped_cv"]))


def test_the_card_lists_every_training_file_with_its_sha256(card, multisource_dir):
    listed = {f["file"]: f["sha256"] for f in card.training_files}
    assert listed == {s.relative_path: s.sha256 for s in read_manifest(multisource_dir)}
    assert card.training_data["source"].endswith("chest_xray_multisource")


def test_temperature_scaling_lowers_the_log_loss_of_the_stored_predictions(card, stored):
    labels, probabilities, _ = stored
    temperature = fit_temperature(labels, probabilities)
    assert temperature == pytest.approx(card.calibration.temperature, rel=1e-3)
    assert _nll(labels, apply_temperature(probabilities, temperature)) <= _nll(labels, probabilities)
    assert card.calibration.ece_after <= 0.05


def test_temperature_scaling_repairs_an_overconfident_model():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 2000)
    logits = rng.normal(0, 1, (2000, 4))
    logits[np.arange(2000), labels] += 1.5  # informative, then made 4x too sharp
    overconfident = np.exp(log_softmax(4 * logits, axis=1))
    fixed = apply_temperature(overconfident, fit_temperature(labels, overconfident))
    assert expected_calibration_error(labels, fixed) < expected_calibration_error(labels, overconfident) / 3


def test_the_threshold_meets_its_target_on_the_cases_it_accepts(card, stored):
    labels, probabilities, _ = stored
    calibrated = apply_temperature(probabilities, card.calibration.temperature)
    accepted = calibrated.max(axis=1) >= card.threshold
    assert (calibrated.argmax(axis=1)[accepted] == labels[accepted]).mean() >= card.abstention["target_accuracy"]
    assert accepted.mean() == pytest.approx(card.abstention["coverage"])
    assert 0 <= card.ood.cv_false_rejection_rate <= 0.05


def test_the_card_reports_the_shortcut_checks_and_text_alone_rarely_makes_covid19(card):
    checks = card.shortcut_check
    assert set(checks["central_mass_by_class"]) == set(CLASS_NAMES)
    label_test = checks["burned_in_label_test"]
    counts = card.training_data["counts"]
    assert label_test["images"] == sum(counts[name] for name in CLASS_NAMES) - counts["covid19"]
    assert label_test["turned_covid19"] <= 0.02 * label_test["images"]


def test_a_target_no_threshold_reaches_is_reported_as_missed():
    rng = np.random.default_rng(1)
    labels, guesses = rng.integers(0, 4, 400), rng.dirichlet(np.ones(4), 400)  # chance-level answers
    point = choose_threshold(labels, guesses, target_accuracy=0.97)
    assert point["threshold"] == 0.99 and point["target_met"] is False
    assert point["coverage"] == 0 or point["accuracy"] < 0.97
