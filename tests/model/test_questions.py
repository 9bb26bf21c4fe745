"""The three questions: how each is read from the class probabilities, how its operating point is chosen, the CLI
contract, and the shipped card's per-question figures (they recompute from its stored predictions)."""
import dataclasses
import json
from collections.abc import Mapping

import cv2
import keras
import numpy as np
import pytest

from core.classes import CLASS_NAMES, LABEL_NAMES
from core.cli import evaluate, predict
from core.evaluation.question_figures import binary_ece
from core.model import questions as q
from core.model.backbones import HEAD_NAME, crop_border, expose_logits, uncrop_map
from core.model.calibration import apply_temperature
from core.model.card import read_card, read_predictions
from core.paths import DEFAULT_MODEL_DIR
from core.serving.saliency import GradCAM
from core.training import questions as fitting

ANSWERS = {"covid19": {"yes", "no", "inconclusive"}, "abnormal": {"yes", "no", "inconclusive"},
           "pneumonia_type": {"bacterial", "viral", "inconclusive"}}


def test_each_question_reads_its_probability_from_the_four_classes():
    raw = q.raw_probabilities(np.array([[0.1, 0.3, 0.45, 0.15]]))
    assert raw["covid19"][0] == pytest.approx(0.1)
    assert raw["abnormal"][0] == pytest.approx(0.7)
    assert raw["pneumonia_type"][0] == pytest.approx(0.75)  # P(bacterial | pneumonia) = 0.45 / 0.6


def test_a_coarse_pneumonia_label_answers_the_first_two_questions_only():
    truth = q.truths(np.array([LABEL_NAMES.index(n) for n in ("covid19", "normal", "bacterial_pneumonia", "pneumonia_unspecified")]))
    assert truth["covid19"].tolist() == [1, 0, 0, 0] and truth["abnormal"].tolist() == [1, 0, 1, 1]
    assert truth["pneumonia_type"][2] == 1 and np.isnan(truth["pneumonia_type"][[0, 1, 3]]).all()


def test_inconclusive_exactly_inside_the_cut_offs():
    rule = q.QuestionRule(1.0, 0.0, 0.2, 0.8)
    codes = rule.answer_codes(np.array([0.0, 0.2, 0.21, 0.5, 0.79, 0.8, 1.0]))
    assert codes.tolist() == [0, 0, -1, -1, -1, 1, 1]


def test_the_cut_offs_answer_the_most_films_while_each_answer_meets_its_target():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 3000).astype(float)
    probability = np.clip(truth * 0.35 + rng.uniform(0, 0.65, 3000), 0, 1)  # overlapping in the middle only
    low, high = q.choose_cut_offs(probability, truth, 0.95)
    yes, no = probability >= high, probability <= low
    assert truth[yes].mean() >= 0.95 and (1 - truth[no]).mean() >= 0.95
    # one step wider on either side breaks the target (or answers nothing more)
    assert (yes | no).mean() > 0.5
    wider_no, wider_yes = probability <= low + 0.01, probability >= high - 0.01
    assert (1 - truth[wider_no]).mean() < 0.95 or wider_no.sum() == no.sum()
    assert truth[wider_yes].mean() < 0.95 or wider_yes.sum() == yes.sum()


def test_platt_scaling_makes_an_overconfident_probability_honest():
    rng = np.random.default_rng(1)
    honest = rng.uniform(0.02, 0.98, 4000)
    truth = (rng.random(4000) < honest).astype(float)  # each film is yes with its honest probability
    sharp = 1 / (1 + np.exp(-4 * q.log_odds(honest)))  # four times too sure
    slope, intercept = q.fit_calibration(sharp, truth)
    fixed = q.QuestionRule(slope, intercept, 0, 1).probability(sharp)
    assert slope == pytest.approx(0.25, abs=0.05) and binary_ece(truth, fixed) < binary_ece(truth, sharp) / 3


def test_a_map_of_a_model_that_crops_its_border_lands_where_the_film_is_bright():
    """A toy network whose evidence is brightness: its Grad-CAM, placed back on the whole film, peaks at the spot."""
    share, size, spot = 0.1, 80, (22, 58)
    pixels = keras.Input((size, size, 3))
    maps = keras.layers.Conv2D(1, 8, strides=8, kernel_initializer="ones", use_bias=False, name="cells")(crop_border(pixels, share))
    score = keras.layers.Dense(2, activation="softmax", name=HEAD_NAME, kernel_initializer=keras.initializers.Constant([[1.0, -1.0]]))(
        keras.layers.GlobalAveragePooling2D()(maps))
    film = np.zeros((size, size, 3), np.float32)
    film[spot[0] - 3:spot[0] + 3, spot[1] - 3:spot[1] + 3] = 255
    cam = GradCAM(expose_logits(keras.Model(pixels, score)), "cells", share)(film[None], 0)[0]
    placed = cv2.resize(cam, (size, size), interpolation=cv2.INTER_LINEAR)
    row, column = np.unravel_index(np.argmax(placed), placed.shape)
    assert abs(row - spot[0]) <= 5 and abs(column - spot[1]) <= 5
    assert placed[:int(share * size) - 1].max() == 0  # nothing on the border the network never saw


