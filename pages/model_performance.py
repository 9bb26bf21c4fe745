"""Model performance: the three questions on sources the model never saw, then on grouped folds, then the four-class
figures, how it does on your images, and the models side by side."""
import base64
import io
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from core.classes import CLASS_NAMES, DISPLAY_NAMES, LABEL_DISPLAY, LABEL_NAMES, PNEUMONIA_UNSPECIFIED
from core.data.folders import DatasetError
from core.data.labelled import LabelledFiles, read_labelled_folder
from core.data.server_paths import (
    ServerPathError,
    allowed_roots,
    resolve_user_folder,
    server_folders_allowed,
)
from core.data.zip_upload import MAX_ZIP_BYTES, read_labelled_zip
from core.evaluation import performance
from core.evaluation.evaluate import evaluate_images
from core.imaging.decode import ImageDecodeError, read_image_file
from core.model import abstention
from core.model.card import (
    HISTORY_FILE,
    PREDICTIONS_FILE,
    ModelCard,
    ModelLoadError,
    QuestionValidation,
    list_model_dirs,
    model_sha256,
    read_history,
)
from core.model.card_sections import Aim, SourceAudit, SourceValidation
from core.model.questions import QUESTIONS, question
from core.paths import DEFAULT_MODEL_DIR, TEACHING_DATASET
from core.serving.export import csv_bytes, evaluation_table, with_provenance
from core.serving.probability_text import probability_text
from ui import performance_figures as figures
from ui.common import load_classifier_or_stop, plain, read_card, route_through_app

route_through_app()

THUMBNAIL_PX = 96
FEW_IMAGES = 30  # below this many, an evaluation's figures are too uncertain to lean on

EMPTY = "–"
SHARE_HELP = {  # the columns of a question's tables
    "Scored against": "The left-out source's films, and the films of the other answer they were scored against.",
    "Films": "Films whose answer is known.",
    "AUROC": "How well the probability ranks films of the yes answer above the others: 0.5 = chance, 1 = perfect.",
    "Answered": "Share of the films given an answer at the model's cut-offs (the rest are inconclusive).",
    "Right when answered": "Share of the answered films answered right.",
    "Base rate": "Share right if the model always gave the commoner answer: the figure to beat.",
}
QUESTION_WIDTHS = {"Source": 78, "Scored against": 250, "Films from": 110, "Films": 52, "AUROC": 60, "Answered": 80,
                   "Right when answered": 142, "Base rate": 78, "95 % interval": 128, "Question": 170}
WRAPPED_ROW_PX = 84  # four lines of text: Streamlit wraps a cell's text when rows are taller than 4 rem
COMPARISON_WIDTHS = {"Model": 95, performance.TRAINED_ON: 155, "Images": 62, performance.LOSO_ACCURACY: 118,
                     **dict.fromkeys(performance.CV_FIGURES.values(), 98), "Parameters": 80}  # 804 px: fits at 1280 px
QUESTIONS_TAB, FOUR_CLASSES, OWN_IMAGES, SIDE_BY_SIDE = ("Three questions", "Four classes (cross-validated)",
                                                     "Evaluate your own images", "Models side by side")
SOURCE_RUNS = {  # ModelCard.validation key: (title, what predicted each source's images)
    "grouped_cv": ("Grouped folds", "models trained on the other folds (grouped by patient); the source itself was "
                   "seen in training"),
    "leave_one_source_out": ("Left out", "a model that never saw that source, trained on the other sources: the "
                             "estimate for a hospital it has not seen"),
}


def _mean_std(mean: float | None, std: float | None) -> str:
    return EMPTY if mean is None or pd.isna(mean) else f"{mean:.1%} ± {std:.1%}"


