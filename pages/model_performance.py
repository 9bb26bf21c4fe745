"""Model performance: how good each model is, per class, how well calibrated, and how it does on your images."""
import base64
import io
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from core.classes import CLASS_NAMES, DISPLAY_NAMES
from core.data.folders import DatasetError
from core.data.labelled import LabelledFiles, read_labelled_folder
from core.data.server_paths import (
    ROOTS_VARIABLE,
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
    CARD_FILE,
    HISTORY_FILE,
    PREDICTIONS_FILE,
    ModelCard,
    ModelLoadError,
    list_model_dirs,
    read_card,
    read_history,
)
from core.paths import DEFAULT_MODEL_DIR, TEACHING_DATASET
from core.serving.export import csv_bytes, evaluation_table, with_provenance
from core.serving.probability_text import probability_text
from pages import performance_figures as figures
from pages.common import load_classifier_or_stop, plain, route_through_app

route_through_app()

THUMBNAIL_PX = 96
FEW_IMAGES = 30  # below this many, an evaluation's figures are too uncertain to lean on


PERCENT = st.column_config.NumberColumn(format="percent")
SOURCE_RUNS = {  # ModelCard.validation key: (title, what predicted each source's images)
    "grouped_cv": ("Grouped folds", "models trained on the other folds (grouped by patient); the source itself was "
                   "seen in training"),
    "leave_one_source_out": ("Left out", "a model that never saw that source, trained on the other sources: the "
                             "estimate for a hospital it has not seen"),
}


def _mean_std(mean: float | None, std: float | None) -> str:
    return "–" if mean is None or pd.isna(mean) else f"{mean:.1%} ± {std:.1%}"


def _percent(value: float | None) -> str:
    return "–" if value is None or pd.isna(value) else f"{value:.1%}"


@st.cache_data(show_spinner="Comparing the models…")
def comparison_table(model_dirs: tuple[str, ...], stamps: tuple[float, ...]) -> pd.DataFrame:
    """The side-by-side table; `stamps` (the cards' modification times) is part of the cache key, so it refreshes
    when a card changes."""
    table = performance.model_comparison([Path(d) for d in model_dirs])
    for label in performance.CV_FIGURES.values():
        table[label] = [_mean_std(m, s) for m, s in zip(table.pop(f"{label} mean"), table.pop(f"{label} std"))]
    table[performance.LOSO_ACCURACY] = [_percent(v) for v in table[performance.LOSO_ACCURACY]]
    table["ECE before → after"] = [f"{b:.3f} → {a:.3f}" if pd.notna(b) and pd.notna(a) else "–"
                                   for b, a in zip(table.pop("ECE before"), table.pop("ECE after"))]
    first = ["Model", performance.TRAINED_ON, "Training images", performance.LOSO_ACCURACY, *performance.CV_FIGURES.values()]
    return table[first + [column for column in table.columns if column not in first]]  # what matters most, visible at 1280 px


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
    names = tuple(performance.LABEL_DISPLAY[k] for k in rows)
    st.plotly_chart(figures.confusion_figure(performance.confusion(p, normalised, rows), performance.cell_files(p, rows),
                                             normalised, names), key=f"{key}_matrix")
    st.caption("Rows are the true classes, columns what the model predicted (its top class). Hover over a cell for the files in it.")


REPORT_COLUMNS = {"precision": "Precision", "recall": "Recall", "f1-score": "F1", "support": "Support"}


def _report_figures(report: pd.DataFrame):
    return report.rename(columns=REPORT_COLUMNS).astype({"Support": int}).style.format("{:.3f}", subset=["Precision", "Recall", "F1"])


