"""Compare training recipes by how they do on sources they never saw: the search behind the default model.

    python -m scripts.recipe_search ../shared/datasets/chest_xray_multisource [--json results.json]

Every recipe trains the default's head on frozen MobileNetV2 features twice over: 5-fold cross-validation grouped
by patient, and leave-one-source-out (train on four sources, predict the fifth). Recipes are ranked by their
worst left-out source: the lower of its COVID-19 recall and 1 - the share of its non-COVID films called COVID-19.
Prints a markdown table. About 30 minutes on 2 CPU cores; needs the ImageNet weights in the Keras cache.
"""
import argparse
import json
from dataclasses import dataclass
from functools import partial

import cv2
import numpy as np

from core.classes import CLASSES
from core.data.folders import load_images
from core.data.manifest import grouped_folds, read_manifest, source_splits
from core.evaluation import by_source
from core.imaging.preprocess import CLAHE, NO_NORMALISATION, normalise_intensity
from core.model import calibration
from core.model.training import DEFAULT_EPOCHS, Recipe, Trainer

SEED = 42


def _crop_borders(image: np.ndarray, share: float = 0.1) -> np.ndarray:
    margin = int(share * image.shape[0])
    return cv2.resize(image[margin:-margin, margin:-margin], image.shape[::-1], interpolation=cv2.INTER_AREA)


INTENSITY = {"none": None, "CLAHE": partial(normalise_intensity, method=CLAHE), "histogram equalisation": cv2.equalizeHist,
             "10 % border crop": _crop_borders}


@dataclass(frozen=True)
class Candidate:
    name: str
    recipe: Recipe
    intensity: str = "none"


CANDIDATES = (  # Recipe.intensity is applied here through `intensity`, with the search-only image changes
    Candidate("data alone: plain loss, coarse label left out, no weights", Recipe(0, False, False, NO_NORMALISATION)),
    Candidate("+ coarse label (set loss)", Recipe(0, False, True, NO_NORMALISATION)),
    Candidate("+ label-and-source balanced weights", Recipe(0, intensity=NO_NORMALISATION)),
    Candidate("+ 2 restyled copies", Recipe(2, intensity=NO_NORMALISATION)),
    Candidate("+ CLAHE on each image (shipped default)", Recipe(2), "CLAHE"),
    Candidate("2 restyled copies, histogram-equalised images", Recipe(2, intensity=NO_NORMALISATION), "histogram equalisation"),
    Candidate("2 restyled copies, 10 % border crop", Recipe(2, intensity=NO_NORMALISATION), "10 % border crop"),
)


def held_out_probabilities(trainer: Trainer, splits: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Each image predicted by the head trained on the split that holds it out."""
    probabilities = np.zeros((len(trainer.labels), len(CLASSES)))
    for k, (train_idx, test_idx) in enumerate(splits):
        head, _ = trainer.fit_head(train_idx, f"{trainer.recipe} split {k + 1}/{len(splits)}")
        probabilities[test_idx] = head.predict(trainer.features[test_idx], verbose=0)
    return probabilities


def worst_source(per_source: dict[str, dict]) -> tuple[str, float]:
    """The left-out source with the lowest of COVID-19 recall and 1 - non-COVID films called COVID-19."""
    def score(f: dict) -> float:
        called = f["non_covid19_called_covid19"]
        return min(v for v in (f["covid19_recall"], None if called is None else 1 - called) if v is not None)
    return min(((s, score(f)) for s, f in per_source.items()), key=lambda pair: pair[1])


def evaluate(trainer: Trainer, samples: list, folds: list) -> dict:
    labels, ages = trainer.labels, np.array([s.age_group for s in samples])
    grouped = held_out_probabilities(trainer, folds)
    exact = labels < len(CLASSES)
    calibrated = calibration.apply_temperature(grouped, calibration.fit_temperature(labels[exact], grouped[exact]))
    left_out = held_out_probabilities(trainer, list(source_splits(trainer.sources).values()))
    per_source = by_source.per_source(labels, left_out, trainer.sources)
    source, score = worst_source(per_source)
    return {"grouped_cv": {"accuracy": by_source.figures(labels, calibrated)["accuracy"],
                           "ece": by_source.figures(labels, calibrated)["ece"],
                           "per_source": by_source.per_source(labels, calibrated, trainer.sources)},
            "left_out": {"headline": by_source.headline(labels, left_out, ages), "per_source": per_source,
                         "worst_source": source, "worst_score": score}}


def table(results: dict[str, dict]) -> str:
    lines = ["| recipe | grouped CV accuracy | ECE | left out: adult non-COVID called COVID-19 | adult normal called Healthy "
             "| COVID-19 recall | COVID-19 AUROC | worst source (score) |", "|---" * 8 + "|"]
    for name, r in results.items():
        h = r["left_out"]["headline"]
        lines.append(f"| {name} | {r['grouped_cv']['accuracy']:.3f} | {r['grouped_cv']['ece']:.3f} "
                     f"| {h['adult_non_covid19_called_covid19']:.1%} | {h['adult_normal_called_healthy']:.1%} "
                     f"| {h['covid19_recall']:.1%} | {h['covid19_auroc']:.3f} "
                     f"| {r['left_out']['worst_source']} ({r['left_out']['worst_score']:.2f}) |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir", help="a multi-source dataset folder with manifest.csv")
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args()
    samples = read_manifest(args.data_dir)
    labels, sources = np.array([s.label for s in samples]), np.array([s.source for s in samples])
    folds = grouped_folds(labels, [s.patient for s in samples], 5, SEED)
    images = load_images(samples, 224)
    results = {}
    for intensity in dict.fromkeys(c.intensity for c in CANDIDATES):
        transform = INTENSITY[intensity]
        pixels = images if transform is None else np.stack([np.repeat(transform(im[..., 0].astype(np.uint8))[..., None], 3, 2)
                                                            for im in images]).astype(np.float32)
        candidates = [c for c in CANDIDATES if c.intensity == intensity]
        most_copies = max(c.recipe.restyled_copies for c in candidates)
        trainer = Trainer("mobilenet_v2", pixels, labels, sources, DEFAULT_EPOCHS["mobilenet_v2"], SEED, Recipe(most_copies))
        for candidate in candidates:
            trainer.recipe = candidate.recipe
            results[candidate.name] = evaluate(trainer, samples, folds)
            print(f"done: {candidate.name}", flush=True)
    print(table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
