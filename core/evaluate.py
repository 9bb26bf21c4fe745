"""Evaluate a model on labelled images: one code path behind `python -m core.evaluate` and the metrics page.

    python -m core.evaluate DATA_DIR [--model models/default]

Prints one JSON object. Accuracy and the confusion matrix count every image by its top class, abstained or not;
accuracy and each class's recall come with a 95 % Wilson interval, and images whose bytes match a file the model
was trained on (SHA-256, from its card) are counted and flagged.
"""
import argparse
import json
import sys
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from core import abstention
from core.classes import CLASS_NAMES
from core.dataset import DatasetError, scan_dataset
from core.imaging import ImageDecodeError, read_image_file
from core.inference import Classifier
from core.intervals import wilson_interval
from core.metrics import classification_summary
from core.model_store import DEFAULT_MODEL_DIR, ModelLoadError, sha256_of, training_hashes


BATCH_SIZE = 16


@dataclass(frozen=True)
class LabelledImage:
    name: str  # relative path shown to users
    label: int  # index into CLASS_NAMES
    pixels: np.ndarray | None  # decoded greyscale; None when the file could not be read
    error: str = ""  # why it could not be read
    sha256: str = ""  # of the file's bytes, to recognise the model's own training files


@dataclass(frozen=True)
class LabelledFiles:
    """Labelled image files decoded one at a time as they are iterated, so that one image's pixels are held at a time."""
    count: int
    decode: Callable[[], Iterator[LabelledImage]]

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[LabelledImage]:
        return self.decode()


def with_intervals(summary: dict) -> dict:
    """The summary with 95 % Wilson intervals for the accuracy and each class's recall (from its confusion matrix)."""
    matrix = np.array(summary["confusion_matrix"])
    per_class = {name: {**figures, "recall_ci": wilson_interval(matrix[i, i], matrix[i].sum())}
                 for i, (name, figures) in enumerate(summary["per_class"].items())}
    return {**summary, "accuracy_ci": wilson_interval(np.trace(matrix), matrix.sum()), "per_class": per_class}


def evaluate_images(classifier: Classifier, files: LabelledFiles,
                    progress: Callable[[int, int], None] | None = None) -> tuple[dict, list[dict]]:
    """Metrics over all readable images plus one row per image (file, true, predicted, status, probabilities,
    whether it is one of the model's training files).

    Each image is shrunk to the model's input as soon as it is decoded and its pixels are dropped."""
    trained_on = training_hashes(classifier.card)
    read, inputs, analyses, unreadable = [], [], [], []
    for done, image in enumerate(files, start=1):
        if image.pixels is None:
            unreadable.append({"file": image.name, "error": image.error})
        else:
            read.append((image.name, image.label, image.sha256 in trained_on))
            inputs.append(classifier.model_input(image.pixels))
        if len(inputs) == BATCH_SIZE:
            analyses += classifier.classify_inputs(np.stack(inputs))
            inputs.clear()
        if progress:
            progress(done, len(files))
    if inputs:
        analyses += classifier.classify_inputs(np.stack(inputs))
    if not read:
        reasons = "; ".join(item["error"] for item in unreadable)
        raise DatasetError("no readable images to evaluate" + (f" ({reasons})" if reasons else ""))
    labels = np.array([label for _, label, _ in read])
    probabilities = np.stack([a.probabilities for a in analyses])
    statuses = [a.status for a in analyses]
    summary = {
        **with_intervals(classification_summary(labels, probabilities)),
        "abstained": statuses.count(abstention.INCONCLUSIVE),
        "not_a_chest_xray": statuses.count(abstention.NOT_A_CHEST_XRAY),
        "in_training_set": sum(seen for _, _, seen in read),
        "unreadable": unreadable,
    }
    rows = [{"file": file, "true": CLASS_NAMES[label], "predicted": a.label, "status": a.status, "in_training_set": seen,
             **{f"p_{name}": p for name, p in a.probability_dict().items()}} for (file, label, seen), a in zip(read, analyses)]
    return summary, rows


def read_labelled_folder(root: str) -> LabelledFiles:
    """The images of a folder-per-class dataset (refused now if the folder is not one); unreadable files are listed,
    not fatal."""
    samples = scan_dataset(root)

    def decode() -> Iterator[LabelledImage]:
        for sample in samples:
            try:
                pixels = read_image_file(sample.path).pixels
                yield LabelledImage(sample.relative_path, sample.label, pixels, sha256=sha256_of(sample.path))
            except ImageDecodeError as err:
                yield LabelledImage(sample.relative_path, sample.label, None, str(err))

    return LabelledFiles(len(samples), decode)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.evaluate", description="Evaluate a model on a labelled folder.")
    parser.add_argument("data_dir", help="folder with one subfolder per class: " + ", ".join(CLASS_NAMES))
    parser.add_argument("--model", default=str(DEFAULT_MODEL_DIR), help="model folder (default: models/default)")
    args = parser.parse_args(argv)
    try:
        summary, _ = evaluate_images(Classifier.from_dir(args.model), read_labelled_folder(args.data_dir))
    except (DatasetError, ModelLoadError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