def show_table(table: pd.DataFrame, shares: Iterable[str] = (), formats: Mapping[str, str] | None = None, *,
               widths: Mapping[str, int | str] | None = None, helps: Mapping[str, str] | None = None,
               hide_index: bool = True, container=st, **options) -> None:
    """st.dataframe with `shares` (0-1) in percent with one decimal, other numbers in their NumberColumn `formats`,
    and "–" in every empty cell; the figures stay numbers (so that they sort). Optional column widths and help."""
    formats = dict.fromkeys(shares, "%.1f%%") | (formats or {})
    widths, helps = widths or {}, helps or {}
    config = {name: (st.column_config.NumberColumn(format=formats[name], width=widths.get(name), help=helps.get(name))
                     if name in formats else st.column_config.Column(width=widths.get(name), help=helps.get(name)))
              for name in table.columns}
    shown = table.assign(**{name: table[name] * 100 for name in shares})
    container.dataframe(shown, hide_index=hide_index, placeholder=EMPTY, column_config=config, **options)


@st.cache_data(show_spinner="Comparing the models…")
def comparison_table(model_dirs: tuple[str, ...], model_keys: tuple[str | None, ...]) -> pd.DataFrame:
    """The side-by-side table; `model_keys` (each model file's SHA-256, the key of everything read from a model
    folder) is part of the cache key, so it refreshes when a model is replaced."""
    table = performance.model_comparison([Path(d) for d in model_dirs])
    for label in performance.CV_FIGURES.values():
        table[label] = [_mean_std(m, s) for m, s in zip(table.pop(f"{label} mean"), table.pop(f"{label} std"), strict=True)]
    return table[[*COMPARISON_WIDTHS]]


def show_comparison(model_dirs: list[Path]) -> None:
    """Every model folder in one table, columns narrow enough to fit at 1280 px."""
    try:
        table = comparison_table(tuple(map(str, model_dirs)), tuple(map(model_sha256, model_dirs)))
    except ModelLoadError as err:
        st.error(f"The models cannot be compared: {err}")
        return
    show_table(table, [performance.LOSO_ACCURACY], {"Parameters": "localized"}, widths=COMPARISON_WIDTHS)
    st.caption("Each model is cross-validated on its own training images: mean ± standard deviation across folds. "
               "The classes of chest_xray_4class come from different hospitals and age groups, so a model trained on "
               f"it can score well by recognising the source. {performance.LOSO_ACCURACY}: each source predicted by a "
               "model that never saw it (– where a model was not validated across sources).")


@st.cache_data(show_spinner=False, max_entries=2000)
def thumbnail(path: str) -> str | None:
    """A small PNG data URL of an image file, or None when it cannot be read."""
    try:
        image = Image.fromarray(read_image_file(path).pixels)
    except ImageDecodeError:
        return None
    image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def show_confusion(p: performance.Predictions, key: str, rows: list[int] = performance.LABELS) -> None:
    """The confusion matrix of `p`, true labels `rows` down (the classes, or every training label)."""
    mode = st.radio("Show", ["Counts", "Row-normalised (share of each true class)"], horizontal=True, key=f"{key}_matrix_mode")
    normalised = mode != "Counts"
    names = tuple(LABEL_DISPLAY[k] for k in rows)
    st.plotly_chart(figures.confusion_figure(performance.confusion(p, normalised, rows), performance.cell_files(p, rows),
                                             normalised, names), key=f"{key}_matrix")
    st.caption("Rows are the true classes, columns what the model predicted (its top class). Hover over a cell for the files in it.")


REPORT_COLUMNS = {"precision": "Precision", "recall": "Recall", "f1-score": "F1", "support": "Support"}


def show_report_figures(report: pd.DataFrame) -> None:
    show_table(report.rename(columns=REPORT_COLUMNS).astype({"Support": int}), ["Precision", "Recall", "F1"], hide_index=False)


def show_report(p: performance.Predictions) -> None:
    pooled, mean, std = performance.report_table(p)
    if mean is None:
        show_report_figures(pooled)
    else:
        table = pd.DataFrame({label: [_mean_std(m, s) for m, s in zip(mean[col], std[col], strict=True)]
                              for col, label in REPORT_COLUMNS.items() if col != "support"}, index=pooled.index)
        table["Support"] = pooled["support"].astype(int)
        st.dataframe(table)
        with st.expander("Pooled over all out-of-fold predictions"):
            show_report_figures(pooled)
    spread = "" if mean is None else (f"Mean ± standard deviation across the {len(np.unique(p.folds))} cross-validation "
                                      "folds; support is the total over all folds. ")
    st.caption(spread + "Over all classes at once (the micro average), precision, recall and F1 all equal the accuracy.")


