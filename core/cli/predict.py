"""Classify and explain X-ray files from the command line.

    python -m core.cli.predict FILE [FILE...] [--model DIR] [--cam OUT_DIR] [--method gradcam|gradcam++|scorecam]

Prints one JSON object per file: file, label, display_label, probabilities, status and questions; or file and
error. `questions` holds the three answers (core/model/questions.py), each {"probability", "answer"}:
covid19 and abnormal answer yes / no / inconclusive, pneumonia_type bacterial / viral / inconclusive (its
probability is P(bacterial | pneumonia)). An image that is not a chest X-ray has status not_a_chest_xray and null
label, display_label and questions.
Exits 2 if any file failed.
"""
import argparse
import json
import sys
from pathlib import Path

import cv2

from core.imaging.decode import ImageDecodeError, read_image_file
from core.model.abstention import NOT_A_CHEST_XRAY
from core.model.bundle import DEFAULT_MODEL_DIR, ModelLoadError
from core.serving.classifier import Analysis, Classifier
from core.serving.saliency import METHODS, Explainer, GradCAM, overlay


def analysis_json(file: str, analysis: Analysis) -> dict:
    """One file's answer; an image that is not a chest X-ray gets no class (label and display_label are null)."""
    has_class = analysis.status != NOT_A_CHEST_XRAY
    return {"file": file, "label": analysis.label if has_class else None,
            "display_label": analysis.display_label if has_class else None,
            "probabilities": analysis.probability_dict(), "status": analysis.status, "questions": analysis.questions_json()}


def write_overlay(path: Path, pixels, cam) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(overlay(pixels, cam), cv2.COLOR_RGB2BGR))


def predict_file(classifier: Classifier, file: str, cam_dir: Path | None, method: type[Explainer]) -> dict:
    decoded = read_image_file(file)
    analysis = classifier.analyse(decoded.pixels)
    result = analysis_json(file, analysis)
    if cam_dir is not None:
        cam = classifier.explainer(method)(classifier.model_input(decoded.pixels)[None], analysis.top)[0]
        result["cam"] = str(cam_dir / f"{Path(file).stem}_{method.key}.png")
        write_overlay(Path(result["cam"]), decoded.pixels, cam)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.cli.predict", description="Classify chest X-ray files.")
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument("--model", default=str(DEFAULT_MODEL_DIR), help="model folder (default: models/default)")
    parser.add_argument("--cam", type=Path, metavar="OUT_DIR", help="write a heatmap overlay PNG per file here")
    parser.add_argument("--method", choices=[m.key for m in METHODS], default=GradCAM.key)
    args = parser.parse_args(argv)
    try:
        classifier = Classifier.from_dir(args.model)
    except ModelLoadError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    method, failed = next(m for m in METHODS if m.key == args.method), False
    for file in args.files:
        try:
            result = predict_file(classifier, file, args.cam, method)
        except ImageDecodeError as err:
            result, failed = {"file": file, "error": str(err)}, True
        except OSError as err:
            result, failed = {"file": file, "error": f"could not write the overlay: {err.strerror}"}, True
        print(json.dumps(result), flush=True)
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
