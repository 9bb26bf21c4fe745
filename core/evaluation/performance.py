"""The figures behind the Model performance page: stored or fresh predictions, the confusion matrix with the files
in each cell, the classification report with its spread over folds, ROC, precision-recall and reliability
curves, misclassified cases, a side-by-side table of model folders, the tables of a card's validation across
sources (per source, aims, training populations), and the three questions' tables (left out, grouped folds, and on
an evaluated set).
"""
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path

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

from core.classes import CLASS_NAMES, DISPLAY_NAMES, LABEL_DISPLAY, LABEL_NAMES, display_name, label_display
from core.evaluation import by_source
from core.evaluation.metrics import expected_calibration_error
from core.model import card as model_card
from core.model.calibration import apply_temperature
from core.model.card import MODEL_FILE, ModelCard, QuestionValidation, read_card
from core.model.card_sections import Aim, SourceFigures, SourcePopulation
from core.model.keras_internals import count_saved_parameters
from core.model.questions import question
from core.serving.answers import base_rate

LABELS = list(range(len(CLASS_NAMES)))  # the model's classes
ALL_LABELS = list(range(len(LABEL_NAMES)))  # every training label: the classes, then the coarse labels
REPORT_COLUMNS = ["precision", "recall", "f1-score", "support"]
ACCURACY_ROW = "Accuracy"
COVID, HEALTHY = display_name("covid19"), display_name("normal")
CV_FIGURES = {"accuracy": "CV accuracy", "macro_f1": "Macro-F1", "covid19_recall": f"{COVID} recall"}
LOSO_ACCURACY = "Left-out accuracy"
TRAINED_ON = "Trained on"  # the training data set's folder
SOURCE_SHARES = ("Accuracy", f"{COVID} recall", f"Non-{COVID} films called {COVID}", f"{HEALTHY} recall", "Not a chest X-ray")
AIM_FIGURES = {"adult_non_covid19_called_covid19": f"Adult films without {COVID} called {COVID}",
               "adult_normal_called_healthy": f"Adult healthy films called {HEALTHY}",
               "covid19_recall": f"{COVID} recall", "covid19_auroc": f"{COVID} AUROC", "accuracy": "Accuracy",
               "ece": "Calibration error (ECE)", "not_a_chest_xray": "Called not a chest X-ray"}
