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
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from types import UnionType
from typing import Any, get_args, get_origin, get_type_hints

from core.classes import CLASS_NAMES, XrayClass
from core.model.questions import QUESTION_NAMES, QuestionRule
from core.paths import DEFAULT_MODEL_DIR, MODELS_DIR

CARD_VERSION = 2  # raise it when a field is added, removed or changes meaning, and add a step to MIGRATIONS
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
    left_out_rejection: Mapping[str, float]  # per source: share of its films rejected by a detector that never saw it
    sha256: str = ""  # of ood.npz; set when the bundle is saved


@dataclass(frozen=True)
class QuestionFigures:
    """One question on one group of films (core/evaluation/question_figures.py)."""
    n: int  # films whose answer is known
    n_positive: int  # of them answered yes (bacterial for pneumonia_type)
    auroc: float | None  # None without films of both answers
    coverage: float | None  # share answered (not inconclusive) at the operating point
    right: float | None  # share of the answered films answered right
    yes_right: float | None
    no_right: float | None
    n_answered: int
    ece: float | None


@dataclass(frozen=True)
class LeftOutFigures:
    source: str  # the source its run left out
    paired: str  # which films were scored, in words
    figures: QuestionFigures


@dataclass(frozen=True)
class QuestionValidation:
    """A question's calibration and operating point, and how it did: grouped folds, and left-out sources where the
    other sources can teach it (core/training/questions.py)."""
    rule: QuestionRule
    target: float  # share of right answers each kind of answer had to reach on the grouped folds
    grouped_cv: QuestionFigures
    grouped_cv_by_source: Mapping[str, QuestionFigures]
    left_out: tuple[LeftOutFigures, ...]
    never_validated_on: tuple[str, ...]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "QuestionValidation":
        return cls(rule=QuestionRule(**data["rule"]), target=data["target"], grouped_cv=QuestionFigures(**data["grouped_cv"]),
                   grouped_cv_by_source={s: QuestionFigures(**f) for s, f in data["grouped_cv_by_source"].items()},
                   left_out=tuple(LeftOutFigures(r["source"], r["paired"], QuestionFigures(**r["figures"])) for r in data["left_out"]),
                   never_validated_on=tuple(data["never_validated_on"]))

    @property
    def worst_left_out(self) -> LeftOutFigures | None:
        """The left-out pairing with the lowest AUROC (None when the question was never validated on a left-out source)."""
        scored = [r for r in self.left_out if r.figures.auroc is not None]
        return min(scored, key=lambda r: r.figures.auroc) if scored else None


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
    recipe: Mapping[str, Any] | None  # how the head was trained (core.training.recipe.Recipe.describe)
    cross_validation: Mapping[str, Any]  # folds, seed and out-of-fold figures
    validation: Mapping[str, Any] | None  # per-source figures, leave-one-source-out and aims
    baseline_linear_probe: Mapping[str, Any] | None
    shortcut_check: Mapping[str, Any] | None
    calibration: Calibration
    threshold: float  # abstention: below this top probability the answer is Inconclusive
    ood: OodSummary
    abstention: Mapping[str, Any]  # the operating point behind `threshold`: coverage and accuracy there
    questions: Mapping[str, QuestionValidation] | None  # the three questions (core/model/questions.py); None before v2
    border_crop: float  # share of each side the model crops off first; Grad-CAM maps cover the rest (saliency.uncrop)
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
        data = migrate(data, source)
        missing = [name for name in names if name not in data]
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
                          "questions": _questions(data["questions"]),
                          "training_files": tuple(data["training_files"])})
        except (TypeError, KeyError, AttributeError) as err:
            raise ModelLoadError(f"{source}: a section of the model card is malformed ({err}); {RETRAIN}") from None
        card._check_types(source)
        if tuple(c.name for c in card.classes) != CLASS_NAMES:
            raise ModelLoadError(f"{source}: the model card's classes {[c.name for c in card.classes]} differ from the "
                                 f"registry's {list(CLASS_NAMES)} (core/classes.py); {RETRAIN}")
        return card

    def _check_types(self, source: str | Path) -> None:
        questions = self.questions.values() if self.questions else ()
        figures = [f for v in questions for f in (v.grouped_cv, *v.grouped_cv_by_source.values(), *(r.figures for r in v.left_out))]
        for section in (self, self.calibration, self.ood, *questions, *(v.rule for v in questions), *figures):
            for name, kind in get_type_hints(type(section)).items():
                value = getattr(section, name)
                if not _is_a(value, kind):
                    raise ModelLoadError(f"{source}: the model card's {name!r} is {str(value)[:40]!r}, of the wrong type; {RETRAIN}")

    def to_dict(self) -> dict[str, Any]:
        """The card as JSON-ready data, keys in field order."""
        return as_json(self)

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


def as_json(value: Any) -> Any:
    """Dataclasses, mappings and tuples as JSON-ready dicts and lists."""
    if is_dataclass(value):
        return {f.name: as_json(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [as_json(v) for v in value]
    return value


def _questions(data: Mapping[str, Any] | None) -> Mapping[str, QuestionValidation] | None:
    if data is None:
        return None
    if tuple(data) != QUESTION_NAMES:
        raise TypeError(f"questions {list(data)}, expected {list(QUESTION_NAMES)}")
    return {name: QuestionValidation.from_dict(v) for name, v in data.items()}


def _v1_to_v2(data: dict) -> dict:
    """Version 2 added the three questions (absent before), the border crop (none before) and the left-out
    not-a-chest-X-ray rates (not measured before)."""
    return {**data, "card_version": 2, "questions": None, "border_crop": 0.0,
            "ood": {**data.get("ood", {}), "left_out_rejection": {}}}


MIGRATIONS = {1: _v1_to_v2}  # card version -> the step that lifts it to the next


def migrate(data: Mapping[str, Any], source: str | Path) -> Mapping[str, Any]:
    """A card of an older version lifted to this one step by step, so older models load without retraining."""
    version = data.get("card_version", CARD_VERSION)
    while version in MIGRATIONS:
        data = MIGRATIONS[version](dict(data))
        version = data["card_version"]
    if version != CARD_VERSION:
        raise ModelLoadError(f"{source}: card version {version!r}, but this code reads version {CARD_VERSION}; {RETRAIN}")
    return data


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
    """One row per training image: label, source, fold and out-of-fold probabilities (core.training.card_building.prediction_rows)."""
    return json.loads(checked_bytes(directory, PREDICTIONS_FILE, card.predictions_sha256))


def read_history(directory: str | Path, card: ModelCard) -> dict:
    """The loss and accuracy of every epoch: {"folds": [...], "final": {...}}."""
    return json.loads(checked_bytes(directory, HISTORY_FILE, card.history_sha256))


def list_model_dirs(root: str | Path = MODELS_DIR) -> list[Path]:
    """Model folders under models/, the default first."""
    found = sorted(p.parent for p in Path(root).glob(f"*/{CARD_FILE}"))
    return sorted(found, key=lambda p: (p.name != "default", p.name))
