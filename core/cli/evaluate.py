"""Evaluate a model on a labelled folder and print one JSON summary.

    python -m core.cli.evaluate DATA_DIR [--model models/default]
"""
import argparse
import json
import sys

from core.classes import LABEL_NAMES, PNEUMONIA_UNSPECIFIED
from core.data.folders import DatasetError
from core.data.labelled import read_labelled_folder
from core.evaluation.evaluate import evaluate_images
from core.model.bundle import DEFAULT_MODEL_DIR, ModelLoadError
from core.serving.classifier import Classifier


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.cli.evaluate", description="Evaluate a model on a labelled folder.")
    parser.add_argument("data_dir", help="folder with one subfolder per label: " + ", ".join(LABEL_NAMES)
                        + f" ({PNEUMONIA_UNSPECIFIED}: a pneumonia of unknown type, scored on the first two questions only)")
    parser.add_argument("--model", default=str(DEFAULT_MODEL_DIR), help="model folder (default: models/default)")
    args = parser.parse_args(argv)
    try:
        summary, _ = evaluate_images(Classifier.from_dir(args.model), read_labelled_folder(args.data_dir, LABEL_NAMES))
    except (DatasetError, ModelLoadError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    if summary["in_training_set"]:
        print(f"warning: {summary['in_training_set']} of {summary['n']} images are files the model was trained on "
              "(same SHA-256): the figures above are inflated by them", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
