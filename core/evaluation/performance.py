"""The figures behind the Model performance page: stored or fresh predictions, the confusion matrix with the files
in each cell, the classification report with its spread over folds, ROC, precision-recall and reliability
curves, misclassified cases, a side-by-side table of model folders, and the tables of a card's validation across
sources (per source, aims, training populations).
"""
import io
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    auc,
    average_precision_score,
    classification_report,
    confusion_matrix,
    precision_recall_curve,
    roc_curve,
)

from core.classes import CLASS_NAMES, DISPLAY_NAMES, LABEL_NAMES, PNEUMONIA_UNSPECIFIED, display_name
from core.evaluation import by_source
from core.evaluation.metrics import expected_calibration_error
from core.model import card as model_card
from core.model.calibration import apply_temperature
from core.model.card import MODEL_FILE, ModelCard, read_card

LABELS = list(range(len(CLASS_NAMES)))  # the model's classes
ALL_LABELS = list(range(len(LABEL_NAMES)))  # every training label: the classes, then the coarse labels
COARSE_DISPLAY = {PNEUMONIA_UNSPECIFIED: "Pneumonia (type unknown)"}
LABEL_DISPLAY: tuple[str, ...] = DISPLAY_NAMES + tuple(COARSE_DISPLAY.get(n, n) for n in LABEL_NAMES[len(CLASS_NAMES):])
REPORT_COLUMNS = ["precision", "recall", "f1-score", "support"]
ACCURACY_ROW = "Accuracy"
COVID, HEALTHY = display_name("covid19"), display_name("normal")
CV_FIGURES = {"accuracy": "CV accuracy", "macro_f1": "Macro-F1", "covid19_recall": f"{COVID} recall"}
LOSO_ACCURACY = "Accuracy on sources left out"
TRAINED_ON = "Trained on"  # the training data set's folder
SOURCE_SHARES = ("Accuracy", f"{COVID} recall", f"Non-{COVID} films called {COVID}", f"{HEALTHY} recall", "Not a chest X-ray")
AIM_FIGURES = {"adult_non_covid19_called_covid19": f"Adult films without {COVID} called {COVID}",
               "adult_normal_called_healthy": f"Adult healthy films called {HEALTHY}",
               "covid19_recall": f"{COVID} recall", "covid19_auroc": f"{COVID} AUROC", "accuracy": "Accuracy",
               "ece": "Calibration error (ECE)", "not_a_chest_xray": "Called not a chest X-ray"}
MET = {True: "yes", False: "no", None: "not measured"}


