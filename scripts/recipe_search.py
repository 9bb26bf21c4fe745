"""Compare training recipes by how they answer the three questions on sources they never saw: the search behind the
default model.

    python -m scripts.recipe_search ../shared/datasets/chest_xray_multisource [--json results.json]

Every recipe trains the default's head on frozen MobileNetV2 features by the same 5 folds grouped by patient and the
same leave-one-source-out runs (with those folds inside, core/training/validation.py). Each question is calibrated
and given its operating point on the grouped folds (core/training/questions.py), then scored on every left-out
pairing the other sources can teach. Recipes are ranked by their worst left-out pairing: the lowest AUROC over the
COVID-19 and abnormal questions (no left-out source can teach pneumonia type). Prints a markdown table. About 40
minutes on 2 CPU cores; needs the ImageNet weights in the Keras cache.
"""
import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

from core.data.folders import load_images
from core.data.manifest import grouped_folds, read_manifest
from core.model import calibration
from core.model.card import as_json
from core.training import questions
from core.training.pipeline import DEFAULT_EPOCHS
from core.training.recipe import Recipe
from core.training.trainer import N_CLASSES, Trainer
from core.training.validation import fold_numbers

SEED = 42
Projection = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Candidate:
    name: str
    recipe: Recipe = Recipe()
    mirror_average: bool = False  # test-time: average the head's output on the film and on its mirror image
    nullspace_steps: int = -1  # >= 0: project source directions out of the features first (0: mean differences only)


CANDIDATES = (
    Candidate("shipped: CLAHE, 2 restyled copies, balanced weights, set loss"),
    Candidate("+ mirror test-time averaging", mirror_average=True),
    Candidate("+ 8 % border crop inside the model", Recipe(border_crop=0.08)),
    Candidate("+ 8 % border crop and mirror averaging", Recipe(border_crop=0.08), mirror_average=True),
    Candidate("+ source directions removed (within-label mean differences)", nullspace_steps=0),
    Candidate("+ source directions removed (mean differences, then 5 rounds of a source probe)", nullspace_steps=5),
    Candidate("+ 4 restyled copies instead of 2", Recipe(restyled_copies=4)),
)


def source_nullspace(features: np.ndarray, labels: np.ndarray, sources: np.ndarray, steps: int) -> Projection:
    """Standardise, then remove the directions that tell the source within a label: the differences between each
    label's per-source means, and the weights of `steps` rounds of a logistic source probe (iterative nullspace
    projection, Ravfogel et al. 2020). Labels are centred first so that the disease's own directions stay."""
    mean, scale = features.mean(axis=0), features.std(axis=0) + 1e-6
    centred = (features - mean) / scale
    for label in np.unique(labels):
        centred[labels == label] -= centred[labels == label].mean(axis=0)
    directions = [centred[(labels == label) & (sources == s)].mean(axis=0) for label in np.unique(labels)
                  for s in np.unique(sources[labels == label])
                  if len(np.unique(sources[labels == label])) > 1 and np.sum((labels == label) & (sources == s)) >= 10]
    basis = np.linalg.qr(np.array(directions).T)[0]
    for _ in range(steps):
        residual = centred - centred @ basis @ basis.T
        probe = LogisticRegression(C=0.01, max_iter=300).fit(residual, sources)
        basis = np.linalg.qr(np.concatenate([basis, probe.coef_.T], axis=1))[0]

    def project(x: np.ndarray) -> np.ndarray:
        z = (x - mean) / scale
        return z - z @ basis @ basis.T
    return project


def _unchanged(x: np.ndarray) -> np.ndarray:
    return x


def held_out(trainer: Trainer, candidate: Candidate, train_idx: np.ndarray, test_idx: np.ndarray) -> np.ndarray:
    """test_idx's probabilities from the candidate's head trained on train_idx."""
    if candidate.nullspace_steps < 0:
        head, _ = trainer.fit_head(train_idx, candidate.name)
        project = _unchanged
    else:
        project = source_nullspace(trainer.features[train_idx], trainer.labels[train_idx], trainer.sources[train_idx],
                                   candidate.nullspace_steps)
        plain, copies = trainer.features, trainer.feature_copies
        trainer.features, trainer.feature_copies = project(plain), [project(c) for c in copies]
        head, _ = trainer.fit_head(train_idx, candidate.name)
        trainer.features, trainer.feature_copies = plain, copies
    views = trainer.feature_copies[:2] if candidate.mirror_average else trainer.feature_copies[:1]
    return np.mean([head.predict(project(v[test_idx]), batch_size=256, verbose=0) for v in views], axis=0)


