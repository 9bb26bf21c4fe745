"""The class registry: the one place that names the four diagnoses, in model output order."""
from dataclasses import dataclass


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
