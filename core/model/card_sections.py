"""The typed sections of a model card, and `build`, which turns a card's JSON into them: every key present and known,
every value of its type, and nothing mutable (dataclasses are frozen, mappings read-only, lists tuples), so a card
shared through a cache cannot be changed by one of its readers. Errors name the key path ("cross_validation.pooled.n").
"""
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from types import MappingProxyType, NoneType, UnionType
from typing import Any, get_args, get_origin, get_type_hints


class CardSectionError(ValueError):
    """A value of the card's JSON that does not fit its section: `key` is its path in the card ("" for the card)."""

    def __init__(self, key: str, problem: str):
        super().__init__(f"the model card's {key!r} {problem}" if key else f"the model card {problem}")
        self.key = key


@dataclass(frozen=True)
class SourcePopulation:
    n: int
    labels: Mapping[str, int]
    age_groups: Mapping[str, int]


@dataclass(frozen=True)
class TrainingData:
    source: str  # the data folder as given to the training command
    n: int
    counts: Mapping[str, int]  # images per label
    by_source: Mapping[str, SourcePopulation] | None  # None for cards before sources were recorded


@dataclass(frozen=True)
class TrainingFile:
    file: str  # path inside the data folder
    sha256: str


@dataclass(frozen=True)
class RecipeSummary:
    """How the head was trained, in words and as settings (core.training.recipe.Recipe.describe)."""
    head: str
    loss: str
    sample_weights: str
    feature_copies: str
    intensity_normalisation: str
    border: str
    restyled_copies: int
    balanced: bool
    coarse_label: bool
    intensity: str
    border_crop: float


@dataclass(frozen=True)
class FoldSpread:
    """One figure over the cross-validation folds (population std: the folds are the whole population)."""
    mean: float
    std: float
    per_fold: tuple[float, ...]


@dataclass(frozen=True)
class ClassFigures:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class PooledFigures:
    """Every out-of-fold prediction scored at once (core.evaluation.metrics.classification_summary)."""
    n: int
    accuracy: float
    macro_f1: float
    ece: float
    per_class: Mapping[str, ClassFigures]
    confusion_matrix: tuple[tuple[int, ...], ...]  # rows true, columns predicted


@dataclass(frozen=True)
class CrossValidation:
    folds: int
    seed: int
    grouped_by: str | None  # "patient"; None for cards whose folds were not grouped
    accuracy: FoldSpread
    macro_f1: FoldSpread
    covid19_recall: FoldSpread
    pooled: PooledFigures
    figures_are: str  # what the figures estimate, in words


@dataclass(frozen=True)
class LinearProbe:
    """The baseline the head has to beat: a logistic regression on the backbone's pooled features."""
    recipe: str
    accuracy: FoldSpread
    macro_f1: FoldSpread
    covid19_recall: FoldSpread


@dataclass(frozen=True)
class Abstention:
    """The operating point behind the card's threshold (core.model.abstention.choose_threshold)."""
    threshold: float
    coverage: float  # share of films answered
    accuracy: float  # on the films answered
    target_accuracy: float
    target_met: bool


@dataclass(frozen=True)
class CentralBox:
    x: tuple[float, float]  # share of the width where the box starts and ends
    y: tuple[float, float]


@dataclass(frozen=True)
class BurnedInLabelTest:
    """Held-out films without COVID-19 stamped with a text label: how many the stamp alone turned COVID-19."""
    images: int
    mean_covid19_probability_change: float
    turned_covid19: int
    accuracy_plain: float
    accuracy_stamped: float


@dataclass(frozen=True)
class ShortcutCheck:
    """Where Grad-CAM looks (share of its mass in the central box, per class) and the burned-in label test."""
    central_box: CentralBox
    even_spread_share: float  # the box's share of the film: what an even spread would put inside it
    central_mass_by_class: Mapping[str, float]
    burned_in_label_test: BurnedInLabelTest | None  # None for cards before the test


@dataclass(frozen=True)
class LabelRecall:
    n: int
    recall: float | None


