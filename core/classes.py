"""The class registry: the one place that names the four diagnoses, in model output order."""
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class XrayClass:
    name: str  # folder name and API label
    display: str  # what users read


CLASSES: tuple[XrayClass, ...] = (
    XrayClass("covid19", "COVID-19"),
    XrayClass("normal", "Healthy"),
    XrayClass("bacterial_pneumonia", "Bacterial Pneumonia"),
    XrayClass("viral_pneumonia", "Viral Pneumonia"),
)
CLASS_NAMES: tuple[str, ...] = tuple(c.name for c in CLASSES)
DISPLAY_NAMES: tuple[str, ...] = tuple(c.display for c in CLASSES)


def display_name(name: str) -> str:
    """Display name for a class name, e.g. 'normal' -> 'Healthy'."""
    return DISPLAY_NAMES[CLASS_NAMES.index(name)]


# A coarse training label: a pneumonia known to be bacterial or viral, but not which. It is no output of the
# model; training rewards the probability of any class in its set (core/training/recipe.py).
PNEUMONIA_UNSPECIFIED = "pneumonia_unspecified"
COARSE_LABELS: dict[str, tuple[str, ...]] = {PNEUMONIA_UNSPECIFIED: ("bacterial_pneumonia", "viral_pneumonia")}
LABEL_NAMES: tuple[str, ...] = CLASS_NAMES + tuple(COARSE_LABELS)  # every label a training image may carry
LABEL_DISPLAY: tuple[str, ...] = DISPLAY_NAMES + ("Pneumonia (type unknown)",)  # what users read for each label


def label_display(name: str) -> str:
    """What users read for a label name, coarse labels included: 'pneumonia_unspecified' -> 'Pneumonia (type unknown)'."""
    return LABEL_DISPLAY[LABEL_NAMES.index(name)]


def target_sets(labels: np.ndarray) -> np.ndarray:
    """(N, classes) 0/1 rows: the classes each label allows (one for a class, several for a coarse label)."""
    allowed = np.zeros((len(LABEL_NAMES), len(CLASS_NAMES)), dtype=np.float32)
    allowed[np.arange(len(CLASS_NAMES)), np.arange(len(CLASS_NAMES))] = 1.0
    for row, members in enumerate(COARSE_LABELS.values(), start=len(CLASS_NAMES)):
        allowed[row, [CLASS_NAMES.index(m) for m in members]] = 1.0
    return allowed[np.asarray(labels)]
