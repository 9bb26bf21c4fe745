"""Classification metrics shared by training, `core.evaluation.evaluate` and the Model performance page."""
import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from core.classes import CLASS_NAMES


def expected_calibration_error(y_true: np.ndarray, probabilities: np.ndarray, bins: int = 10) -> float:
    """ECE: the bin-weighted gap between top-class confidence and accuracy (equal-width bins)."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    gaps = [abs(correct[which == b].mean() - confidence[which == b].mean()) * np.mean(which == b)
            for b in range(bins) if np.any(which == b)]
    return float(np.sum(gaps))


def classification_summary(y_true: np.ndarray, probabilities: np.ndarray) -> dict:
    """Accuracy, macro-F1, ECE, per-class precision/recall/F1/support and the confusion matrix (rows true)."""
    y_true = np.asarray(y_true)
    y_pred = probabilities.argmax(axis=1)
    labels = list(range(len(CLASS_NAMES)))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "ece": expected_calibration_error(y_true, probabilities),
        "per_class": {
            name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]), "support": int(support[i])}
            for i, name in enumerate(CLASS_NAMES)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def mean_and_std(values: list[float]) -> dict:
    """{'mean', 'std', 'per_fold'} of per-fold figures (population std, as folds are the whole population)."""
    return {"mean": float(np.mean(values)), "std": float(np.std(values)), "per_fold": [float(v) for v in values]}