def show_curves(p: performance.Predictions, key: str) -> None:
    left, right = st.columns(2)
    left.plotly_chart(figures.roc_figure(performance.roc_curves(p)), key=f"{key}_roc")
    right.plotly_chart(figures.pr_figure(performance.pr_curves(p)), key=f"{key}_pr")


def show_reliability(raw: performance.Predictions, calibrated: performance.Predictions, temperature: float, key: str) -> None:
    st.plotly_chart(figures.reliability_figure(performance.reliability(raw), performance.reliability(calibrated), temperature),
                    key=f"{key}_reliability")
    st.caption("Marker area shows how many cases fall in each confidence bin. ECE (expected calibration error) is the "
               "average gap between confidence and accuracy, weighted by the cases in each of 10 bins. "
               f"The app divides the model's log-probabilities by T = {temperature:.2f} "
               "(fitted on the out-of-fold predictions) before it shows them.")


def choose_thumbnail_folder() -> Path | None:
    """The training images' folder for thumbnails, when server folders are allowed and the one named is inside them."""
    if not server_folders_allowed():
        st.caption("Thumbnails need the training images' folder on this server; the server's administrator can allow "
                   "folders.")
        return None
    try:
        default = str(resolve_user_folder(str(TEACHING_DATASET)))
    except ServerPathError:
        default = ""
    folder = st.text_input("Dataset folder on this server (for thumbnails)", default,
                           help="The project ships no images. Give the folder the model was trained on "
                                "(absolute, or relative to the first allowed folder) to see thumbnails.")
    if not folder:
        return None
    try:
        return resolve_user_folder(folder)
    except ServerPathError as err:
        st.info(f"Thumbnails are hidden: {err}.")
        return None


def show_misclassified(p: performance.Predictions) -> None:
    table = performance.misclassified(p)
    st.write(f"{len(table)} of {len(p.files)} images are misclassified (the most confident mistakes first; "
             "probabilities are temperature-scaled, as the app shows them).")
    root = choose_thumbnail_folder()
    table = table.drop(columns=["Confidence", "Fold"], errors="ignore")  # so that every column fits at 1280 px
    for name in DISPLAY_NAMES:
        table[f"P({name})"] = table[f"P({name})"].map(probability_text)
    image = 75 if root else 0  # an "Image" column, "small"
    columns = {"File": st.column_config.TextColumn(width=290 - image), "True class": st.column_config.TextColumn(width=132),
               "Predicted": st.column_config.TextColumn(width=132),
               **{f"P({name})": st.column_config.TextColumn(name.split()[0], width=w, help=f"P({name})")
                  for name, w in zip(DISPLAY_NAMES, (72, 64, 72, 56), strict=True)}}
    if root:
        paths = [(root / f).resolve() for f in table["File"]]
        table.insert(0, "Image", [thumbnail(str(path)) if path.is_relative_to(root) else None for path in paths])
        columns["Image"] = st.column_config.ImageColumn("Image", width="small")
    st.dataframe(table, column_config=columns, hide_index=True, height=640,  # rows tall enough to wrap a long file name
                 row_height=THUMBNAIL_PX if root else WRAPPED_ROW_PX)


def show_training(model_dir: Path, card: ModelCard) -> None:
    if (model_dir / HISTORY_FILE).is_file():
        st.subheader("Learning curves")
        st.plotly_chart(figures.learning_curves_figure(read_history(model_dir, card)["folds"]))
        st.caption("Each fold trains on four fifths of the images and validates on the rest: training solid, validation "
                   "dashed. A validation curve that turns upward while training keeps improving means overfitting.")
    else:
        st.info(f"{model_dir.name} has no training history, so there are no learning curves.")
    counts = card.training_data.counts
    if counts:
        st.subheader("Training images per class")
        st.plotly_chart(figures.distribution_figure(counts))


