"""Evaluate a model on labelled images: one code path behind `python -m core.evaluate` and the metrics page.

    python -m core.evaluate DATA_DIR [--model models/default]

Prints one JSON object. Accuracy and the confusion matrix count every image by its top class, abstained or not.
"""
import argparse
import json
import sys
from dataclasses import dataclass
from typing import Callable

import numpy as np

from core import abstention
from core.classes import CLASS_NAMES
from core.dataset import DatasetError, scan_dataset
from core.imaging import ImageDecodeError, read_image_file
from core.inference import Analysis, Classifier
from core.metrics import classification_summary
from core.model_store import DEFAULT_MODEL_DIR, ModelLoadError


@dataclass(frozen=True)
class LabelledImage:
    name: str  # relative path shown to users
    label: int  # index into CLASS_NAMES
    pixels: np.ndarray  # decoded greyscale


def evaluate_images(classifier: Classifier, images: list[LabelledImage], unreadable: list[dict] | None = None,
                    progress: Callable[[int, int], None] | None = None) -> tuple[dict, list[dict]]:
    """Metrics over all images plus one row per image (file, true, predicted, status, probabilities)."""
    if not images:
        raise DatasetError("no readable images to evaluate")
    analyses: list[Analysis] = []
    for start in range(0, len(images), 16):
        analyses += classifier.classify_batch([im.pixels for im in images[start:start + 16]])
        if progress:
            progress(len(analyses), len(images))
    labels = np.array([im.label for im in images])
    probabilities = np.stack([a.probabilities for a in analyses])
    statuses = [a.status for a in analyses]
    summary = {
        **classification_summary(labels, probabilities),
        "abstained": statuses.count(abstention.INCONCLUSIVE),
        "not_a_chest_xray": statuses.count(abstention.NOT_A_CHEST_XRAY),
        "unreadable": unreadable or [],
    }
    rows = [{"file": im.name, "true": CLASS_NAMES[im.label], "predicted": a.label, "status": a.status,
             **{f"p_{name}": p for name, p in a.probability_dict().items()}} for im, a in zip(images, analyses)]
    return summary, rows


def read_labelled_folder(root: str, progress: Callable[[int, int], None] | None = None) -> tuple[list[LabelledImage], list[dict]]:
    """Decode every image of a folder-per-class dataset; unreadable files are listed, not fatal."""
    images, unreadable = [], []
    samples = scan_dataset(root)
    for i, sample in enumerate(samples):
        try:
            images.append(LabelledImage(sample.relative_path, sample.label, read_image_file(sample.path).pixels))
        except ImageDecodeError as err:
            unreadable.append({"file": sample.relative_path, "error": str(err)})
        if progress:
            progress(i + 1, len(samples))
    return images, unreadable


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.evaluate", description="Evaluate a model on a labelled folder.")
    parser.add_argument("data_dir", help="folder with one subfolder per class: " + ", ".join(CLASS_NAMES))
    parser.add_argument("--model", default=str(DEFAULT_MODEL_DIR), help="model folder (default: models/default)")
    args = parser.parse_args(argv)
    try:
        images, unreadable = read_labelled_folder(args.data_dir)
        summary, _ = evaluate_images(Classifier.from_dir(args.model), images, unreadable)
    except (DatasetError, ModelLoadError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