@dataclass(frozen=True)
class Predictions:
    """Probabilities for a labelled set of images, in registry order."""
    files: list[str]  # "covid19/x.jpeg"
    y_true: np.ndarray  # label indices into LABEL_NAMES (class indices, unless coarse labels were asked for)
    probabilities: np.ndarray  # (N, classes), rows sum to 1
    folds: np.ndarray | None = None  # cross-validation fold of each image (1..k), None for a plain test set
    sources: np.ndarray | None = None  # where each image came from, None when not recorded

    @property
    def y_pred(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    def with_temperature(self, temperature: float) -> "Predictions":
        """The same cases with temperature-scaled probabilities (T = 1 / T' undoes a scaling by T')."""
        return replace(self, probabilities=apply_temperature(self.probabilities, temperature))

    def subset(self, keep: np.ndarray) -> "Predictions":
        """The cases where `keep` is True."""
        return Predictions([f for f, k in zip(self.files, keep) if k], self.y_true[keep], self.probabilities[keep],
                           None if self.folds is None else self.folds[keep], None if self.sources is None else self.sources[keep])


def _stored(rows: list[dict], probabilities: str) -> Predictions:
    return Predictions(
        files=[r["path"] for r in rows],
        y_true=np.array([LABEL_NAMES.index(r["true"]) for r in rows], dtype=int),
        probabilities=np.array([[r[probabilities][name] for name in CLASS_NAMES] for r in rows]).reshape(-1, len(CLASS_NAMES)),
        folds=np.array([r["fold"] for r in rows]),
        sources=np.array([r.get("source") for r in rows]),
    )


def read_predictions(model_dir: str | Path, card: ModelCard) -> Predictions:
    """A model's out-of-fold validation predictions (raw softmax, not temperature-scaled) of the images with a class
    label: an image with a coarse label (pneumonia of unknown type) has no single right class."""
    return _stored([r for r in model_card.read_predictions(model_dir, card) if r["true"] in CLASS_NAMES], "probabilities")


def read_source_predictions(model_dir: str | Path, card: ModelCard, left_out: bool = False) -> Predictions | None:
    """Every validation image, coarse labels included, with its source: the grouped-CV out-of-fold probabilities, or
    (left_out) those of the model that never saw the image's source. None when the file does not record them."""
    key = "left_out_probabilities" if left_out else "probabilities"
    rows = model_card.read_predictions(model_dir, card)
    return _stored(rows, key) if rows and all("source" in r and key in r for r in rows) else None


def label_recall_table(p: Predictions) -> pd.DataFrame:
    """Per true label present: images, and the share whose top class the label allows (core.evaluation.by_source)."""
    recall = by_source.label_recall(p.y_true, p.probabilities)
    return pd.DataFrame({"True label": [LABEL_DISPLAY[LABEL_NAMES.index(n)] for n in recall],
                         "Images": [r["n"] for r in recall.values()],
                         "Right": [r["recall"] for r in recall.values()]})


def predictions_from_rows(rows: list[dict]) -> Predictions:
    """Predictions from `core.evaluation.evaluate.evaluate_images` rows (probabilities as the app shows them: calibrated)."""
    return Predictions(
        files=[r["file"] for r in rows],
        y_true=np.array([CLASS_NAMES.index(r["true"]) for r in rows]),
        probabilities=np.array([[r[f"p_{name}"] for name in CLASS_NAMES] for r in rows]),
    )


def confusion(p: Predictions, normalise: bool = False, rows: list[int] = LABELS) -> np.ndarray:
    """Rows are true labels (`rows`: the classes, or ALL_LABELS to add the coarse labels), columns predicted classes;
    normalised rows are each true label's shares (empty rows stay 0)."""
    matrix = confusion_matrix(p.y_true, p.y_pred, labels=rows, normalize="true" if normalise else None)
    return matrix[:, :len(LABELS)]  # the model predicts classes only


def cell_files(p: Predictions, rows: list[int] = LABELS) -> list[list[list[str]]]:
    """The file names in each confusion-matrix cell, [true][predicted]."""
    cells = [[[] for _ in LABELS] for _ in rows]
    for name, t, y in zip(p.files, p.y_true, p.y_pred):
        if t in rows:
            cells[rows.index(t)][y].append(name)
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


@dataclass(frozen=True)
class Curve:
    """One class against the rest: the points of a curve, the probability threshold behind each, and its area."""
    x: np.ndarray
    y: np.ndarray
    thresholds: np.ndarray  # inf where no case is called positive
    area: float


def roc_curves(p: Predictions) -> dict[int, Curve]:
    """One-vs-rest ROC (x false positive rate, y true positive rate, area AUC) per class with positives and negatives."""
    curves = {}
    for k in LABELS:
        positive = p.y_true == k
        if positive.any() and not positive.all():
            fpr, tpr, thresholds = roc_curve(positive, p.probabilities[:, k])
            curves[k] = Curve(fpr, tpr, thresholds, float(auc(fpr, tpr)))
    return curves


def pr_curves(p: Predictions) -> dict[int, Curve]:
    """One-vs-rest precision-recall (x recall, y precision, area average precision) per class that has positives."""
    curves = {}
    for k in LABELS:
        positive = p.y_true == k
        if positive.any():
            precision, recall, thresholds = precision_recall_curve(positive, p.probabilities[:, k])
            curves[k] = Curve(recall, precision, np.append(thresholds, np.inf),  # the last point calls nothing positive
                              float(average_precision_score(positive, p.probabilities[:, k])))
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
    """One row per model folder: training images, cross-validated figures (mean and std over folds), accuracy on
    sources left out, calibration and size."""
    rows = []
    for directory in model_dirs:
        card = read_card(directory)
        model_file = directory / MODEL_FILE
        rows.append({
            "Model": directory.name,
            TRAINED_ON: Path(card.training_data.get("source", "–")).name,
            "Backbone": card.backbone,
            "Input (px)": card.input_size,
            "Training images": card.training_data["n"],
            LOSO_ACCURACY: card.loso_accuracy,
            **{f"{label} {stat}": card.cross_validation.get(key, {}).get(stat) for key, label in CV_FIGURES.items()
               for stat in ("mean", "std")},
            "ECE before": card.calibration.ece_before,
            "ECE after": card.calibration.ece_after,
            "Parameters": count_parameters(model_file) if model_file.is_file() else None,
            "Size (MB)": model_file.stat().st_size / 1e6 if model_file.is_file() else None,
        })
    return pd.DataFrame(rows)


def source_table(per_source: dict[str, dict]) -> pd.DataFrame:
    """One row per source of a card's per-source figures (core.evaluation.by_source.figures); NaN where nothing measures one."""
    table = pd.DataFrame([{
        "Source": source, "Images": f["n"],
        **dict(zip(SOURCE_SHARES, (f.get("accuracy"), f.get("covid19_recall"), f.get("non_covid19_called_covid19"),
                                   f.get("recall", {}).get("normal", {}).get("recall"), f.get("not_a_chest_xray")))),
    } for source, f in per_source.items()], columns=["Source", "Images", *SOURCE_SHARES])
    return table.astype(dict.fromkeys(SOURCE_SHARES, float))


def aims_table(aims: list[dict]) -> pd.DataFrame:
    """A card's aims: the figure, where it is measured, the aim, the measured value and whether it is met."""
    return pd.DataFrame({"Figure": [AIM_FIGURES.get(a["figure"], a["figure"]) for a in aims],
                         "Where": [a["where"] for a in aims], "Aim": [a["aim"] for a in aims],
                         "Value": pd.Series([a["value"] for a in aims], dtype=float),
                         "Met": [MET[a["met"]] for a in aims]})


def _counts(counts: dict[str, int], names: dict[str, str] | None = None) -> str:
    return ", ".join(f"{(names or {}).get(k, k)} {n}" for k, n in counts.items())


def populations_table(by_source: dict[str, dict]) -> pd.DataFrame:
    """One row per training source: images, labels and age groups (ModelCard.training_data["by_source"])."""
    label_names = dict(zip(LABEL_NAMES, LABEL_DISPLAY))
    return pd.DataFrame({"Source": list(by_source), "Images": [s["n"] for s in by_source.values()],
                         "Labels": [_counts(s.get("labels", {}), label_names) for s in by_source.values()],
                         "Age groups": [_counts(s.get("age_groups", {})) for s in by_source.values()]})
