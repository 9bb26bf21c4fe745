"""The model folder's contract: a card missing a key, with other classes or beside a changed file is refused; save
and load give back the same card; and the shipped card tells the truth (its figures recompute from its files)."""
import json
import re
import shlex
from dataclasses import FrozenInstanceError, replace
from pathlib import Path

import keras
import numpy as np
import pytest
from scipy.special import log_softmax

from core.classes import CLASS_NAMES, LABEL_NAMES
from core.cli import train as train_cli
from core.data.manifest import read_manifest
from core.evaluation import by_source
from core.evaluation.metrics import classification_summary, expected_calibration_error
from core.model.abstention import choose_threshold
from core.model.backbones import HEAD_NAME
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
    as_json,
    list_model_dirs,
    read_card,
    read_predictions,
)
from core.model.ood import OodDetector
from core.paths import DEFAULT_MODEL_DIR
from core.serving.classifier import Classifier
from scripts.upgrade_cards import upgrade_card


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
    (lambda card: {**card, "card_version": 0}, "card version 0, but this code reads version 3"),
    (lambda card: {**card, "parameters": 1}, "the model card has unknown key"),
    (lambda card: {**card, "calibration": {**card["calibration"], "temperature": "2"}},
     "the model card's 'calibration.temperature' is '2', of the wrong type"),
    (lambda card: {**card, "ood": {"threshold": 0.2}}, "the model card's 'ood' has no 'cv_false_rejection_rate'"),
    (lambda card: {**card, "training_files": [{"file": "covid19/a.png"}]}, r"the model card's 'training_files\[0\]' has no 'sha256'"),
    (lambda card: {**card, "cross_validation": {**card["cross_validation"], "pooled": {**card["cross_validation"]["pooled"], "n": "many"}}},
     "the model card's 'cross_validation.pooled.n' is 'many', of the wrong type"),
    (lambda card: {**card, "questions": {**card["questions"], "covid19": {**card["questions"]["covid19"], "left_out": 3}}},
     "the model card's 'questions.covid19.left_out' is '3', not a list"),
], ids=["version", "unknown key", "wrong type", "missing key in a section", "training file", "deep wrong type", "not a list"])
def test_a_card_of_another_version_or_shape_is_refused_naming_the_file_and_the_key(tmp_path, change, message):
    with pytest.raises(ModelLoadError, match=rf"{CARD_FILE}: {message}"):
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
    head = keras.layers.Dense(len(CLASS_NAMES), activation="softmax", name=HEAD_NAME)
    model = keras.Model(inputs, head(keras.layers.GlobalAveragePooling2D()(inputs)))
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
    assert cv.accuracy.mean == pytest.approx(np.mean([f["accuracy"] for f in per_fold]))
    assert cv.macro_f1.std == pytest.approx(np.std([f["macro_f1"] for f in per_fold]))
    assert as_json(cv.pooled.confusion_matrix) == classification_summary(labels, probabilities)["confusion_matrix"]
    assert card.calibration.ece_before == pytest.approx(expected_calibration_error(labels, probabilities))
    calibrated = apply_temperature(probabilities, card.calibration.temperature)
    assert card.calibration.ece_after == pytest.approx(expected_calibration_error(labels, calibrated))
    assert as_json(card.abstention) == pytest.approx(choose_threshold(labels, calibrated, card.abstention.target_accuracy))
    counts = {k: v for k, v in card.training_data.counts.items() if k in CLASS_NAMES}
    assert counts == dict(zip(CLASS_NAMES, np.bincount(labels).tolist(), strict=True))


def test_per_source_and_left_out_figures_recompute_from_the_stored_predictions(card, rows):
    labels = np.array([LABEL_NAMES.index(r["true"]) for r in rows])
    sources, ages = np.array([r["source"] for r in rows]), np.array([r["age_group"] for r in rows])
    temperature, validation = card.calibration.temperature, card.validation
    left_out = apply_temperature(_probabilities(rows, "left_out_probabilities"), temperature)
    rejected = np.array([r["left_out_not_a_chest_xray"] for r in rows])
    left_out_run, grouped_run = as_json(validation.leave_one_source_out), as_json(validation.grouped_cv)
    assert _close(left_out_run["per_source"], by_source.per_source(labels, left_out, sources, rejected))
    assert _close(left_out_run["headline"], by_source.headline(labels, left_out, ages))
    grouped = apply_temperature(_probabilities(rows), temperature)
    assert _close(grouped_run["headline"], by_source.headline(labels, grouped, ages))
    assert _close(as_json(validation.aims), by_source.check_aims(left_out_run, grouped_run))


def test_the_card_lists_every_training_file_with_its_sha256(card, multisource_dir):
    listed = {f.file: f.sha256 for f in card.training_files}
    assert listed == {s.relative_path: s.sha256 for s in read_manifest(multisource_dir)}
    assert card.training_data.source.endswith("chest_xray_multisource")


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
    assert (calibrated.argmax(axis=1)[accepted] == labels[accepted]).mean() >= card.abstention.target_accuracy
    assert accepted.mean() == pytest.approx(card.abstention.coverage)
    assert 0 <= card.ood.cv_false_rejection_rate <= 0.05