def show_report(p: performance.Predictions) -> None:
    pooled, mean, std = performance.report_table(p)
    if mean is None:
        st.dataframe(_report_figures(pooled))
    else:
        table = pd.DataFrame({label: [f"{m:.3f} ± {s:.3f}" for m, s in zip(mean[col], std[col])]
                              for col, label in REPORT_COLUMNS.items() if col != "support"}, index=pooled.index)
        table["Support"] = pooled["support"].astype(int)
        st.dataframe(table)
        with st.expander("Pooled over all out-of-fold predictions"):
            st.dataframe(_report_figures(pooled))
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
        st.caption("Thumbnails need the training images' folder on the server; whoever runs the server can allow "
                   f"folders with {ROOTS_VARIABLE}.")
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
    columns = {"File": st.column_config.TextColumn(width=156), "True class": st.column_config.TextColumn(width=132),
               "Predicted": st.column_config.TextColumn(width=132),
               **{f"P({name})": st.column_config.TextColumn(name, width=w) for name, w in zip(DISPLAY_NAMES, (70, 62, 130, 110))}}
    if root:
        paths = [(root / f).resolve() for f in table["File"]]
        table.insert(0, "Image", [thumbnail(str(path)) if path.is_relative_to(root) else None for path in paths])
        columns["Image"] = st.column_config.ImageColumn("Image", width="small")
    st.dataframe(table, column_config=columns, hide_index=True, height=640,
                 row_height=THUMBNAIL_PX if "Image" in table else None)


def show_training(model_dir: Path, card: ModelCard) -> None:
    if (model_dir / HISTORY_FILE).is_file():
        st.subheader("Learning curves")
        st.plotly_chart(figures.learning_curves_figure(read_history(model_dir, card)["folds"]))
        st.caption("Each fold trains on four fifths of the images and validates on the rest: training solid, validation "
                   "dashed. A validation curve that turns upward while training keeps improving means overfitting.")
    else:
        st.info(f"{model_dir.name} has no {HISTORY_FILE}, so there are no learning curves.")
    counts = card.training_data.get("counts")
    if counts:
        st.subheader("Training images per class")
        st.plotly_chart(figures.distribution_figure(counts))


