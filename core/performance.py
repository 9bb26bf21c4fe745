"""The figures behind the Model performance page: stored or fresh predictions, the confusion matrix with the files
in each cell, the classification report with its spread over folds, ROC, precision-recall and reliability
curves, misclassified cases, and a side-by-side table of model folders.
"""
import io
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import auc, average_precision_score, classification_report, confusion_matrix, precision_recall_curve, roc_curve

from core.calibration import apply_temperature
from core.classes import CLASS_NAMES, DISPLAY_NAMES, display_name
from core.metrics import expected_calibration_error
from core.model_store import CARD_FILE, MODEL_FILE, PREDICTIONS_FILE, read_json

LABELS = list(range(len(CLASS_NAMES)))
REPORT_COLUMNS = ["precision", "recall", "f1-score", "support"]
ACCURACY_ROW = "Accuracy"
CV_FIGURES = {"accuracy": "CV accuracy", "macro_f1": "Macro-F1", "covid19_recall": f"{display_name('covid19')} recall"}


@dataclass(frozen=True)
class Predictions:
    """Probabilities for a labelled set of images, in registry order."""
    files: list[str]  # "covid19/x.jpeg"
    y_true: np.ndarray  # class indices
    probabilities: np.ndarray  # (N, classes), rows sum to 1
    folds: np.ndarray | None = None  # cross-validation fold of each image (1..k), None for a plain test set

    @property
    def y_pred(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    def with_temperature(self, temperature: float) -> "Predictions":
        """The same cases with temperature-scaled probabilities (T = 1 / T' undoes a scaling by T')."""
        return replace(self, probabilities=apply_temperature(self.probabilities, temperature))


def read_predictions(model_dir: str | Path) -> Predictions:
    """A model's out-of-fold validation predictions (raw softmax, not temperature-scaled)."""
    rows = read_json(model_dir, PREDICTIONS_FILE)
    return Predictions(
        files=[r["path"] for r in rows],
        y_true=np.array([CLASS_NAMES.index(r["true"]) for r in rows]),
        probabilities=np.array([[r["probabilities"][name] for name in CLASS_NAMES] for r in rows]),
        folds=np.array([r["fold"] for r in rows]),
    )


def predictions_from_rows(rows: list[dict]) -> Predictions:
    """Predictions from `core.evaluate.evaluate_images` rows (probabilities as the app shows them: calibrated)."""
    return Predictions(
        files=[r["file"] for r in rows],
        y_true=np.array([CLASS_NAMES.index(r["true"]) for r in rows]),
        probabilities=np.array([[r[f"p_{name}"] for name in CLASS_NAMES] for r in rows]),
    )


def confusion(p: Predictions, normalise: bool = False) -> np.ndarray:
    """Rows are true classes, columns predicted; normalised rows are each true class's shares (empty rows stay 0)."""
    return confusion_matrix(p.y_true, p.y_pred, labels=LABELS, normalize="true" if normalise else None)


def cell_files(p: Predictions) -> list[list[list[str]]]:
    """The file names in each confusion-matrix cell, [true][predicted]."""
    cells = [[[] for _ in LABELS] for _ in LABELS]
    for name, t, y in zip(p.files, p.y_true, p.y_pred):
        cells[t][y].append(name)
    return cells


def _report(y_true: np.ndarray, y_pred: np.ndarray) -> pd.DataFrame:
    report = classification_report(y_true, y_pred, labels=LABELS, target_names=DISPLAY_NAMES, output_dict=True, zero_division=0)
    accuracy = report.pop("accuracy")
    frame = pd.DataFrame(report).T[REPORT_COLUMNS]
    frame.loc[ACCURACY_ROW] = [accuracy, accuracy, accuracy, len(y_true)]  # micro precision = recall = F1 = accuracy
    return frame.rename(index={"macro avg": "Macro average", "weighted avg": "Weighted average"})


def report_table(p: Predictions) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    """Precision, recall, F1 and support per class plus averages: pooled over all cases, and the mean and
    standard deviation of each figure across folds (None when the set has no folds)."""
    pooled = _report(p.y_true, p.y_pred)
    if p.folds is None:
        return pooled, None, None
    per_fold = [_report(p.y_true[p.folds == k], p.y_pred[p.folds == k]) for k in np.unique(p.folds)]
    stacked = np.stack([f.to_numpy(dtype=float) for f in per_fold])
    as_frame = lambda values: pd.DataFrame(values, index=pooled.index, columns=REPORT_COLUMNS)  # noqa: E731
    return pooled, as_frame(stacked.mean(axis=0)), as_frame(stacked.std(axis=0))


def roc_curves(p: Predictions) -> dict[int, tuple[np.ndarray, np.ndarray, float]]:
    """One-vs-rest (false positive rate, true positive rate, AUC) per class that has both positives and negatives."""
    curves = {}
    for k in LABELS:
        positive = p.y_true == k
        if positive.any() and not positive.all():
            fpr, tpr, _ = roc_curve(positive, p.probabilities[:, k])
            curves[k] = (fpr, tpr, float(auc(fpr, tpr)))
    return curves


def pr_curves(p: Predictions) -> dict[int, tuple[np.ndarray, np.ndarray, float]]:
    """One-vs-rest (recall, precision, average precision) per class that has positives."""
    curves = {}
    for k in LABELS:
        positive = p.y_true == k
        if positive.any():
            precision, recall, _ = precision_recall_curve(positive, p.probabilities[:, k])
            curves[k] = (recall, precision, float(average_precision_score(positive, p.probabilities[:, k])))
    return curves


@dataclass(frozen=True)
class Reliability:
    """Top-class reliability diagram over equal-width confidence bins (non-empty bins only)."""
    confidence: np.ndarray  # mean confidence in each bin
    accuracy: np.ndarray  # share correct in each bin
    count: np.ndarray  # cases in each bin
    ece: float


def reliability(p: Predictions, bins: int = 10) -> Reliability:
    confidence, correct = p.probabilities.max(axis=1), p.y_pred == p.y_true
    accuracy, mean_confidence = calibration_curve(correct, confidence, n_bins=bins, strategy="uniform")
    count = np.bincount(np.searchsorted(np.linspace(0, 1, bins + 1)[1:-1], confidence), minlength=bins)  # calibration_curve's bins
    return Reliability(mean_confidence, accuracy, count[count > 0], expected_calibration_error(p.y_true, p.probabilities, bins))


def misclassified(p: Predictions) -> pd.DataFrame:
    """Wrongly predicted cases, the most confident mistakes first, with every class probability."""
    wrong = np.flatnonzero(p.y_pred != p.y_true)
    frame = pd.DataFrame({
        "File": [p.files[i] for i in wrong],
        "True class": [DISPLAY_NAMES[p.y_true[i]] for i in wrong],
        "Predicted": [DISPLAY_NAMES[p.y_pred[i]] for i in wrong],
        "Confidence": p.probabilities[wrong].max(axis=1),
        **{f"P({d})": p.probabilities[wrong, k] for k, d in enumerate(DISPLAY_NAMES)},
    })
    if p.folds is not None:
        frame.insert(1, "Fold", p.folds[wrong])
    return frame.sort_values("Confidence", ascending=False, ignore_index=True)


def count_parameters(model_file: str | Path) -> int:
    """Weights in a saved .keras file (trainable or not, as keras's count_params), read without building the model."""
    with zipfile.ZipFile(model_file) as archive, h5py.File(io.BytesIO(archive.read("model.weights.h5"))) as weights:
        sizes = []
        weights.visititems(lambda _, item: sizes.append(item.size) if isinstance(item, h5py.Dataset) else None)
    return int(sum(sizes))


def model_comparison(model_dirs: list[Path]) -> pd.DataFrame:
    """One row per model folder: cross-validated figures (mean and std over folds), calibration and size."""
    rows = []
    for directory in model_dirs:
        card = read_json(directory, CARD_FILE)
        cv, calibration = card.get("cross_validation", {}), card.get("calibration", {})
        model_file = directory / MODEL_FILE
        rows.append({
            "Model": directory.name,
            "Backbone": card.get("backbone"),
            "Input (px)": card.get("input_size"),
            **{f"{label} {stat}": cv.get(key, {}).get(stat) for key, label in CV_FIGURES.items() for stat in ("mean", "std")},
            "ECE before": calibration.get("ece_before"),
            "ECE after": calibration.get("ece_after"),
            "Parameters": card.get("parameters") or (count_parameters(model_file) if model_file.is_file() else None),
            "Size (MB)": model_file.stat().st_size / 1e6 if model_file.is_file() else None,
        })
    return pd.DataFrame(rows)
