"""Tables and CSV downloads: numbers that sort as numbers, nothing for a refused film, which model and when, and no
formulas."""
import csv
import io
from datetime import UTC, datetime

import numpy as np

from core.classes import CLASS_NAMES, DISPLAY_NAMES
from core.model.card import read_card
from core.model.questions import QUESTION_NAMES, answer_all
from core.serving.answers import FILM_STATUS_TEXT, READ_WITH_CARE, REFUSED, TABLE_TITLES
from core.serving.diagnosis import Diagnosis
from core.serving.export import PROBABILITY_COLUMNS, csv_bytes, evaluation_table, research_table, triage_table, with_provenance

CARD = read_card()
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
RULES = {name: validation.rule for name, validation in CARD.questions.items()}
RESEARCH_COLUMNS = ["file", "status", "analysed_at", *(f"{q}_{what}" for q in QUESTION_NAMES for what in ("probability", "answer")),
                    *(f"p_{c}" for c in CLASS_NAMES), "model"]


def read_csv(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode())))


def diagnosis(probabilities: list[float], is_chest_xray: bool = True, looked_outside: bool = False) -> Diagnosis:
    p = np.array(probabilities)
    return Diagnosis("key", None, p, is_chest_xray, model_pixels=None, answers=answer_all(RULES, p) if is_chest_xray else None,
                     looked_outside=looked_outside, analysed_at=WHEN)


FILMS = [diagnosis([0.9996, 0.0002, 0.0001, 0.0001]), diagnosis([0.1, 0.2, 0.3, 0.4], is_chest_xray=False),
         diagnosis([0.05, 0.05, 0.6, 0.3], looked_outside=True)]


def test_the_screen_table_has_one_row_per_film_with_numbers_that_sort_and_nothing_for_a_refused_film():
    table = triage_table(["a.png", "b.png", "c.png"], FILMS)
    assert all(table[column].dtype == float for column in PROBABILITY_COLUMNS.values())
    assert table.sort_values("COVID-19 %", ascending=False)["File"].tolist()[:2] == ["a.png", "c.png"]  # numbers, not text
    assert table.loc[0, "COVID-19 %"] == 99.9  # never shown as 100 %
    assert table.loc[1, "Status"] == FILM_STATUS_TEXT[REFUSED] and table.loc[1, list(PROBABILITY_COLUMNS.values())].isna().all()
    assert all(table.loc[1, title] == "–" for title in TABLE_TITLES.values())
    assert table.loc[2, "Status"] == FILM_STATUS_TEXT[READ_WITH_CARE]


def test_the_research_csv_has_numeric_answers_and_class_probabilities_empty_for_a_refused_film():
    data = csv_bytes(research_table(["a.png", "b.png", "c.png"], FILMS, CARD))
    rows = read_csv(data)
    assert list(rows[0]) == RESEARCH_COLUMNS
    expected = FILMS[0].answers
    assert float(rows[0]["covid19_probability"]) == expected["covid19"].probability and rows[0]["covid19_answer"] == "yes"
    assert float(rows[0]["p_covid19"]) == 0.9996 and rows[0]["status"] == "answered"
    model_columns = [c for c in RESEARCH_COLUMNS if c.endswith(("probability", "answer")) or c.startswith("p_")]
    assert all(rows[1][column] == "" for column in model_columns)
    assert rows[1]["status"] == "not_a_chest_xray" and rows[2]["status"] == "read_with_care"
    for row in rows:
        assert row["model"] == f"{CARD.name}, trained {CARD.trained_at}, SHA-256 {CARD.model_sha256[:12]}"
        assert row["analysed_at"] == "2026-01-02 03:04:05 UTC"


def test_the_evaluation_csv_names_classes_and_flags_training_images():
    rows = [{"file": "covid19/x.png", "true": "covid19", "predicted": "normal", "status": "inconclusive",
             "in_training_set": True, **{f"p_{n}": p for n, p in zip(CLASS_NAMES, (0.3, 0.6, 0.05, 0.05), strict=True)}}]
    row = read_csv(csv_bytes(with_provenance(evaluation_table(rows), CARD, 0.94, WHEN)))[0]
    assert (row["True class"], row["Predicted"], row["Status"]) == (DISPLAY_NAMES[0], DISPLAY_NAMES[1], "Inconclusive")
    assert row["In training set"] == "yes" and row[DISPLAY_NAMES[1]] == "60.0 %" and "Model" in row and "Time" in row


def test_a_file_name_a_spreadsheet_would_run_as_a_formula_stays_text():
    names = ["=HYPERLINK(\"http://x\")", "+1.png", "-2.png", "@SUM(A1).png", "plain.png"]
    table = research_table(names, [diagnosis([0.25] * 4) for _ in names], CARD)
    files = [row["file"] for row in read_csv(csv_bytes(table))]
    assert files == ["'" + n for n in names[:4]] + ["plain.png"]
