"""Tables of results as the pages show them and as CSV downloads: numbers that sort as numbers, the model and time
behind every row, nothing for a refused film, and no cell that a spreadsheet would run as a formula."""
from datetime import datetime

import numpy as np
import pandas as pd

from core.classes import CLASS_NAMES, DISPLAY_NAMES, display_name, label_display
from core.model.abstention import STATUS_TEXT
from core.model.card import ModelCard
from core.model.questions import INCONCLUSIVE, QUESTION_NAMES, QuestionAnswer
from core.serving.answers import FILM_STATUS_TEXT, TABLE_TITLES, answer_word
from core.serving.diagnosis import Diagnosis
from core.serving.probability_text import probability_text

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what spreadsheets treat as the start of a formula
TIME_FORMAT = "%Y-%m-%d %H:%M:%S UTC"
EMPTY = "–"  # a cell with nothing to say (a refused film has no answers)
SHOWN_RANGE = (0.1, 99.9)  # percent: the on-screen table never reads 0 % or 100 % (probability_text's rule)
PROBABILITY_COLUMNS = {"covid19": "COVID-19 %", "abnormal": "Abnormal %", "pneumonia_type": "Bacterial %"}
TRIAGE_WIDTHS = {"File": 120, "Status": 100, TABLE_TITLES["covid19"]: 80, PROBABILITY_COLUMNS["covid19"]: 82,  # px: all
                 TABLE_TITLES["abnormal"]: 82, PROBABILITY_COLUMNS["abnormal"]: 84,  # fit beside the sidebar at 1280
                 TABLE_TITLES["pneumonia_type"]: 110, PROBABILITY_COLUMNS["pneumonia_type"]: 84}


def table_word(answer: QuestionAnswer) -> str:
    """The answer as the table says it: likely / unlikely / bacterial / viral / cannot tell."""
    return answer.answer if answer.name == "pneumonia_type" and answer.answer != INCONCLUSIVE else answer_word(answer)


def triage_table(labels: list[str], results: list[Diagnosis]) -> pd.DataFrame:
    """One row per film for the screen: file, status, and each question's answer beside its probability in percent
    (a number, so that the column sorts; empty for a refused film)."""
    rows = []
    for label, result in zip(labels, results, strict=True):
        row: dict[str, str | float] = {"File": label, "Status": FILM_STATUS_TEXT[result.film_status]}
        for name in QUESTION_NAMES:
            answer = (result.answers or {}).get(name)
            row[TABLE_TITLES[name]] = table_word(answer) if answer else EMPTY
            row[PROBABILITY_COLUMNS[name]] = float(np.clip(100 * answer.probability, *SHOWN_RANGE)) if answer else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def research_table(labels: list[str], results: list[Diagnosis], card: ModelCard) -> pd.DataFrame:
    """One row per film for researchers: each question's probability (0-1) and answer code, each class's
    probability, the status, the file, when it was analysed and by which model; probabilities empty for a refused
    film."""
    rows = []
    for label, result in zip(labels, results, strict=True):
        answers, refused = result.answers or {}, not result.is_chest_xray
        row: dict[str, str | float] = {"file": label, "status": result.film_status, "analysed_at": result.analysed_at.strftime(TIME_FORMAT)}
        for name in QUESTION_NAMES:
            answer = answers.get(name)
            row[f"{name}_probability"] = answer.probability if answer else np.nan
            row[f"{name}_answer"] = answer.answer if answer else ""
        row |= {f"p_{c}": np.nan if refused else float(p) for c, p in zip(CLASS_NAMES, result.probabilities, strict=True)}
        rows.append(row | {"model": card.identity})
    return pd.DataFrame(rows)


def evaluation_table(rows: list[dict]) -> pd.DataFrame:
    """One row per evaluated image (core.evaluation.evaluate rows): file, true and predicted class, status, whether the model
    was trained on it, and every class's probability."""
    return pd.DataFrame([{"File": r["file"], "True class": label_display(r["true"]), "Predicted": display_name(r["predicted"]),
                          "Status": STATUS_TEXT[r["status"]], "In training set": "yes" if r["in_training_set"] else "no",
                          **{d: probability_text(r[f"p_{n}"]) for n, d in zip(CLASS_NAMES, DISPLAY_NAMES, strict=True)}} for r in rows])


def with_provenance(table: pd.DataFrame, card: ModelCard, threshold: float, created: datetime) -> pd.DataFrame:
    """The table with the model, the decision threshold and the time (UTC) that produced it, on every row."""
    return table.assign(Model=card.identity, Threshold=f"{threshold:.2f}", Time=created.strftime(TIME_FORMAT))


def neutralise(cell: object) -> object:
    """A text cell that a spreadsheet would run as a formula, prefixed with ' so that it stays text."""
    return "'" + cell if isinstance(cell, str) and cell.startswith(FORMULA_STARTS) else cell


def csv_bytes(table: pd.DataFrame) -> bytes:
    """UTF-8 CSV of a table, every text cell guarded against formula injection."""
    return table.map(neutralise).to_csv(index=False).encode()
