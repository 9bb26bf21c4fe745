"""Evaluate a model on labelled images: one code path behind `python -m core.evaluate` and the metrics page.

    python -m core.evaluate DATA_DIR [--model models/default]

Prints one JSON object. Accuracy and the confusion matrix count every image by its top class, abstained or not.
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
from core.metrics import classification_summary
from core.model_store import DEFAULT_MODEL_DIR, ModelLoadError


BATCH_SIZE = 16


@dataclass(frozen=True)
class LabelledImage:
    name: str  # relative path shown to users
    label: int  # index into CLASS_NAMES
    pixels: np.ndarray | None  # decoded greyscale; None when the file could not be read
    error: str = ""  # why it could not be read


@dataclass(frozen=True)
class LabelledFiles:
    """Labelled image files decoded one at a time as they are iterated, so that one image's pixels are held at a time."""
    count: int
    decode: Callable[[], Iterator[LabelledImage]]

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[LabelledImage]:
        return self.decode()


def evaluate_images(classifier: Classifier, files: LabelledFiles,
                    progress: Callable[[int, int], None] | None = None) -> tuple[dict, list[dict]]:
    """Metrics over all readable images plus one row per image (file, true, predicted, status, probabilities).

    Each image is shrunk to the model's input as soon as it is decoded and its pixels are dropped."""
    read, inputs, analyses, unreadable = [], [], [], []
    for done, image in enumerate(files, start=1):
        if image.pixels is None:
            unreadable.append({"file": image.name, "error": image.error})
        else:
            read.append((image.name, image.label))
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
    labels = np.array([label for _, label in read])
    probabilities = np.stack([a.probabilities for a in analyses])
    statuses = [a.status for a in analyses]
    summary = {
        **classification_summary(labels, probabilities),
        "abstained": statuses.count(abstention.INCONCLUSIVE),
        "not_a_chest_xray": statuses.count(abstention.NOT_A_CHEST_XRAY),
        "unreadable": unreadable,
    }
    rows = [{"file": file, "true": CLASS_NAMES[label], "predicted": a.label, "status": a.status,
             **{f"p_{name}": p for name, p in a.probability_dict().items()}} for (file, label), a in zip(read, analyses)]
    return summary, rows


def read_labelled_folder(root: str) -> LabelledFiles:
    """The images of a folder-per-class dataset (refused now if the folder is not one); unreadable files are listed,
    not fatal."""
    samples = scan_dataset(root)

    def decode() -> Iterator[LabelledImage]:
        for sample in samples:
            try:
                yield LabelledImage(sample.relative_path, sample.label, read_image_file(sample.path).pixels)
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
