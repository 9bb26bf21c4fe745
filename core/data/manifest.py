"""Multi-source datasets: a folder per label plus manifest.csv (source, patient, age group, SHA-256 per image),
and the splits that validate across them: folds grouped by patient, and leave one source out.
"""
import csv
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from core.classes import LABEL_NAMES
from core.data.folders import DatasetError, Sample

MANIFEST_FILE = "manifest.csv"
REQUIRED_COLUMNS = ("file", "label", "source", "patient", "age_group")
PAEDIATRIC = "paediatric"


def has_manifest(root: str | Path) -> bool:
    return (Path(root) / MANIFEST_FILE).is_file()


def read_manifest(root: str | Path) -> list[Sample]:
    """Every image the manifest lists, with its label (a class or a coarse label), source, patient and age group."""
    root = Path(root)
    with open(root / MANIFEST_FILE, newline="") as f:
        rows = list(csv.DictReader(f))
    missing = [c for c in REQUIRED_COLUMNS if rows and c not in rows[0]]
    if not rows or missing:
        raise DatasetError(f"{root / MANIFEST_FILE}: needs rows with the columns {', '.join(REQUIRED_COLUMNS)}"
                           + (f" (missing {', '.join(missing)})" if missing else ""))
    unknown = sorted({r["label"] for r in rows} - set(LABEL_NAMES))
    if unknown:
        raise DatasetError(f"{root / MANIFEST_FILE}: unknown label(s) {', '.join(unknown)}; expected {', '.join(LABEL_NAMES)}")
    absent = [r["file"] for r in rows if not (root / r["file"]).is_file()]
    if absent:
        raise DatasetError(f"{root}: {len(absent)} file(s) in the manifest are missing, e.g. {absent[0]}")
    return [Sample(root / r["file"], r["file"], LABEL_NAMES.index(r["label"]), r["source"], r["patient"],
                   r["age_group"], r.get("sha256", "")) for r in rows]


def grouped_folds(labels: np.ndarray, groups: list[str], k: int = 5, seed: int = 42) -> list[tuple[np.ndarray, np.ndarray]]:
    """Seeded k-fold, stratified by label, that never puts one patient's images on both sides."""
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(train, val) for train, val in splitter.split(np.zeros(len(labels)), labels, groups)]


def source_splits(sources: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """For each source: (indices of every other source, indices of this source)."""
    names = np.asarray(sources)
    return {s: (np.flatnonzero(names != s), np.flatnonzero(names == s)) for s in sorted(set(sources))}
