"""The model card: what a model folder says about its model, as one frozen, versioned dataclass (no TensorFlow here).

A card is model_card.json beside model.keras. It records every training setting (backbone, input size, intensity,
epochs, recipe, folds and seed, data and the exact command), the figures of its validation, and the SHA-256 of each
file in the folder. `read_card` refuses a card with a missing or unknown key, another version, a value of the wrong
type or a class list other than the registry's (core/classes.py), with a ModelLoadError naming the key and the file.
core/model/bundle.py loads the model and the other files the card vouches for.
"""
import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from types import UnionType
from typing import Any, get_args, get_origin, get_type_hints

from core.classes import CLASS_NAMES, XrayClass
from core.paths import DEFAULT_MODEL_DIR, MODELS_DIR

CARD_VERSION = 1  # raise it when a field is added, removed or changes meaning
MODEL_FILE, CARD_FILE, OOD_FILE = "model.keras", "model_card.json", "ood.npz"
HISTORY_FILE, PREDICTIONS_FILE = "history.json", "validation_predictions.json"
RETRAIN = "train it again with `python -m core.cli.train`"


class ModelLoadError(RuntimeError):
    """A model folder that cannot be used: a missing file, a card that breaks the contract, or a file that differs
    from its card."""


@dataclass(frozen=True)
class Calibration:
    temperature: float  # divides the logits (core/model/calibration.py)
    ece_before: float
    ece_after: float


@dataclass(frozen=True)
class OodSummary:
    threshold: float  # largest distance from the training images still taken for a chest X-ray (core/model/ood.py)
    cv_false_rejection_rate: float  # share of held-out chest X-rays the threshold rejects
    sha256: str = ""  # of ood.npz; set when the bundle is saved


@dataclass(frozen=True, kw_only=True)
class ModelCard:
    """Every key of model_card.json. Sections that only pages show stay plain JSON (Mapping); None where a model was
    trained before the section existed (single_source and small_cnn have no recipe and no per-source validation)."""
    card_version: int
    name: str
    backbone: str
    classes: tuple[XrayClass, ...]  # model output order; must equal core.classes.CLASSES
    input_size: int  # pixels of the square model input
    input: str  # what the model expects, in words
    intensity: str  # per-image intensity normalisation before the network (core/imaging/preprocess.py)
    training_data: Mapping[str, Any]  # source folder, n, counts per label (and by_source with a manifest)
    recipe: Mapping[str, Any] | None  # how the head was trained (core.model.training.Recipe.describe)
    cross_validation: Mapping[str, Any]  # folds, seed and out-of-fold figures
    validation: Mapping[str, Any] | None  # per-source figures, leave-one-source-out and aims
    baseline_linear_probe: Mapping[str, Any] | None
    shortcut_check: Mapping[str, Any] | None
    calibration: Calibration
    threshold: float  # abstention: below this top probability the answer is Inconclusive
    ood: OodSummary
    abstention: Mapping[str, Any]  # the operating point behind `threshold`: coverage and accuracy there
    epochs: int
    training_command: str
    trained_at: str  # ISO date
    versions: Mapping[str, str]  # tensorflow and keras
    training_files: tuple[Mapping[str, str], ...]  # {"file", "sha256"} of every training image; empty when not listed
    exhibit: str | None  # why a model is kept though it must never read a film
    model_sha256: str = ""  # the three SHA-256 below are set when the bundle is saved
    predictions_sha256: str = ""
    history_sha256: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | Path = CARD_FILE) -> "ModelCard":
        """The card in `data`, checked: every key present and known, this version, simple values of their type, and
        the registry's classes in the registry's order."""
        names = [f.name for f in fields(cls)]
        missing = [name for name in names if name not in data]
        if "card_version" in data and data["card_version"] != CARD_VERSION:
            raise ModelLoadError(f"{source}: card version {data['card_version']!r}, but this code reads version "
                                 f"{CARD_VERSION}; {RETRAIN}")
        if missing:
            raise ModelLoadError(f"{source}: the model card has no {', '.join(map(repr, missing))}; {RETRAIN}")
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ModelLoadError(f"{source}: the model card has unknown key(s) {', '.join(map(repr, unknown))}; {RETRAIN}")
        try:
            card = cls(**{**data,
                          "classes": tuple(XrayClass(**c) for c in data["classes"]),
                          "calibration": Calibration(**data["calibration"]),
                          "ood": OodSummary(**data["ood"]),
                          "training_files": tuple(data["training_files"])})
        except TypeError as err:
            raise ModelLoadError(f"{source}: a section of the model card is malformed ({err}); {RETRAIN}") from None
        card._check_types(source)
        if tuple(c.name for c in card.classes) != CLASS_NAMES:
            raise ModelLoadError(f"{source}: the model card's classes {[c.name for c in card.classes]} differ from the "
                                 f"registry's {list(CLASS_NAMES)} (core/classes.py); {RETRAIN}")
        return card

    def _check_types(self, source: str | Path) -> None:
        for section in (self, self.calibration, self.ood):
            for name, kind in get_type_hints(type(section)).items():
                value = getattr(section, name)
                if not _is_a(value, kind):
                    raise ModelLoadError(f"{source}: the model card's {name!r} is {str(value)[:40]!r}, of the wrong type; {RETRAIN}")

    def to_dict(self) -> dict[str, Any]:
        """The card as JSON-ready data, keys in field order."""
        return asdict(self)

    @property
    def identity(self) -> str:
        """Which model gave a result: its name, training date and the start of its weights' SHA-256."""
        return f"{self.name}, trained {self.trained_at}, SHA-256 {self.model_sha256[:12]}"

    @property
    def training_hashes(self) -> frozenset[str]:
        """SHA-256 of every file the model was trained on (empty when the card does not list them)."""
        return frozenset(entry["sha256"] for entry in self.training_files)

    @property
    def cv_accuracy(self) -> float:
        """Mean accuracy over the cross-validation folds (test images from the same sources as training)."""
        return self.cross_validation["accuracy"]["mean"]

    @property
    def loso_accuracy(self) -> float | None:
        """Accuracy on images of sources left out of training (each predicted by a model that never saw its source);
        None when the model was not validated across sources."""
        return (self.validation or {}).get("leave_one_source_out", {}).get("accuracy")


