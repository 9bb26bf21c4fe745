"""CSV downloads: display names, the one probability rule, which model, threshold and time, and no formulas."""
import csv
import io
from datetime import UTC, datetime

import numpy as np

from core.classes import CLASS_NAMES, DISPLAY_NAMES
from core.model.abstention import STATUS_TEXT
from core.model.card import read_card
from core.serving.diagnosis import Diagnosis
from core.serving.export import csv_bytes, diagnosis_table, evaluation_table, with_provenance

CARD = read_card()
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def read_csv(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode())))


def diagnosis(probabilities: list[float], is_chest_xray: bool = True) -> Diagnosis:
    return Diagnosis("key", None, np.array(probabilities), is_chest_xray, model_pixels=None)


def test_the_diagnose_csv_has_display_names_rounded_figures_and_the_model_threshold_and_time():
    table = diagnosis_table(["a.png", "b.png"], [diagnosis([0.9996, 0.0002, 0.0001, 0.0001]),
                                                 diagnosis([0.1, 0.2, 0.3, 0.4], is_chest_xray=False)], 0.94)
    rows = read_csv(csv_bytes(with_provenance(table, CARD, 0.94, WHEN)))
    assert rows[0]["Top class"] == DISPLAY_NAMES[0] and rows[0][DISPLAY_NAMES[0]] == "> 99.9 %"
    assert rows[0][DISPLAY_NAMES[1]] == "< 0.1 %" and rows[0]["Status"] == STATUS_TEXT["ok"]
    assert rows[1]["Top class"] == "—" and rows[1]["Status"] == STATUS_TEXT["not_a_chest_xray"]
    assert rows[1][DISPLAY_NAMES[3]] == "40.0 %"
    for row in rows:
        assert row["Model"] == f"{CARD.name}, trained {CARD.trained_at}, SHA-256 {CARD.model_sha256[:12]}"
        assert row["Threshold"] == "0.94" and row["Time"] == "2026-01-02 03:04:05 UTC"


def test_the_evaluation_csv_names_classes_and_flags_training_images():
    rows = [{"file": "covid19/x.png", "true": "covid19", "predicted": "normal", "status": "inconclusive",
             "in_training_set": True, **{f"p_{n}": p for n, p in zip(CLASS_NAMES, (0.3, 0.6, 0.05, 0.05))}}]
    row = read_csv(csv_bytes(with_provenance(evaluation_table(rows), CARD, 0.94, WHEN)))[0]
    assert (row["True class"], row["Predicted"], row["Status"]) == (DISPLAY_NAMES[0], DISPLAY_NAMES[1], "Inconclusive")
    assert row["In training set"] == "yes" and row[DISPLAY_NAMES[1]] == "60.0 %" and "Model" in row and "Time" in row


def test_a_file_name_a_spreadsheet_would_run_as_a_formula_stays_text():
    names = ["=HYPERLINK(\"http://x\")", "+1.png", "-2.png", "@SUM(A1).png", "plain.png"]
    table = diagnosis_table(names, [diagnosis([0.25] * 4) for _ in names], 0.94)
    files = [row["File"] for row in read_csv(csv_bytes(table))]
    assert files == ["'" + n for n in names[:4]] + ["plain.png"]
