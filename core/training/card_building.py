"""The card and the stored predictions of a model about to be saved (save_bundle adds the SHA-256 of its files)."""
import datetime
import shlex
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from core.classes import CLASS_NAMES, CLASSES, LABEL_NAMES
from core.data.folders import Sample
from core.evaluation import by_source
from core.evaluation.metrics import classification_summary
from core.hashing import sha256_of
from core.model import calibration
from core.model.card import CARD_VERSION, Calibration, ModelCard, OodSummary, QuestionValidation, as_json
from core.training.recipe import Recipe
from core.training.validation import LeftOutRuns, cv_figures


@dataclass(frozen=True)
class TrainSettings:
    """What `python -m core.cli.train` was asked for."""
    data_dir: str
    out: str
    backbone: str
    epochs: int
    img_size: int
    folds: int
    seed: int
    recipe: Recipe

    @property
    def command(self) -> str:
        """The command line that reproduces the run, every setting spelled out (defaults may change later)."""
        options = {"--out": self.out, "--backbone": self.backbone, "--epochs": self.epochs, "--img-size": self.img_size,
                   "--folds": self.folds, "--restyled-copies": self.recipe.restyled_copies,
                   "--intensity": self.recipe.intensity, "--border-crop": self.recipe.border_crop, "--seed": self.seed}
        words = [self.data_dir, *(str(w) for option in options.items() for w in option)]
        return "python -m core.cli.train " + " ".join(map(shlex.quote, words))


@dataclass(frozen=True)
class Outcome:
    """What validation found, for the card."""
    oof: np.ndarray  # raw out-of-fold probabilities
    fold_of: np.ndarray
    temperature: float
    operating_point: dict
    ood: OodSummary
    probe: dict | None
    shortcut: dict
    validation: dict | None
    questions: dict[str, QuestionValidation]


def validation_by_source(samples: list[Sample], labels: np.ndarray, oof: np.ndarray, cv_rejected: np.ndarray,
                         loso: tuple[np.ndarray, np.ndarray] | None, audit: dict | None) -> dict:
    """Per-source four-class figures of the grouped folds and of leave-one-source-out, with the aims they are held to."""
    sources, ages = np.array([s.source for s in samples]), np.array([s.age_group for s in samples])
    grouped = {"headline": by_source.headline(labels, oof, ages), "per_source": by_source.per_source(labels, oof, sources, cv_rejected)}
    out: dict[str, object] = {"grouped_by": "patient", "sources": {s: int((sources == s).sum()) for s in sorted(set(sources))},
           "grouped_cv": grouped, "source_audit": audit, "leave_one_source_out": None, "aims": None}
    if loso is not None:
        probabilities, rejected = loso
        out["leave_one_source_out"] = {
            "headline": by_source.headline(labels, probabilities, ages),
            "accuracy": by_source.figures(labels, probabilities)["accuracy"],
            "per_source": by_source.per_source(labels, probabilities, sources, rejected),
        }
        out["aims"] = by_source.check_aims(out["leave_one_source_out"], grouped)  # type: ignore[arg-type]
    return out


def build_card(settings: TrainSettings, samples: list[Sample], labels: np.ndarray, outcome: Outcome) -> ModelCard:
    """The card of a model about to be saved, built as JSON and read back through the card's checks."""
    exact = labels < len(CLASSES)
    recipe = settings.recipe
    ece_after = classification_summary(labels[exact], calibration.apply_temperature(outcome.oof[exact], outcome.temperature))["ece"]
    card = {
        "card_version": CARD_VERSION,
        "name": Path(settings.out).name,
        "backbone": settings.backbone,
        "classes": CLASSES,
        "input_size": settings.img_size,
        "input": "0-255 greyscale pixels resized to a square, intensity-normalised as `intensity` says, replicated to 3 "
                 "channels; scaling to the backbone's range (and the border crop) is inside the model",
        "intensity": recipe.intensity,
        "training_data": {
            "source": settings.data_dir,
            "n": len(samples),
            "counts": {name: int((labels == i).sum()) for i, name in enumerate(LABEL_NAMES) if np.any(labels == i)},
            "by_source": _population(samples),
        },
        "recipe": recipe.describe(),
        "cross_validation": {
            "folds": settings.folds, "seed": settings.seed, "grouped_by": "patient",
            **cv_figures(labels, outcome.oof, outcome.fold_of),
            "figures_are": "out-of-fold estimates on the training images (folds grouped by patient), not an independent test set",
        },
        "validation": outcome.validation,
        "baseline_linear_probe": outcome.probe,
        "shortcut_check": outcome.shortcut,
        "calibration": Calibration(temperature=outcome.temperature, ece_after=ece_after,
                                   ece_before=classification_summary(labels[exact], outcome.oof[exact])["ece"]),
        "threshold": outcome.operating_point["threshold"],
        "ood": outcome.ood,
        "abstention": outcome.operating_point,
        "questions": outcome.questions,
        "border_crop": recipe.border_crop,
        "epochs": settings.epochs,
        "training_command": settings.command,
        "trained_at": datetime.date.today().isoformat(),
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
        "training_files": [{"file": s.relative_path, "sha256": s.sha256 or sha256_of(s.path)} for s in samples],
        "exhibit": None,
        "model_sha256": "", "predictions_sha256": "", "history_sha256": "",
    }
    return ModelCard.from_dict(as_json(card), settings.out)


def _population(samples: list[Sample]) -> dict[str, dict]:
    """For each source: how many images, of which labels and which age groups."""
    out: dict[str, dict] = {}
    for s in samples:
        entry = out.setdefault(s.source, {"n": 0, "labels": {}, "age_groups": {}})
        entry["n"] += 1
        entry["labels"][LABEL_NAMES[s.label]] = entry["labels"].get(LABEL_NAMES[s.label], 0) + 1
        entry["age_groups"][s.age_group] = entry["age_groups"].get(s.age_group, 0) + 1
    return dict(sorted(out.items()))


def _probabilities(row: np.ndarray) -> dict[str, float]:
    return dict(zip(CLASS_NAMES, map(float, row), strict=True))


def prediction_rows(samples: list[Sample], oof: np.ndarray, fold_of: np.ndarray, runs: LeftOutRuns | None,
                    rejected: np.ndarray | None) -> list[dict]:
    """One row per training image: its label, source, fold and out-of-fold probabilities (raw softmax); with several
    sources also the probabilities of the model that never saw its source, whether that run's not-a-chest-X-ray
    check rejected it, and its predictions in every leave-one-source-out run (core/training/questions.py pairs them)."""
    sources = np.array([s.source for s in samples])
    own = None if runs is None else runs.own_source(sources)
    rows = []
    for i, s in enumerate(samples):
        row = {"path": s.relative_path, "true": LABEL_NAMES[s.label], "fold": int(fold_of[i]) + 1, "source": s.source,
               "patient": s.patient, "age_group": s.age_group, "probabilities": _probabilities(oof[i])}
        if runs is not None and own is not None and rejected is not None:  # all three or none (train's LeftOutRuns)
            row["left_out_probabilities"] = _probabilities(own[i])
            row["left_out_not_a_chest_xray"] = bool(rejected[i])
            row["left_out_runs"] = {source: _probabilities(p[i]) for source, p in runs.probabilities.items()}
        rows.append(row)
    return rows
