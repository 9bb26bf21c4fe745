"""Tables of results as the pages show them and as CSV downloads: display names, probabilities by the one rounding
rule, the model, threshold and time behind every row, and no cell that a spreadsheet would run as a formula."""
from datetime import datetime

import pandas as pd

from core.classes import CLASS_NAMES, DISPLAY_NAMES, display_name
from core.model.abstention import NOT_A_CHEST_XRAY, STATUS_TEXT
from core.model.card import ModelCard
from core.serving.diagnosis import Diagnosis
from core.serving.probability_text import probability_text

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what spreadsheets treat as the start of a formula
TIME_FORMAT = "%Y-%m-%d %H:%M:%S UTC"
TOP_CLASS = "Top class"  # not "prediction": below the threshold it is no answer


def diagnosis_table(labels: list[str], results: list[Diagnosis], threshold: float) -> pd.DataFrame:
    """One row per upload: file, top class (none when not a chest X-ray), status, and every class's probability."""
    rows = []
    for label, result in zip(labels, results):
        status = result.status(threshold)
        has_class = status != NOT_A_CHEST_XRAY
        rows.append({"File": label, TOP_CLASS: DISPLAY_NAMES[result.top] if has_class else "—", "Status": STATUS_TEXT[status],
                     **{name: probability_text(p) for name, p in zip(DISPLAY_NAMES, result.probabilities)}})
    return pd.DataFrame(rows)


def evaluation_table(rows: list[dict]) -> pd.DataFrame:
    """One row per evaluated image (core.evaluation.evaluate rows): file, true and predicted class, status, whether the model
    was trained on it, and every class's probability."""
    return pd.DataFrame([{"File": r["file"], "True class": display_name(r["true"]), "Predicted": display_name(r["predicted"]),
                          "Status": STATUS_TEXT[r["status"]], "In training set": "yes" if r["in_training_set"] else "no",
                          **{d: probability_text(r[f"p_{n}"]) for n, d in zip(CLASS_NAMES, DISPLAY_NAMES)}} for r in rows])


def with_provenance(table: pd.DataFrame, card: ModelCard, threshold: float, created: datetime) -> pd.DataFrame:
    """The table with the model, the decision threshold and the time (UTC) that produced it, on every row."""
    return table.assign(Model=card.identity, Threshold=f"{threshold:.2f}", Time=created.strftime(TIME_FORMAT))


def neutralise(cell: object) -> object:
    """A text cell that a spreadsheet would run as a formula, prefixed with ' so that it stays text."""
    return "'" + cell if isinstance(cell, str) and cell.startswith(FORMULA_STARTS) else cell


def csv_bytes(table: pd.DataFrame) -> bytes:
    """UTF-8 CSV of a table, every text cell guarded against formula injection."""
    return table.map(neutralise).to_csv(index=False).encode()