def show_abstention(p: performance.Predictions, card: ModelCard) -> None:
    curve = abstention.coverage_curve(p.y_true, p.probabilities, abstention.THRESHOLD_GRID)
    point = card.abstention
    st.plotly_chart(figures.abstention_figure(curve, point))
    if point:
        st.caption(f"At the operating point (threshold {point.threshold:.2f}) the model answers for {point.coverage:.1%} "
                   f"of cases with {point.accuracy:.1%} accuracy on them (target {point.target_accuracy:.1%}); "
                   "the rest are reported as inconclusive. Out-of-fold, temperature-scaled probabilities.")


def show_set(raw: performance.Predictions, calibrated: performance.Predictions, temperature: float, key: str) -> None:
    """Matrix, report, curves and reliability for one labelled set."""
    st.subheader("Confusion matrix")
    show_confusion(calibrated, key)
    st.subheader("Classification report")
    show_report(calibrated)
    st.subheader("ROC and precision-recall curves")
    show_curves(calibrated, key)
    st.caption("Computed on temperature-scaled probabilities, as the app shows them.")
    st.subheader("Calibration")
    show_reliability(raw, calibrated, temperature, key)


def show_source_tables(validation: SourceValidation) -> None:
    """Per-source figures from the card, for grouped folds and for each source left out."""
    st.subheader("Per source")
    for key, (title, predicted_by) in SOURCE_RUNS.items():
        st.markdown(f"**{title}**: each source's images predicted by {predicted_by}.")
        run = getattr(validation, key)
        if run:
            table = performance.source_table(run.per_source)
            show_table(table, performance.SOURCE_SHARES)
        else:
            st.caption("Not measured for this model.")
    st.caption("Accuracy counts the images with a class label (not those labelled pneumonia of unknown type). "
               "An empty cell: no such images in that source.")


def show_source_confusion(model_dir: Path, card: ModelCard) -> None:
    """The confusion matrix of one source, for grouped folds or left out, with the coarse label as its own row."""
    runs = {title: performance.read_source_predictions(model_dir, card, left_out=key == "leave_one_source_out")
            for key, (title, _) in SOURCE_RUNS.items()}
    runs = {title: p for title, p in runs.items() if p is not None}
    if not runs:
        st.info(f"{model_dir.name}'s {PREDICTIONS_FILE} records no source per image.")
        return
    st.subheader("Confusion matrix of one source")
    pick, run = st.columns(2)
    p = runs[run.radio("Predicted by", list(runs), horizontal=True, key="source_run")]
    source = pick.selectbox("Source", sorted(set(p.sources)), key="source_pick")
    chosen = p.subset(p.sources == source)
    matrix, recall = st.columns([2, 1])
    with matrix:
        show_confusion(chosen, "source", performance.ALL_LABELS)
    show_table(performance.label_recall_table(chosen), ["Right"], container=recall)
    recall.caption("Right: the share of each true label whose top class it allows; pneumonia of unknown type is right "
                   "when called bacterial or viral.")


def show_source_audit(audit: SourceAudit | None) -> None:
    """How well the model's features tell the source, beside how well they tell the class, each against chance."""
    if not audit:
        return
    st.subheader("Shortcut audit")
    source, label = st.columns(2)
    for col, name, accuracy, chance in ((source, "Source told from the features", audit.source_balanced_accuracy, audit.source_chance),
                                        (label, "Class told from the features", audit.class_balanced_accuracy, audit.class_chance)):
        col.metric(name, f"{accuracy:.1%}", delta=f"chance {chance:.1%}",
                   delta_color="off", delta_arrow="off", help=f"Balanced accuracy on held-out folds: {audit.method}.")
    st.caption("How well a simple classifier on the model's features names the film's source, beside how well it names "
               "the class. A source named far above chance means the features carry the hospital, and the model can "
               "lean on where a film came from instead of on the disease.")


