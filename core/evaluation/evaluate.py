"""Evaluate a model on labelled images: one code path behind `python -m core.cli.evaluate` and the metrics page.

    python -m core.cli.evaluate DATA_DIR [--model models/default]

Prints one JSON object. `questions` scores the three questions (core/model/questions.py) on the chest X-rays whose
answer the folder's labels give: AUROC, coverage and the share of answered films answered right at the model's
operating points (with its 95 % Wilson interval, `right_ci`). A `pneumonia_unspecified` folder counts for the first
two questions only. The four-class figures follow as detail, on the films with a class label: accuracy and the
confusion matrix count every image by its top class, abstained or not; accuracy and each class's recall come with a
95 % Wilson interval. Images whose bytes match a file the model was trained on (SHA-256, from its card) are counted
and flagged.
"""
from collections.abc import Callable

import numpy as np

from core.classes import CLASS_NAMES, LABEL_NAMES
from core.data.folders import DatasetError
from core.data.labelled import LabelledFiles
from core.evaluation.intervals import wilson_interval
from core.evaluation.metrics import classification_summary
from core.evaluation.question_figures import figures_from_classes
from core.model import abstention
from core.serving.classifier import Classifier

BATCH_SIZE = 16


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
    trained_on = classifier.card.training_hashes
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
    exact = labels < len(CLASS_NAMES)
    four_class = with_intervals(classification_summary(labels[exact], probabilities[exact])) if exact.any() else {}
    summary = {
        "questions": question_summary(classifier, labels, probabilities, statuses),
        **four_class,
        "n": len(labels),
        "abstained": statuses.count(abstention.INCONCLUSIVE),
        "not_a_chest_xray": statuses.count(abstention.NOT_A_CHEST_XRAY),
        "in_training_set": sum(seen for _, _, seen in read),
        "unreadable": unreadable,
    }
    rows = [{"file": file, "true": LABEL_NAMES[label], "predicted": a.label, "status": a.status, "in_training_set": seen,
             **{f"p_{name}": p for name, p in a.probability_dict().items()}}
            for (file, label, seen), a in zip(read, analyses, strict=True)]
    return summary, rows


def question_summary(classifier: Classifier, labels: np.ndarray, probabilities: np.ndarray, statuses: list[str]) -> dict | None:
    """Each question's figures on the chest X-rays (not-a-chest-X-ray films are left out); None for a model whose card
    has no questions."""
    if classifier.rules is None:
        return None
    kept = np.array([s != abstention.NOT_A_CHEST_XRAY for s in statuses])
    return {name: with_right_interval(figures_from_classes(rule, name, labels[kept], probabilities[kept]))
            for name, rule in classifier.rules.items()}


def with_right_interval(figures: dict) -> dict:
    """A question's figures with the 95 % Wilson interval of the share of answered films answered right."""
    answered = figures["n_answered"]
    return {**figures, "right_ci": wilson_interval(round((figures["right"] or 0) * answered), answered)}