def _is_a(value: Any, kind: Any) -> bool:
    """Whether a JSON value fits a field's type: int, float (an int will do), str, a mapping, a tuple, or None where allowed."""
    if get_origin(kind) is UnionType:
        return any(_is_a(value, k) for k in get_args(kind))
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(value, get_origin(kind) or kind)


def read_card(directory: str | Path = DEFAULT_MODEL_DIR) -> ModelCard:
    """The checked card of a model folder."""
    path = Path(directory) / CARD_FILE
    if not path.is_file():
        raise ModelLoadError(f"{directory}: missing {CARD_FILE}; {RETRAIN}")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelLoadError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path}: not a model card (a JSON object)")
    return ModelCard.from_dict(data, path)


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def write_card(directory: Path, card: ModelCard) -> None:
    write_json(directory / CARD_FILE, card.to_dict())


def checked_bytes(directory: str | Path, file_name: str, sha256: str) -> bytes:
    """A file of a model folder, refused unless its SHA-256 is the one the card records."""
    path = Path(directory) / file_name
    if not path.is_file():
        raise ModelLoadError(f"{directory}: missing {file_name}; {RETRAIN}")
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise ModelLoadError(f"{path}: SHA-256 {actual[:12]}… differs from the model card's {sha256[:12]}…; "
                             "the file was changed or corrupted, so it is refused")
    return data


def read_predictions(directory: str | Path, card: ModelCard) -> list[dict]:
    """One row per training image: label, source, fold and out-of-fold probabilities (core.model.training.prediction_rows)."""
    return json.loads(checked_bytes(directory, PREDICTIONS_FILE, card.predictions_sha256))


def read_history(directory: str | Path, card: ModelCard) -> dict:
    """The loss and accuracy of every epoch: {"folds": [...], "final": {...}}."""
    return json.loads(checked_bytes(directory, HISTORY_FILE, card.history_sha256))


def list_model_dirs(root: str | Path = MODELS_DIR) -> list[Path]:
    """Model folders under models/, the default first."""
    found = sorted(p.parent for p in Path(root).glob(f"*/{CARD_FILE}"))
    return sorted(found, key=lambda p: (p.name != "default", p.name))