def show_aims(aims: tuple[Aim, ...] | None) -> None:
    """The card's aims with the measured values, as the card states them."""
    if not aims:
        return
    st.subheader("Aims")
    st.dataframe(performance.aims_table(aims), hide_index=True,
                 column_config={"Figure": st.column_config.TextColumn(width=260), "Where": st.column_config.TextColumn(width=170)})
    st.caption("Shares in percent; an AUROC (0.5 = chance) and a calibration error (ECE) on their own 0-1 scale.")


def show_by_source(model_dir: Path, card: ModelCard) -> None:
    """Per-source figures, one source's confusion matrix, the shortcut audit and the aims, or why there are none."""
    validation = card.validation
    if not validation:
        st.info(f"{model_dir.name} was not validated across sources: its card has no per-source figures and no "
                "leave-one-source-out run, so nothing says how it does on a hospital it never saw.")
        return
    show_source_tables(validation)
    show_source_confusion(model_dir, card)
    show_source_audit(validation.source_audit)
    show_aims(validation.aims)


def run_evaluation(model_dir: Path, source: str, read: Callable[[], LabelledFiles]) -> dict:
    """Evaluate a labelled set `read()` with core.evaluation.evaluate, the code behind the command-line evaluation."""
    classifier = load_classifier_or_stop(str(model_dir))
    bar = st.progress(0.0, text="Reading images…")
    try:
        summary, rows = evaluate_images(classifier, read(), lambda done, total: bar.progress(
            done / total, text=f"Reading and classifying images: {done}/{total}"))
        return {"summary": summary, "rows": rows, "created": datetime.now(UTC)}
    except DatasetError as err:
        return {"error": f"Cannot evaluate {source}: {err}"}
    finally:
        bar.empty()


def evaluate_server_folder(model_dir: Path, folder: str) -> dict:
    """Evaluate a labelled folder the user named, if it is inside the folders this server allows."""
    try:
        root = resolve_user_folder(folder)
    except ServerPathError as err:
        return {"error": f"Cannot evaluate that folder: {err}."}
    return run_evaluation(model_dir, "that folder", lambda: read_labelled_folder(str(root), LABEL_NAMES))


def show_evaluation_cautions(summary: dict, rows: list[dict]) -> None:
    """Say when the set is too small to lean on, and which images the model was trained on."""
    if summary["n"] < FEW_IMAGES:
        st.warning(f"Only {summary['n']} images: with fewer than {FEW_IMAGES}, every figure below is very uncertain "
                   "(see the 95 % intervals).", icon=":material/warning:")
    seen = [row["file"] for row in rows if row["in_training_set"]]
    if seen:
        st.warning(f"{len(seen)} of {summary['n']} images are in this model's training set (the same file, by SHA-256): "
                   "the model has learned them, so the figures below flatter it. Evaluate on images it never saw.",
                   icon=":material/warning:")
        with st.expander(f"The {len(seen)} training images"):
            st.text("\n".join(seen))


def show_evaluated_questions(questions: dict | None) -> None:
    """Each question's figures on the evaluated films, or why there are none."""
    st.subheader("The three questions")
    if questions is None:
        st.info("This model predates the three questions (COVID-19 pattern, abnormal, pneumonia type): it has only "
                "four-class figures, below.", icon=":material/info:")
        return
    show_question_table(performance.evaluated_questions_table(questions), "Yes")
    st.caption("Yes counts bacterial for pneumonia type. Films labelled pneumonia of unknown type count for COVID-19 "
               "pattern (no) and abnormal (yes), not for pneumonia type; films taken for not a chest X-ray are left "
               "out. 95 % interval: the Wilson score interval of the share right when answered.")