def test_uncropping_leaves_an_uncropped_map_alone():
    cam = np.random.default_rng(0).random((7, 7))
    assert uncrop_map(cam, 0.0) is cam


# --- the CLI contract and the shipped card -------------------------------------------------------------------

def test_predict_answers_the_three_questions_for_every_chest_xray(xray_paths, tmp_path, capsys):
    noise = tmp_path / "noise.png"
    cv2.imwrite(str(noise), np.random.default_rng(0).integers(0, 256, (256, 256), dtype=np.uint8))
    files = [str(paths[0]) for paths in xray_paths.values()] + [str(noise)]
    assert predict.main(files) == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    rules = {name: v.rule for name, v in read_card(DEFAULT_MODEL_DIR).questions.items()}
    for r in results:
        if r["status"] == "not_a_chest_xray":
            assert r["questions"] is None and r["label"] is None
            continue
        assert list(r["questions"]) == list(q.QUESTION_NAMES)
        for name, answer in r["questions"].items():
            assert 0.0 <= answer["probability"] <= 1.0 and answer["answer"] in ANSWERS[name]
            inside = rules[name].low < answer["probability"] < rules[name].high
            assert (answer["answer"] == "inconclusive") == inside
    assert results[-1]["status"] == "not_a_chest_xray"


def test_evaluate_scores_the_questions_and_takes_a_pneumonia_of_unknown_type(multisource_dir, tmp_path, capsys):
    rows = [line.split(",") for line in (multisource_dir / "manifest.csv").read_text().splitlines()[1:]]
    picked = {label: [r[0] for r in rows if r[1] == label][:3] for label in LABEL_NAMES}
    for label, files in picked.items():
        (tmp_path / label).mkdir()
        for f in files:
            (tmp_path / label / f.split("/")[-1]).symlink_to(multisource_dir / f)
    assert evaluate.main([str(tmp_path)]) == 0
    summary = json.loads(capsys.readouterr().out)
    figures = summary["questions"]
    kept = summary["n"] - summary["not_a_chest_xray"]
    assert figures["covid19"]["n"] == figures["abnormal"]["n"] == kept
    assert figures["pneumonia_type"]["n"] <= 6 and summary["n"] == 15
    for f in figures.values():
        assert 0 <= f["coverage"] <= 1 and f["n_answered"] <= f["n"]


@pytest.fixture(scope="module")
def shipped():
    card = read_card(DEFAULT_MODEL_DIR)
    return card, read_predictions(DEFAULT_MODEL_DIR, card)


def _probabilities(rows: list[dict], key: str) -> np.ndarray:
    return np.array([[r[key][name] for name in CLASS_NAMES] for r in rows])


def test_the_shipped_cards_question_figures_recompute_from_its_stored_predictions(shipped):
    card, rows = shipped
    temperature = card.calibration.temperature
    labels = np.array([LABEL_NAMES.index(r["true"]) for r in rows])
    films = fitting.Films.of(labels, np.array([r["source"] for r in rows]), np.array([r["age_group"] for r in rows]))
    oof = apply_temperature(_probabilities(rows, "probabilities"), temperature)
    runs = {s: apply_temperature(np.array([[r["left_out_runs"][s][n] for n in CLASS_NAMES] for r in rows]), temperature)
            for s in rows[0]["left_out_runs"]}
    rules = fitting.fit_rules(labels, oof)
    for name, validation in card.questions.items():
        assert validation.rule.low == rules[name].low and validation.rule.high == rules[name].high
        assert validation.rule.slope == pytest.approx(rules[name].slope, rel=1e-4)
    recomputed = fitting.validate(card_rules(card), films, oof, runs)
    assert _rounded(recomputed) == _rounded(dict(card.questions))  # equal to 12 digits: sums differ in the last bit by CPU


def _rounded(value):
    """The same value with every float rounded to 12 significant digits, dataclasses as dicts."""
    if dataclasses.is_dataclass(value):
        return {f.name: _rounded(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return float(f"{value:.12g}") if isinstance(value, float) else value


def card_rules(card) -> dict[str, q.QuestionRule]:
    return {name: v.rule for name, v in card.questions.items()}


def test_each_answer_meets_its_target_on_the_grouped_folds_and_left_out_figures_say_what_was_paired(shipped):
    card, _ = shipped
    for validation in card.questions.values():
        figures = validation.grouped_cv
        assert figures.yes_right is None or figures.yes_right >= validation.target
        assert figures.no_right is None or figures.no_right >= validation.target
        for row in validation.left_out:
            assert row.source in row.paired and row.figures.n >= 2 * fitting.MIN_SCORED
    assert card.questions["pneumonia_type"].left_out == ()  # only the paediatric source can teach it
    assert any("adult" in note for note in card.questions["pneumonia_type"].never_validated_on)


def test_the_not_a_chest_xray_check_refuses_at_most_two_percent_of_any_left_out_source(shipped):
    card, _ = shipped
    assert card.ood.left_out_rejection and max(card.ood.left_out_rejection.values()) <= 0.02
