"""The shipped card tells the truth: its figures recompute from its files; calibration and abstention behave."""

import numpy as np
import pytest
from scipy.special import log_softmax

from core.abstention import choose_threshold
from core.calibration import apply_temperature, fit_temperature
from core.classes import CLASS_NAMES
from core.metrics import classification_summary, expected_calibration_error
from core.model_store import CARD_FILE, DEFAULT_MODEL_DIR, PREDICTIONS_FILE, read_json


@pytest.fixture(scope="module")
def card() -> dict:
    return read_json(DEFAULT_MODEL_DIR, CARD_FILE)


@pytest.fixture(scope="module")
def stored() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = read_json(DEFAULT_MODEL_DIR, PREDICTIONS_FILE)
    labels = np.array([CLASS_NAMES.index(r["true"]) for r in rows])
    probabilities = np.array([[r["probabilities"][name] for name in CLASS_NAMES] for r in rows])
    return labels, probabilities, np.array([r["fold"] for r in rows])


def _nll(labels: np.ndarray, probabilities: np.ndarray) -> float:
    return float(-np.log(np.clip(probabilities[np.arange(len(labels)), labels], 1e-12, 1)).mean())


def test_card_figures_recompute_from_the_stored_out_of_fold_predictions(card, stored):
    labels, probabilities, folds = stored
    cv = card["cross_validation"]
    per_fold = [classification_summary(labels[folds == k], probabilities[folds == k]) for k in sorted(set(folds))]
    assert cv["accuracy"]["mean"] == pytest.approx(np.mean([f["accuracy"] for f in per_fold]))
    assert cv["macro_f1"]["std"] == pytest.approx(np.std([f["macro_f1"] for f in per_fold]))
    assert cv["pooled"]["confusion_matrix"] == classification_summary(labels, probabilities)["confusion_matrix"]
    assert card["calibration"]["ece_before"] == pytest.approx(expected_calibration_error(labels, probabilities))
    calibrated = apply_temperature(probabilities, card["calibration"]["temperature"])
    assert card["calibration"]["ece_after"] == pytest.approx(expected_calibration_error(labels, calibrated))
    assert card["abstention"] == pytest.approx(choose_threshold(labels, calibrated, card["abstention"]["target_accuracy"]))
    assert card["training_data"]["counts"] == dict(zip(CLASS_NAMES, np.bincount(labels).tolist()))


def test_temperature_scaling_lowers_the_log_loss_of_the_stored_predictions(card, stored):
    labels, probabilities, _ = stored
    temperature = fit_temperature(labels, probabilities)
    assert temperature == pytest.approx(card["calibration"]["temperature"], rel=1e-3)
    assert _nll(labels, apply_temperature(probabilities, temperature)) <= _nll(labels, probabilities)
    assert card["calibration"]["ece_after"] <= 0.05


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
    calibrated = apply_temperature(probabilities, card["calibration"]["temperature"])
    accepted = calibrated.max(axis=1) >= card["threshold"]
    assert (calibrated.argmax(axis=1)[accepted] == labels[accepted]).mean() >= card["abstention"]["target_accuracy"]
    assert accepted.mean() == pytest.approx(card["abstention"]["coverage"])
    assert 0 <= card["ood"]["cv_false_rejection_rate"] <= 0.05


def test_the_card_reports_the_shortcut_checks_and_text_alone_rarely_makes_covid19(card):
    checks = card["shortcut_check"]
    assert set(checks["central_mass_by_class"]) == set(CLASS_NAMES)
    label_test = checks["burned_in_label_test"]
    assert label_test["images"] == card["training_data"]["n"] - card["training_data"]["counts"]["covid19"]
    assert label_test["turned_covid19"] <= 0.02 * label_test["images"]