def show_four_class_detail(summary: dict, rows: list[dict], card: ModelCard) -> None:
    """Accuracy, macro-F1 over the classes present, recall per class and the four-class views, on the films with a
    class label."""
    st.subheader("Four-class detail")
    unspecified = sum(row["true"] == PNEUMONIA_UNSPECIFIED for row in rows)
    if unspecified:
        st.caption(f"{unspecified} film(s) labelled pneumonia of unknown type have no single right class: they are "
                   "left out here.")
    if "accuracy" not in summary:
        st.info("No film with a class label: there are no four-class figures.", icon=":material/info:")
        return
    macro_f1 = performance.macro_f1_present(summary["per_class"])
    cols = st.columns(3)
    cols[0].metric("Four-class accuracy", f"{summary['accuracy']:.1%}", help="Share of films whose top class is the true one.")
    cols[0].caption(f"95 % interval: {performance.interval_text(summary['accuracy_ci'])}")
    cols[1].metric("Macro-F1", EMPTY if macro_f1 is None else f"{macro_f1:.1%}", help="Mean F1 over the classes present.")
    cols[2].metric("Inconclusive", summary["abstained"], help="Top probability below the model's threshold; "
                   "still counted by their top class below.")
    per_class = summary["per_class"]
    recall = pd.DataFrame({"Class": DISPLAY_NAMES, "Films": [per_class[n]["support"] for n in CLASS_NAMES],
                           "Recall": [per_class[n]["recall"] if per_class[n]["support"] else None for n in CLASS_NAMES],
                           "95 % interval": [performance.interval_text(per_class[n]["recall_ci"]) for n in CLASS_NAMES]})
    show_table(recall.astype({"Recall": float}), ["Recall"])
    st.caption("Recall: the share of each true class the model called by its name. 95 % intervals are Wilson score "
               "intervals: with this many films the true figure is likely to lie in them.")
    calibrated = performance.predictions_from_rows(rows)
    temperature = card.calibration.temperature
    show_set(calibrated.with_temperature(1 / temperature), calibrated, temperature, key="own")


def results_table(rows: list[dict], card: ModelCard, created: datetime) -> pd.DataFrame:
    """The per-image CSV (core.serving.export), with the model and the time."""
    return with_provenance(evaluation_table(rows), card, card.threshold, created)


def show_evaluation_result(result: dict, card: ModelCard) -> None:
    summary, rows = result["summary"], result["rows"]
    show_evaluation_cautions(summary, rows)
    cols = st.columns(3)
    cols[0].metric("Images evaluated", summary["n"])
    cols[1].metric("Not a chest X-ray", summary["not_a_chest_xray"], help="Unlike the training images: left out of the "
                   "three questions, still counted by their top class in the four-class detail.")
    cols[2].metric("Unreadable", len(summary["unreadable"]), help="Files that could not be read; left out.")
    if summary["unreadable"]:
        with st.expander(f"{len(summary['unreadable'])} file(s) could not be read and were left out", expanded=True):
            for item in summary["unreadable"]:
                st.markdown(plain(item["error"]))
    show_evaluated_questions(summary["questions"])
    st.download_button("Download per-image results (CSV)", csv_bytes(results_table(rows, card, result["created"])),
                       "evaluation.csv", "text/csv")
    show_four_class_detail(summary, rows, card)