def evaluate(trainer: Trainer, candidate: Candidate, folds: list, films: questions.Films) -> dict:
    fold_of = fold_numbers(folds, len(trainer.labels))
    oof = np.zeros((len(trainer.labels), N_CLASSES))
    for train_idx, test_idx in folds:
        oof[test_idx] = held_out(trainer, candidate, train_idx, test_idx)
    runs = {}
    for source in sorted(set(trainer.sources)):
        runs[source] = np.zeros_like(oof)
        for k in range(len(folds)):
            train_idx = np.flatnonzero((trainer.sources != source) & (fold_of != k))
            runs[source][fold_of == k] = held_out(trainer, candidate, train_idx, np.flatnonzero(fold_of == k))
    exact = trainer.labels < N_CLASSES
    temperature = calibration.fit_temperature(trainer.labels[exact], oof[exact])
    calibrated = calibration.apply_temperature(oof, temperature)
    rules = questions.fit_rules(trainer.labels, calibrated)
    validation = questions.validate(rules, films, calibrated,
                                    {s: calibration.apply_temperature(p, temperature) for s, p in runs.items()})
    worst = min((v.worst_left_out for name, v in validation.items() if v.worst_left_out),
                key=lambda r: r.figures.auroc)
    return {"four_class_accuracy": float((calibrated[exact].argmax(axis=1) == trainer.labels[exact]).mean()),
            "questions": {name: as_json(v) for name, v in validation.items()},
            "worst": {"source": worst.source, "auroc": worst.figures.auroc}}


def _left_out(result: dict, name: str) -> str:
    rows = result["questions"][name]["left_out"]
    return ", ".join(f"{r['source']} {r['figures']['auroc']:.3f}" for r in rows) or "–"


def table(results: dict[str, dict]) -> str:
    lines = ["| recipe | four-class accuracy (grouped CV) | COVID-19 AUROC (grouped CV) | COVID-19 AUROC, left out | "
             "abnormal AUROC (grouped CV) | abnormal AUROC, left out | pneumonia type AUROC (grouped CV) | worst left out |",
             "|---" * 8 + "|"]
    for name, r in results.items():
        q = r["questions"]
        lines.append(f"| {name} | {r['four_class_accuracy']:.1%} | {q['covid19']['grouped_cv']['auroc']:.3f} "
                     f"| {_left_out(r, 'covid19')} | {q['abnormal']['grouped_cv']['auroc']:.3f} | {_left_out(r, 'abnormal')} "
                     f"| {q['pneumonia_type']['grouped_cv']['auroc']:.3f} | {r['worst']['source']} {r['worst']['auroc']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir", help="a multi-source dataset folder with manifest.csv")
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args()
    samples = read_manifest(args.data_dir)
    labels, sources = np.array([s.label for s in samples]), np.array([s.source for s in samples])
    films = questions.Films.of(labels, sources, np.array([s.age_group for s in samples]))
    folds = grouped_folds(labels, [s.patient for s in samples], 5, SEED)
    images = load_images(samples, 224, intensity=Recipe().intensity)
    results = {}
    for crop in dict.fromkeys(c.recipe.border_crop for c in CANDIDATES):
        candidates = [c for c in CANDIDATES if c.recipe.border_crop == crop]
        most = Recipe(restyled_copies=max(c.recipe.restyled_copies for c in candidates), border_crop=crop)
        trainer = Trainer("mobilenet_v2", images, labels, sources, DEFAULT_EPOCHS["mobilenet_v2"], SEED, most)
        for candidate in candidates:
            trainer.recipe = candidate.recipe
            results[candidate.name] = evaluate(trainer, candidate, folds, films)
            print(f"done: {candidate.name}", flush=True)
    print(table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
