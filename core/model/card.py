"""The model card: what a model folder says about its model, as one frozen, versioned dataclass (no TensorFlow here).

A card is model_card.json beside model.keras. It records every training setting (backbone, input size, intensity,
epochs, recipe, folds and seed, data and the exact command), the figures of its validation, and the SHA-256 of each
file in the folder. `read_card` lifts an older card to this version (core/model/card_migration.py) and refuses one
with a missing or unknown key, a value of the wrong type at any depth or a class list other than the registry's
(core/classes.py), with a ModelLoadError naming the key and the file. Every section is typed and read-only
(core/model/card_sections.py). core/model/bundle.py loads the model and the other files the card vouches for.
"""
import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any

from core.classes import CLASS_NAMES, XrayClass
from core.hashing import sha256_of
from core.model.card_migration import CARD_VERSION, migrate
from core.model.card_sections import (
    Abstention,
    CardSectionError,
    CrossValidation,
    LinearProbe,
    RecipeSummary,
    ShortcutCheck,
    SourceValidation,
    TrainingData,
    TrainingFile,
    build,
)
from core.model.questions import QUESTION_NAMES, QuestionRule
from core.paths import DEFAULT_MODEL_DIR, MODELS_DIR

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

    @property
    def worst_left_out(self) -> LeftOutFigures | None:
        """The left-out pairing with the lowest AUROC (None when the question was never validated on a left-out source)."""
        aurocs = {i: r.figures.auroc for i, r in enumerate(self.left_out) if r.figures.auroc is not None}
        return self.left_out[min(aurocs, key=aurocs.__getitem__)] if aurocs else None


@dataclass(frozen=True, kw_only=True)
class ModelCard:
    """Every key of model_card.json, typed all the way down; None where a model was trained before the section existed
    (single_source and small_cnn have no recipe, per-source validation or questions)."""
    card_version: int
    name: str
    backbone: str
    classes: tuple[XrayClass, ...]  # model output order; must equal core.classes.CLASSES
    input_size: int  # pixels of the square model input
    input: str  # what the model expects, in words
    intensity: str  # per-image intensity normalisation before the network (core/imaging/preprocess.py)
    training_data: TrainingData  # source folder, n, counts per label (and by_source with a manifest)
    recipe: RecipeSummary | None  # how the head was trained (core.training.recipe.Recipe.describe)
    cross_validation: CrossValidation  # folds, seed and out-of-fold figures
    validation: SourceValidation | None  # per-source figures, leave-one-source-out and aims
    baseline_linear_probe: LinearProbe | None
    shortcut_check: ShortcutCheck | None
    calibration: Calibration
    threshold: float  # abstention: below this top probability the answer is Inconclusive
    ood: OodSummary
    abstention: Abstention  # the operating point behind `threshold`: coverage and accuracy there
    questions: Mapping[str, QuestionValidation] | None  # the three questions (core/model/questions.py); None before v2
    border_crop: float  # share of each side the model crops off first; Grad-CAM maps cover the rest (saliency.uncrop)
    epochs: int
    training_command: str
    trained_at: str  # ISO date
    versions: Mapping[str, str]  # tensorflow and keras
    training_files: tuple[TrainingFile, ...]  # every training image with its SHA-256; empty when not listed
    exhibit: str | None  # why a model is kept though it must never read a film
    model_sha256: str = ""  # the three SHA-256 below are set when the bundle is saved
    predictions_sha256: str = ""
    history_sha256: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | Path = CARD_FILE) -> "ModelCard":
        """The card in `data`, lifted to this version and checked: every key present and known at every depth, values
        of their type, the three questions in order, and the registry's classes in the registry's order."""
        data, version = migrate(data)
        if version != CARD_VERSION:
            raise ModelLoadError(f"{source}: card version {version!r}, but this code reads version {CARD_VERSION}; {RETRAIN}")
        try:
            card = build(cls, data, "")
        except CardSectionError as err:
            raise ModelLoadError(f"{source}: {err}; {RETRAIN}") from None
        if card.questions is not None and tuple(card.questions) != QUESTION_NAMES:
            raise ModelLoadError(f"{source}: the model card's questions are {list(card.questions)}, expected "
                                 f"{list(QUESTION_NAMES)}; {RETRAIN}")
        if tuple(c.name for c in card.classes) != CLASS_NAMES:
            raise ModelLoadError(f"{source}: the model card's classes {[c.name for c in card.classes]} differ from the "
                                 f"registry's {list(CLASS_NAMES)} (core/classes.py); {RETRAIN}")
        return card

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
        return frozenset(entry.sha256 for entry in self.training_files)

    @property
    def cv_accuracy(self) -> float:
        """Mean accuracy over the cross-validation folds (test images from the same sources as training)."""
        return self.cross_validation.accuracy.mean

    @property
    def loso_accuracy(self) -> float | None:
        """Accuracy on images of sources left out of training (each predicted by a model that never saw its source);
        None when the model was not validated across sources."""
        left_out = self.validation.leave_one_source_out if self.validation else None
        return left_out.accuracy if left_out else None


def as_json(value: Any) -> Any:
    """Dataclasses, mappings and tuples as JSON-ready dicts and lists."""
    if is_dataclass(value):
        return {f.name: as_json(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [as_json(v) for v in value]
    return value


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


def model_sha256(directory: str | Path) -> str | None:
    """The SHA-256 of a folder's model file (None without one): the one cache key for everything read from the
    folder, so a replaced folder never shows one model's card beside another model's answers. Every script run asks
    (twice), so each version of the file (its inode, size and change times) is hashed once: 10 MB costs 30 ms."""
    path = Path(directory) / MODEL_FILE
    if not path.is_file():
        return None
    version = path.stat()
    return _sha256_of_version(path, version.st_ino, version.st_size, version.st_mtime_ns, version.st_ctime_ns)


@functools.lru_cache(maxsize=16)
def _sha256_of_version(path: Path, *version: int) -> str:
    return sha256_of(path)


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