@dataclass(frozen=True)
class SourceFigures:
    """Four-class figures of one source (core.evaluation.by_source.figures); None where nothing measures one."""
    n: int
    recall: Mapping[str, LabelRecall]
    accuracy: float | None
    ece: float | None
    non_covid19_called_covid19: float | None
    covid19_recall: float | None
    not_a_chest_xray: float | None


@dataclass(frozen=True)
class Headline:
    """The figures the aims are set on (core.evaluation.by_source.headline)."""
    adult_non_covid19_called_covid19: float | None
    adult_normal_called_healthy: float | None
    covid19_recall: float | None
    covid19_auroc: float | None
    n_adult_non_covid19: int
    n_adult_normal: int
    n_covid19: int


@dataclass(frozen=True)
class GroupedRun:
    headline: Headline
    per_source: Mapping[str, SourceFigures]


@dataclass(frozen=True)
class LeftOutRun:
    headline: Headline
    accuracy: float | None
    per_source: Mapping[str, SourceFigures]


@dataclass(frozen=True)
class SourceAudit:
    """How well the features tell a film's source, beside its class (core.evaluation.by_source.source_audit)."""
    source_balanced_accuracy: float
    source_chance: float
    class_balanced_accuracy: float
    class_chance: float
    method: str


@dataclass(frozen=True)
class Aim:
    figure: str
    where: str
    aim: str  # "at most 0.1"
    value: float | None
    met: bool | None  # None where nothing measures the figure


@dataclass(frozen=True)
class SourceValidation:
    """Per-source figures of the grouped folds and, with several sources, of each source left out."""
    grouped_by: str
    sources: Mapping[str, int]
    grouped_cv: GroupedRun
    source_audit: SourceAudit | None
    leave_one_source_out: LeftOutRun | None  # None with one source
    aims: tuple[Aim, ...] | None


def build(kind: Any, value: Any, key: str) -> Any:
    """`value` (JSON) as `kind`: a dataclass by its fields, Mapping[str, X] read-only, tuple[X, ...] from a list,
    X | None, or a plain int, float (an int will do), str or bool. Raises CardSectionError naming the key path."""
    if get_origin(kind) is UnionType:
        if value is None and NoneType in get_args(kind):
            return None
        (inner,) = [k for k in get_args(kind) if k is not NoneType]
        return build(inner, value, key)
    if isinstance(kind, type) and is_dataclass(kind):
        return _build_dataclass(kind, value, key)
    origin, args = get_origin(kind), get_args(kind)
    if origin is Mapping:
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise CardSectionError(key, f"is {_shown(value)}, not a JSON object")
        return MappingProxyType({k: build(args[1], v, f"{key}.{k}") for k, v in value.items()})
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise CardSectionError(key, f"is {_shown(value)}, not a list")
        items = args[:1] * len(value) if args[-1] is Ellipsis else args
        if len(value) != len(items):
            raise CardSectionError(key, f"has {len(value)} items, not {len(items)}")
        return tuple(build(kind, v, f"{key}[{i}]") for i, (kind, v) in enumerate(zip(items, value, strict=True)))
    if not _is_a(value, kind):
        raise CardSectionError(key, f"is {_shown(value)}, of the wrong type")
    return value


def _build_dataclass(kind: type, value: Any, key: str) -> Any:
    if not isinstance(value, Mapping):
        raise CardSectionError(key, f"is {_shown(value)}, not a JSON object")
    names = [f.name for f in fields(kind)]
    missing = [name for name in names if name not in value]
    if missing:
        raise CardSectionError(key, f"has no {', '.join(map(repr, missing))}")
    unknown = sorted(set(value) - set(names))
    if unknown:
        raise CardSectionError(key, f"has unknown key(s) {', '.join(map(repr, unknown))}")
    hints = get_type_hints(kind)
    return kind(**{name: build(hints[name], value[name], f"{key}.{name}" if key else name) for name in names})


def _is_a(value: Any, kind: type) -> bool:
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(value, kind)


def _shown(value: Any) -> str:
    return repr(str(value)[:40])