NOT_SHARES = {"covid19_auroc", "ece"}  # aims on a 0-1 scale that is not a share: shown with three decimals
MET = {True: "yes", False: "no", None: "not measured"}
QUESTION_SHARES = ("Answered", "Right when answered", "Base rate")  # a question's figures that are shares of films
ALL_SOURCES = "All sources"


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
        return Predictions([f for f, k in zip(self.files, keep, strict=True) if k], self.y_true[keep], self.probabilities[keep],
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
    return pd.DataFrame({"True label": [label_display(n) for n in recall],
                         "Images": [r["n"] for r in recall.values()],
                         "Right": [r["recall"] for r in recall.values()]})


def predictions_from_rows(rows: list[dict]) -> Predictions:
    """Predictions from `core.evaluation.evaluate.evaluate_images` rows (probabilities as the app shows them:
    calibrated) of the images with a class label: a pneumonia of unknown type has no single right class."""
    rows = [r for r in rows if r["true"] in CLASS_NAMES]
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
    cells: list[list[list[str]]] = [[[] for _ in LABELS] for _ in rows]
    for name, t, y in zip(p.files, p.y_true, p.y_pred, strict=True):
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


def model_comparison(model_dirs: list[Path]) -> pd.DataFrame:
    """One row per model folder: training images, accuracy on sources left out, cross-validated figures (mean and std
    over folds) and size."""
    rows = []
    for directory in model_dirs:
        card = read_card(directory)
        model_file = directory / MODEL_FILE
        rows.append({
            "Model": directory.name,
            TRAINED_ON: Path(card.training_data.source).name,
            "Images": card.training_data.n,
            LOSO_ACCURACY: card.loso_accuracy,
            **{f"{label} {stat}": getattr(getattr(card.cross_validation, key), stat) for key, label in CV_FIGURES.items()
               for stat in ("mean", "std")},
            "Parameters": count_saved_parameters(model_file) if model_file.is_file() else None,
        })
    return pd.DataFrame(rows).astype({LOSO_ACCURACY: float})


def source_table(per_source: Mapping[str, SourceFigures]) -> pd.DataFrame:
    """One row per source of a card's per-source figures (core.evaluation.by_source.figures); NaN where nothing measures one."""
    table = pd.DataFrame([{
        "Source": source, "Images": f.n,
        **dict(zip(SOURCE_SHARES, (f.accuracy, f.covid19_recall, f.non_covid19_called_covid19,
                                   f.recall["normal"].recall if "normal" in f.recall else None, f.not_a_chest_xray), strict=True)),
    } for source, f in per_source.items()], columns=["Source", "Images", *SOURCE_SHARES])
    return table.astype(dict.fromkeys(SOURCE_SHARES, float))


def _aim_number(figure: str, value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if figure in NOT_SHARES else f"{value:.1%}"


def _aim_text(figure: str, aim: str) -> str:
    """'at most 0.1' -> 'at most 10.0%' (three decimals for an AUROC or an ECE); other aims as written."""
    found = re.fullmatch(r"(.*?)\s*(\d+(?:\.\d+)?)", aim)
    return f"{found[1].strip()} {_aim_number(figure, float(found[2]))}" if found else aim


def aims_table(aims: tuple[Aim, ...]) -> pd.DataFrame:
    """A card's aims: the figure, where it is measured, the aim and the measured value (as text, shares in percent)
    and whether it is met."""
    return pd.DataFrame({"Figure": [AIM_FIGURES.get(a.figure, a.figure) for a in aims],
                         "Where": [a.where for a in aims], "Aim": [_aim_text(a.figure, a.aim) for a in aims],
                         "Value": [_aim_number(a.figure, a.value) for a in aims],
                         "Met": [MET[a.met] for a in aims]})


def _counts(counts: Mapping[str, int], names: dict[str, str] | None = None) -> str:
    return ", ".join(f"{(names or {}).get(k, k)} {n}" for k, n in counts.items())


def populations_table(by_source: Mapping[str, SourcePopulation]) -> pd.DataFrame:
    """One row per training source: images, labels and age groups (ModelCard.training_data.by_source)."""
    label_names = dict(zip(LABEL_NAMES, LABEL_DISPLAY, strict=True))
    return pd.DataFrame({"Source": list(by_source), "Images": [s.n for s in by_source.values()],
                         "Labels": [_counts(s.labels, label_names) for s in by_source.values()],
                         "Age groups": [_counts(s.age_groups) for s in by_source.values()]})


def yes_column(name: str) -> str:
    """The column of a question's films whose answer is yes: "Yes", or "Bacterial" for pneumonia type."""
    return question(name).yes.capitalize()


def _question_row(figures: Mapping, yes: str) -> dict:
    """Films, of them yes, AUROC, answered, right when answered and the base rate of one group of films."""
    n, positive = figures["n"], figures["n_positive"]
    return {"Films": n, yes: positive, "AUROC": figures["auroc"],
            **dict(zip(QUESTION_SHARES, (figures["coverage"], figures["right"], base_rate(n, positive)), strict=True))}


def _question_frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    """The rows as a table with these columns; the figures stay numbers, NaN where one cannot be measured."""
    return pd.DataFrame(rows, columns=columns).astype(dict.fromkeys(["AUROC", *QUESTION_SHARES], float))


def left_out_table(name: str, validation: QuestionValidation) -> pd.DataFrame:
    """One row per left-out source: what its films were scored against and the question's figures there."""
    yes = yes_column(name)
    rows = [{"Source": r.source, "Scored against": r.paired, **_question_row(asdict(r.figures), yes)} for r in validation.left_out]
    return _question_frame(rows, ["Source", "Scored against", "Films", yes, "AUROC", *QUESTION_SHARES])


def grouped_cv_table(name: str, validation: QuestionValidation) -> pd.DataFrame:
    """The question's out-of-fold figures on all films, then on each source's."""
    yes = yes_column(name)
    parts = {ALL_SOURCES: validation.grouped_cv, **validation.grouped_cv_by_source}
    rows = [{"Films from": source, **_question_row(asdict(f), yes)} for source, f in parts.items()]
    return _question_frame(rows, ["Films from", "Films", yes, "AUROC", *QUESTION_SHARES])


def evaluated_questions_table(questions: Mapping[str, Mapping]) -> pd.DataFrame:
    """core.evaluation.evaluate's question figures, one row per question, with the 95 % interval of the share of
    answered films answered right (Yes counts bacterial for pneumonia type)."""
    rows = [{"Question": question(name).title, **_question_row(f, "Yes"), "95 % interval": interval_text(f["right_ci"])}
            for name, f in questions.items()]
    return _question_frame(rows, ["Question", "Films", "Yes", "AUROC", "Answered", "Right when answered", "95 % interval",
                                  "Base rate"])


def interval_text(ci: tuple[float, float] | list[float] | None) -> str:
    """A 95 % interval as "12.3% to 45.6%"; "–" for none."""
    return "–" if ci is None else f"{ci[0]:.1%} to {ci[1]:.1%}"


def macro_f1_present(per_class: Mapping[str, Mapping]) -> float | None:
    """The mean F1 over the classes with films (a class absent from the set says nothing); None without any."""
    scores = [f["f1"] for f in per_class.values() if f["support"]]
    return float(np.mean(scores)) if scores else None