def test_the_card_reports_the_shortcut_checks_and_text_alone_rarely_makes_covid19(card):
    checks = card.shortcut_check
    assert set(checks.central_mass_by_class) == set(CLASS_NAMES)
    label_test = checks.burned_in_label_test
    counts = card.training_data.counts
    assert label_test.images == sum(counts[name] for name in CLASS_NAMES) - counts["covid19"]
    assert label_test.turned_covid19 <= 0.02 * label_test.images


def test_a_target_no_threshold_reaches_is_reported_as_missed():
    rng = np.random.default_rng(1)
    labels, guesses = rng.integers(0, 4, 400), rng.dirichlet(np.ones(4), 400)  # chance-level answers
    sure = np.tile([0.994, 0.002, 0.002, 0.002], (10, 1))  # ten sure answers of the first class, five of them wrong
    labels, guesses = np.append(labels, [0] * 5 + [1] * 5), np.vstack([guesses, sure])
    point = choose_threshold(labels, guesses, target_accuracy=0.97)
    assert point["threshold"] == 0.99 and point["target_met"] is False
    assert point["coverage"] == pytest.approx(10 / 410)  # only the sure answers reach 0.99
    assert point["accuracy"] == 0.5  # reported as it is, below the target


def _as_version_1(card: dict) -> dict:
    """The default card as a version-1 card would hold it: no questions, border crop, left-out rejection rates,
    sources, patient grouping, abstention verdict, burned-in label test or left-out runs."""
    old = {k: v for k, v in card.items() if k not in ("questions", "border_crop")}
    drop = {"ood": "left_out_rejection", "training_data": "by_source", "cross_validation": "grouped_by",
            "abstention": "target_met", "shortcut_check": "burned_in_label_test"}
    old.update({section: {k: v for k, v in card[section].items() if k != key} for section, key in drop.items()})
    return {**old, "card_version": 1, "validation": None}


def test_a_card_of_an_older_version_loads_without_retraining_and_claims_nothing_it_did_not_measure(card, tmp_path):
    older = read_card(with_card(tmp_path, _as_version_1))
    assert older.card_version == card.card_version and older.questions is None and older.validation is None
    assert older.training_data.by_source is None and older.cross_validation.grouped_by is None
    assert older.shortcut_check.burned_in_label_test is None and older.ood.left_out_rejection == {}
    assert older.abstention.target_met is (card.abstention.accuracy >= card.abstention.target_accuracy)
    assert older.cross_validation == replace(card.cross_validation, grouped_by=None)  # its figures as they were
    assert older.training_files == card.training_files and older.model_sha256 == card.model_sha256


def test_an_older_card_rewritten_at_this_version_keeps_every_figure_and_its_folder_still_loads(card, tmp_path):
    older = with_card(tmp_path, _as_version_1)
    lifted = read_card(older)
    assert upgrade_card(older) == lifted
    assert json.loads((older / CARD_FILE).read_text())["card_version"] == card.card_version
    assert load_bundle(older).card == lifted  # the files it vouches for still match

def test_a_version_2_card_of_a_single_source_run_loads_with_no_left_out_figures(tmp_path):
    def single_source(card: dict) -> dict:
        validation = {k: v for k, v in card["validation"].items() if k not in ("leave_one_source_out", "aims", "source_audit")}
        return {**card, "card_version": 2, "validation": validation}

    older = read_card(with_card(tmp_path, single_source))
    assert older.loso_accuracy is None and older.validation.aims is None and older.validation.grouped_cv.per_source


def test_a_card_shared_through_a_cache_cannot_be_changed_by_one_of_its_readers(card):
    with pytest.raises(TypeError):
        card.training_data.counts["covid19"] = 0
    with pytest.raises(TypeError):
        card.validation.leave_one_source_out.per_source["nih"] = None
    with pytest.raises(FrozenInstanceError):
        card.cross_validation.accuracy.mean = 1.0
    assert isinstance(card.cross_validation.pooled.confusion_matrix[0], tuple) and isinstance(card.training_files, tuple)


def test_the_recorded_training_command_reproduces_every_setting():
    settings = train_cli.parse_args(["../data sets/xrays", "--out", "models/mine", "--epochs", "3", "--intensity", "none"])
    assert settings.command.startswith("python -m core.cli.train '../data sets/xrays' --out models/mine --backbone ")
    assert train_cli.parse_args(shlex.split(settings.command)[3:]) == settings
    assert {"--img-size", "--folds", "--seed", "--restyled-copies", "--border-crop"} <= set(shlex.split(settings.command))


@pytest.mark.parametrize("directory", list_model_dirs(), ids=lambda d: d.name)
def test_every_shipped_card_records_a_training_command_that_runs(directory):
    """Today's trainer for cards it made; the exhibits' name the commit whose core/train.py made them."""
    command = read_card(directory).training_command
    if command.startswith("git checkout "):
        assert re.fullmatch(r"git checkout [0-9a-f]{7,40} && python -m core\.train \S+ --out models/\S+.*", command)
    else:
        settings = train_cli.parse_args(shlex.split(command)[3:])
        assert command.startswith("python -m core.cli.train ") and Path(settings.out).name == directory.name