def show_own_evaluation(model_dir: Path, card: ModelCard) -> None:
    st.write("Upload a ZIP with one folder per class, named " + ", ".join(f"`{name}`" for name in CLASS_NAMES)
             + f", and `{PNEUMONIA_UNSPECIFIED}` for a pneumonia known to be bacterial or viral but not which. The "
             "server's administrator can also allow folders on the server. Nothing you upload is stored. Use images the "
             f"model has never seen: its own training images ({Path(card.training_data.source).name}) give "
             "flattering figures, and are flagged.")
    from_folder = server_folders_allowed() and st.radio(
        "Images from", ["ZIP upload", "Folder on this server"], horizontal=True, key="own_source") != "ZIP upload"
    if from_folder:
        folder = st.text_input("Labelled folder on this server", placeholder=str(allowed_roots()[0]),
                               help="Absolute, or relative to the first allowed folder.", key="own_folder")
        source = folder and (str(model_dir), folder)
        if st.button("Evaluate folder", disabled=not folder, key="own_evaluate"):
            st.session_state["own_evaluation"] = {"source": source, **evaluate_server_folder(model_dir, folder)}
    else:
        upload = st.file_uploader(f"ZIP of labelled images (at most {MAX_ZIP_BYTES // 2**20} MB)", type="zip",
                                  max_upload_size=MAX_ZIP_BYTES // 2**20)
        source = upload and (str(model_dir), upload.name, upload.file_id)
        if upload and st.session_state.get("own_evaluation", {}).get("source") != source:
            result = run_evaluation(model_dir, upload.name, lambda: read_labelled_zip(upload.getvalue(), LABEL_NAMES))
            st.session_state["own_evaluation"] = {"source": source, **result}
    result = st.session_state.get("own_evaluation")
    if not source or not result or result["source"] != source:
        return
    if "error" in result:
        st.error(plain(result["error"]))
    else:
        show_evaluation_result(result, card)


def show_question_table(table: pd.DataFrame, yes: str, **options) -> None:
    """A question's table, its films of the yes answer counted in column `yes`."""
    show_table(table, performance.QUESTION_SHARES, {"AUROC": "%.3f"}, widths=QUESTION_WIDTHS | {yes: 72},
               helps=SHARE_HELP | {yes: f"Of the films, those whose answer is {yes.lower()}."}, **options)


def cut_offs_text(name: str, validation: QuestionValidation) -> str:
    """Where the question's answers sit, and the target the cut-offs were chosen for."""
    q, rule = question(name), validation.rule
    return (f"Answers {q.yes} at or above {rule.high:.2f}, {q.no} at or below {rule.low:.2f}, inconclusive between; the "
            f"cut-offs were chosen so that each answer was right at least {validation.target:.1%} of the time on the "
            "grouped folds.")


def show_left_out_question(name: str, validation: QuestionValidation) -> None:
    """One question on each source left out of training, or why it never was; then the groups it was never validated on."""
    st.markdown(f"**{question(name).title}**")
    st.caption(cut_offs_text(name, validation))
    if validation.left_out:
        show_question_table(performance.left_out_table(name, validation), performance.yes_column(name),
                            row_height=WRAPPED_ROW_PX)
    else:
        st.info(f"{question(name).title} was never validated on a source left out of training: no source can be left "
                "out while the others still teach it (enough films of each answer in each age group). Its only figures "
                "are the grouped cross-validation below, on sources it was trained on.", icon=":material/info:")
    if validation.never_validated_on:
        st.markdown("Never validated on (too few films, or all from one source):\n"
                    + "\n".join(f"- {note}" for note in validation.never_validated_on))


def show_questions(questions: dict[str, QuestionValidation]) -> None:
    """The three questions: on sources left out of training first, then on the grouped folds."""
    st.subheader("On sources it never saw")
    st.caption("Each source in turn was left out of training, and a model that never saw it answered its films. Each row "
               "says what they were scored against: the source's own films of both answers, or films of the other "
               "answer from the other sources, answered in the same run by models that never saw those patients. This "
               "is the estimate for a hospital the model has not seen. AUROC: 0.5 = chance, 1 = perfect. Base rate: the "
               "share right if the model always gave the commoner answer.")
    for q in QUESTIONS:
        show_left_out_question(q.name, questions[q.name])
    st.subheader("Grouped cross-validation")
    st.caption("Patients grouped (no patient in both training and test), but every source also in training: these "
               "figures flatter the model on a hospital it has not seen.")
    for tab, q in zip(st.tabs([q.title for q in QUESTIONS]), QUESTIONS, strict=True):
        with tab:
            show_question_table(performance.grouped_cv_table(q.name, questions[q.name]), performance.yes_column(q.name))


def show_headline(card: ModelCard) -> None:
    cv, calibration = card.cross_validation, card.calibration
    cols = st.columns(len(performance.CV_FIGURES) + 2)
    for col, (key, label) in zip(cols[:-2], performance.CV_FIGURES.items(), strict=True):  # the last two: below
        figure = getattr(cv, key)
        col.metric(label, f"{figure.mean:.1%}", delta=f"± {figure.std:.1%} across folds", delta_color="off",
                   delta_arrow="off", help=f"Mean ± standard deviation across "
                   f"{len(figure.per_fold)} folds; per fold: " + ", ".join(f"{v:.1%}" for v in figure.per_fold))
    loso = card.loso_accuracy
    if loso is not None:
        cols[-2].metric(performance.LOSO_ACCURACY, f"{loso:.1%}", help="Each source in turn left out of training and "
                        "predicted by a model trained on the others: the estimate for a hospital it has not seen.")
    cols[-1].metric("ECE after calibration", f"{calibration.ece_after:.3f}",
                    delta=f"{calibration.ece_after - calibration.ece_before:+.3f} from {calibration.ece_before:.3f}",
                    delta_color="inverse", help="Expected calibration error of the out-of-fold probabilities, "
                    "after and before temperature scaling (lower is better).")


def show_four_classes(model_dir: Path, card: ModelCard) -> None:
    """The four-class figures: headline, then cross-validation, by source, abstention, training and mistakes."""
    st.caption("The network's four classes (COVID-19, Healthy, Bacterial Pneumonia, Viral Pneumonia), cross-validated: "
               f"{card.cross_validation.figures_are}. "
               "By source adds each source left out.")
    show_headline(card)
    if not (model_dir / PREDICTIONS_FILE).is_file():
        st.warning(f"{model_dir.name} has no stored validation predictions; retrain it to see its cross-validated figures.")
        return
    temperature = card.calibration.temperature
    raw = performance.read_predictions(model_dir, card)
    calibrated = raw.with_temperature(temperature)
    tabs = st.tabs(["Cross-validation", "By source", "Abstention", "Training", "Misclassified"])
    with tabs[0]:
        show_set(raw, calibrated, temperature, key="cv")
    with tabs[1]:
        show_by_source(model_dir, card)
    with tabs[2]:
        show_abstention(calibrated, card)
    with tabs[3]:
        show_training(model_dir, card)
    with tabs[4]:
        show_misclassified(calibrated)


def main() -> None:
    model_dirs = list_model_dirs()
    if not model_dirs:
        st.error("No model is installed on this server; its administrator can train one.")
        st.stop()
    model_dir = st.selectbox("Model", model_dirs, format_func=lambda d: d.name)
    try:
        show_model(model_dir, model_dirs)
    except ModelLoadError as err:
        st.error(f"{model_dir.name} cannot be shown: {err}")


def show_model(model_dir: Path, model_dirs: list[Path]) -> None:
    """Everything the page says about one model folder, and the other models beside it."""
    card = read_card(model_dir)
    if model_dir != DEFAULT_MODEL_DIR:
        st.info(f"This page now shows **{model_dir.name}**. Analyse an X-ray always uses **{DEFAULT_MODEL_DIR.name}**, and the "
                f"sidebar shows {DEFAULT_MODEL_DIR.name}'s figures, not these.", icon=":material/info:")
    if card.exhibit:
        st.warning(card.exhibit, icon=":material/warning:")
    st.caption(f"{card.backbone} · {card.input_size} px · trained {card.trained_at} on {card.training_data.n} images.")
    if card.questions is None:
        st.info(f"{model_dir.name} predates the three questions (COVID-19 pattern, abnormal, pneumonia type): it has "
                "only four-class figures.", icon=":material/info:")
    names = [QUESTIONS_TAB] * (card.questions is not None) + [FOUR_CLASSES, OWN_IMAGES] + [SIDE_BY_SIDE] * (len(model_dirs) > 1)
    tabs = dict(zip(names, st.tabs(names), strict=True))
    if card.questions is not None:
        with tabs[QUESTIONS_TAB]:
            show_questions(card.questions)
    with tabs[FOUR_CLASSES]:
        show_four_classes(model_dir, card)
    with tabs[OWN_IMAGES]:
        show_own_evaluation(model_dir, card)
    if SIDE_BY_SIDE in tabs:
        with tabs[SIDE_BY_SIDE]:
            show_comparison(model_dirs)


main()