def show_abstention(p: performance.Predictions, card: ModelCard) -> None:
    curve = abstention.coverage_curve(p.y_true, p.probabilities, abstention.THRESHOLD_GRID)
    point = card.abstention
    st.plotly_chart(figures.abstention_figure(curve, point))
    if point:
        st.caption(f"At the operating point (threshold {point['threshold']:.2f}) the model answers for {point['coverage']:.0%} "
                   f"of cases with {point['accuracy']:.1%} accuracy on them (target {point.get('target_accuracy', 0):.0%}); "
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


def show_source_tables(validation: dict) -> None:
    """Per-source figures from the card, for grouped folds and for each source left out."""
    st.subheader("Per source")
    for key, (title, predicted_by) in SOURCE_RUNS.items():
        st.markdown(f"**{title}**: each source's images predicted by {predicted_by}.")
        run = validation.get(key)
        if run:
            table = performance.source_table(run["per_source"])
            st.dataframe(table.style.format("{:.1%}", subset=list(performance.SOURCE_SHARES), na_rep="–"), hide_index=True)
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
    recall.dataframe(performance.label_recall_table(chosen), hide_index=True, column_config={"Right": PERCENT})
    recall.caption("Right: the share of each true label whose top class it allows; pneumonia of unknown type is right "
                   "when called bacterial or viral.")


def show_source_audit(audit: dict | None) -> None:
    """How well the model's features tell the source, beside how well they tell the class, each against chance."""
    if not audit:
        return
    st.subheader("Shortcut audit")
    source, label = st.columns(2)
    for col, name, key in ((source, "Source told from the features", "source"), (label, "Class told from the features", "class")):
        col.metric(name, f"{audit[f'{key}_balanced_accuracy']:.1%}", delta=f"chance {audit[f'{key}_chance']:.1%}",
                   delta_color="off", delta_arrow="off", help=f"Balanced accuracy on held-out folds: {audit['method']}.")
    st.caption("How well a simple classifier on the model's features names the film's source, beside how well it names "
               "the class. A source named far above chance means the features carry the hospital, and the model can "
               "lean on where a film came from instead of on the disease.")


def show_aims(aims: list[dict] | None) -> None:
    """The card's aims with the measured values, as the card states them."""
    if not aims:
        return
    st.subheader("Aims")
    st.dataframe(performance.aims_table(aims), hide_index=True,
                 column_config={"Value": st.column_config.NumberColumn(format="%.3f")})


def show_by_source(model_dir: Path, card: ModelCard) -> None:
    """Per-source figures, one source's confusion matrix, the shortcut audit and the aims, or why there are none."""
    validation = card.validation
    if not validation:
        st.info(f"{model_dir.name} was not validated across sources: its card has no per-source figures and no "
                "leave-one-source-out run, so nothing says how it does on a hospital it never saw.")
        return
    show_source_tables(validation)
    show_source_confusion(model_dir, card)
    show_source_audit(validation.get("source_audit"))
    show_aims(validation.get("aims"))


def run_evaluation(model_dir: Path, source: str, read: Callable[[], LabelledFiles]) -> dict:
    """Evaluate a labelled set `read()` with core.evaluation.evaluate, as `python -m core.cli.evaluate` does."""
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
    return run_evaluation(model_dir, "that folder", lambda: read_labelled_folder(str(root)))


def _interval(ci: list[float] | None) -> str:
    return "–" if ci is None else f"{ci[0]:.1%} to {ci[1]:.1%}"


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


def show_evaluation_result(result: dict, card: ModelCard) -> None:
    summary, rows = result["summary"], result["rows"]
    show_evaluation_cautions(summary, rows)
    cols = st.columns(5)
    cols[0].metric("Images evaluated", summary["n"])
    cols[1].metric("Accuracy", f"{summary['accuracy']:.1%}", help="Share of images whose top class is the true one.")
    cols[1].caption(f"95 % interval: {_interval(summary['accuracy_ci'])}")
    cols[2].metric("Macro-F1", f"{summary['macro_f1']:.3f}")
    cols[3].metric("Inconclusive", summary["abstained"], help="Top probability below the model's threshold; "
                   "still counted by their top class below.")
    cols[4].metric("Not a chest X-ray", summary["not_a_chest_xray"], help="Unlike the training images; "
                   "still counted by their top class below.")
    per_class = summary["per_class"]
    st.dataframe(pd.DataFrame({"Class": DISPLAY_NAMES, "Images": [per_class[n]["support"] for n in CLASS_NAMES],
                               "Recall": [f"{per_class[n]['recall']:.1%}" if per_class[n]["support"] else "–" for n in CLASS_NAMES],
                               "95 % interval": [_interval(per_class[n]["recall_ci"]) for n in CLASS_NAMES]}), hide_index=True)
    st.caption("Recall: the share of each true class the model called by its name. 95 % intervals are Wilson score "
               "intervals: with this many images the true figure is likely to lie in them.")
    if summary["unreadable"]:
        with st.expander(f"{len(summary['unreadable'])} file(s) could not be read and were left out", expanded=True):
            for item in summary["unreadable"]:
                st.markdown(plain(item["error"]))
    table = with_provenance(evaluation_table(rows), card, card.threshold, result["created"])
    st.download_button("Download per-image results (CSV)", csv_bytes(table), "evaluation.csv", "text/csv")
    calibrated = performance.predictions_from_rows(rows)
    temperature = card.calibration.temperature
    show_set(calibrated.with_temperature(1 / temperature), calibrated, temperature, key="own")


def show_own_evaluation(model_dir: Path, card: ModelCard) -> None:
    st.write("Upload a ZIP with one folder per class, named " + ", ".join(f"`{name}`" for name in CLASS_NAMES)
             + ", or give such a folder on this server. The same code runs behind `python -m core.cli.evaluate DATA_DIR`. "
             "Nothing you upload is stored. Use images the model has never seen: its own training images "
             f"({card.training_data['source']}) give flattering figures, and are flagged.")
    sources = ["ZIP upload"] + ["Folder on this server"] * server_folders_allowed()
    if st.radio("Images from", sources, horizontal=True, key="own_source") == "ZIP upload":
        upload = st.file_uploader(f"ZIP of labelled images (at most {MAX_ZIP_BYTES // 2**20} MB)", type="zip",
                                  max_upload_size=MAX_ZIP_BYTES // 2**20)
        source = upload and (str(model_dir), upload.name, upload.file_id)
        if upload and st.session_state.get("own_evaluation", {}).get("source") != source:
            result = run_evaluation(model_dir, upload.name, lambda: read_labelled_zip(upload.getvalue()))
            st.session_state["own_evaluation"] = {"source": source, **result}
    else:
        folder = st.text_input("Labelled folder on this server", placeholder=str(allowed_roots()[0]),
                               help="Absolute, or relative to the first allowed folder.", key="own_folder")
        source = folder and (str(model_dir), folder)
        if st.button("Evaluate folder", disabled=not folder, key="own_evaluate"):
            st.session_state["own_evaluation"] = {"source": source, **evaluate_server_folder(model_dir, folder)}
    result = st.session_state.get("own_evaluation")
    if not source or not result or result["source"] != source:
        return
    if "error" in result:
        st.error(plain(result["error"]))
    else:
        show_evaluation_result(result, card)


def show_headline(card: ModelCard) -> None:
    cv, calibration = card.cross_validation, card.calibration
    cols = st.columns(len(performance.CV_FIGURES) + 2)
    for col, (key, label) in zip(cols, performance.CV_FIGURES.items()):
        figure = cv.get(key)
        if figure:
            col.metric(label, f"{figure['mean']:.1%}", delta=f"± {figure['std']:.1%} across folds", delta_color="off",
                       delta_arrow="off", help=f"Mean ± standard deviation across "
                       f"{len(figure['per_fold'])} folds; per fold: " + ", ".join(f"{v:.1%}" for v in figure["per_fold"]))
    loso = card.loso_accuracy
    if loso is not None:
        cols[-2].metric(performance.LOSO_ACCURACY, f"{loso:.1%}", help="Each source in turn left out of training and "
                        "predicted by a model trained on the others: the estimate for a hospital it has not seen.")
    cols[-1].metric("ECE after calibration", f"{calibration.ece_after:.3f}",
                    delta=f"{calibration.ece_after - calibration.ece_before:+.3f} from {calibration.ece_before:.3f}",
                    delta_color="inverse", help="Expected calibration error of the out-of-fold probabilities, "
                    "after and before temperature scaling (lower is better).")


def main() -> None:
    model_dirs = list_model_dirs()
    if not model_dirs:
        st.error("No model found in models/. Train one with `python -m core.cli.train DATA_DIR --out models/default`.")
        st.stop()
    if len(model_dirs) > 1:
        st.subheader("Models side by side")
        stamps = tuple((d / CARD_FILE).stat().st_mtime for d in model_dirs)
        try:
            st.dataframe(comparison_table(tuple(map(str, model_dirs)), stamps), hide_index=True,
                         column_config={"Parameters": st.column_config.NumberColumn(format="localized"),
                                        "Size (MB)": st.column_config.NumberColumn(format="%.1f")})
        except ModelLoadError as err:
            st.error(f"The models cannot be compared: {err}")
        st.caption("Each model is cross-validated on its own training images: mean ± standard deviation across folds. "
                   "The classes of chest_xray_4class come from different hospitals and age groups, so a model trained on "
                   "it can score well by recognising the source. "
                   f"{performance.LOSO_ACCURACY}: each source predicted by a model that never saw it; – where a model "
                   "was not validated across sources.")
    model_dir = st.selectbox("Model", model_dirs, format_func=lambda d: d.name)
    try:
        show_model(model_dir)
    except ModelLoadError as err:
        st.error(f"{model_dir.name} cannot be shown: {err}")


def show_model(model_dir: Path) -> None:
    """Everything the page says about one model folder."""
    card = read_card(model_dir)
    if model_dir != DEFAULT_MODEL_DIR:
        st.info(f"This page now shows **{model_dir.name}**. Diagnose always uses **{DEFAULT_MODEL_DIR.name}** "
                f"(models/{DEFAULT_MODEL_DIR.name}), and the sidebar shows {DEFAULT_MODEL_DIR.name}'s figures, not these.",
                icon=":material/info:")
    if card.exhibit:
        st.warning(card.exhibit, icon=":material/warning:")
    temperature = card.calibration.temperature
    st.caption(f"{card.backbone} · {card.input_size} px · trained {card.trained_at} on {card.training_data['n']} images. "
               f"Its figures are {card.cross_validation.get('figures_are', 'cross-validated estimates')}.")
    show_headline(card)
    if not (model_dir / PREDICTIONS_FILE).is_file():
        st.warning(f"{model_dir.name} has no {PREDICTIONS_FILE}; retrain it to see its cross-validated figures.")
        show_own_evaluation(model_dir, card)
        return
    raw = performance.read_predictions(model_dir, card)
    calibrated = raw.with_temperature(temperature)
    tabs = st.tabs(["Cross-validation", "By source", "Abstention", "Training", "Misclassified", "Evaluate your own images"])
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
    with tabs[5]:
        show_own_evaluation(model_dir, card)


main()
