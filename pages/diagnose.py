"""Analyse an X-ray: upload chest films, read the model's three answers and how sure it is, and see where it looked."""
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from streamlit.typing import UploadedFile

from core.classes import DISPLAY_NAMES
from core.data.samples import read_sample, sample_files
from core.evaluation.performance import populations_table
from core.imaging.decode import DecodedImage, ImageDecodeError
from core.imaging.viewing import FILE_WINDOW, WINDOW_PRESETS, display_pixels, preset_window
from core.model.card import ModelCard
from core.model.questions import INCONCLUSIVE, QuestionAnswer
from core.serving import answers as words
from core.serving.classifier import Classifier
from core.serving.diagnosis import MAX_KEPT, Diagnosis, diagnose, upload_key
from core.serving.export import PROBABILITY_COLUMNS, SHOWN_RANGE, TRIAGE_WIDTHS, csv_bytes, research_table, triage_table
from core.serving.lung_focus import OUTSIDE_WARNING, looked_outside_lungs
from core.serving.probability_text import probability_text
from core.serving.refusal import refusal_reason
from core.serving.report import ReportContent, decision_text, jpeg_bytes, pdf_report, png_bytes
from core.serving.saliency import HEATMAP_OPACITY, METHODS, Explainer, GradCAM, ScoreCAM, overlay
from ui.common import BLUE, DISCLAIMER, PALE_BLUE, load_classifier_or_stop, plain, route_through_app
from ui.session_memo import remembered
from ui.streamlit_internals import release_uploads

route_through_app()

RESULTS_KEY = "diagnose_results"  # session_state: {upload_key: Diagnosis | ImageDecodeError}, oldest first, at most MAX_KEPT
SAMPLE_KEY = "diagnose_sample"  # session_state: the chosen sample film's Diagnosis
UPLOADER_ROUND = "diagnose_uploader_round"  # the uploader's key ends with it: a new key gives an empty uploader
CUSTOM_WINDOW = "Custom"
ORIGINAL_QUALITY, OVERLAY_QUALITY = 90, 100  # the JPEGs st.image itself makes of an encoded image and of an array
QUESTION_HELP = {
    "covid19": "The probability that the film shows a COVID-19 pattern, calibrated on films of patients held out.",
    "abnormal": "The probability that the film is abnormal: one of the pneumonias the model knows (COVID-19, bacterial "
                "or viral). Other diseases were never shown to it.",
    "pneumonia_type": "If the film shows a pneumonia: the probability that it is bacterial rather than viral. Learned "
                      "almost only from children's films of one hospital.",
}
UNANSWERED_NOTE = ("None of the three questions reached its cut-offs: the model cannot tell. The probabilities below "
                   "say which way it leans.")
COLOUR_CAPTION = (
    "**Reading the heatmap.** Red and yellow mark the regions whose features raised the score of the explained "
    "class most; blue regions contributed little. It shows where the network looked, not whether it was right: "
    "it is not a lesion outline, it is coarse (the network's last feature maps are a few cells across, stretched "
    "over the image), and a hot spot on a label, a marker or the image border means the network is using "
    "something that is not anatomy."
)


def original_jpeg(result: Diagnosis, window: tuple[float, float] | None, clahe: bool, inverted: bool) -> bytes:
    """The original as the screen gets it (st.image would re-encode any other format as this JPEG on every rerun),
    made once per film and view in this session."""
    return remembered("diagnose_original", (result.key, window, clahe, inverted),
                      lambda: jpeg_bytes(display_pixels(result.decoded, window, clahe, inverted), ORIGINAL_QUALITY))


def overlay_jpeg(result: Diagnosis, cam: np.ndarray, opacity: float) -> bytes:
    """The heatmap over the film's display-size copy as the screen gets it, made once per film, map and opacity in
    this session."""
    return remembered("diagnose_overlay", (result.key, cam.tobytes(), opacity),
                      lambda: jpeg_bytes(overlay(result.decoded.pixels, cam, opacity), OVERLAY_QUALITY))


def analyse(classifier: Classifier, name: str, data: bytes) -> Diagnosis | ImageDecodeError:
    """The Diagnosis, or a fresh copy of the decode error: the raised one's traceback would hold on to the file."""
    try:
        return diagnose(classifier, name, data)
    except ImageDecodeError as err:
        return ImageDecodeError(err.name, err.reason)


def keep_uploads(classifier: Classifier, uploads: list[UploadedFile]) -> str:
    """Analyse a batch into this session's results (an upload seen before is not analysed again), keep at most
    MAX_KEPT (the oldest go first), let go of the files, give the uploader a new key (so it is drawn empty) and choose
    the batch's first file for the details; returns what could not be kept, in words ("" when all was)."""
    kept = st.session_state.setdefault(RESULTS_KEY, {})
    batch, notices = uploads[:MAX_KEPT], []
    if len(uploads) > MAX_KEPT:
        notices.append(f"Only the first {MAX_KEPT} of the {len(uploads)} files were analysed: this page keeps at most "
                       f"{MAX_KEPT} results per session. Clear the results, then add the others.")
    progress, keys = st.progress(0.0) if len(batch) > 1 else None, []
    for done, upload in enumerate(batch):
        if progress:
            progress.progress(done / len(batch), text=f"Analysing {plain(upload.name)} ({done + 1} of {len(batch)})")
        data = upload.getvalue()
        key = upload_key(upload.name, data)
        kept[key] = kept.pop(key) if key in kept else analyse(classifier, upload.name, data)  # now the newest
        keys.append(key)
    if progress:
        progress.empty()  # the bar goes once the batch is done
    let_go = list(kept)[:max(len(kept) - MAX_KEPT, 0)]
    for key in let_go:
        del kept[key]
    if let_go:
        notices.append(f"The {len(let_go)} oldest result(s) were let go to make room: this page keeps at most "
                       f"{MAX_KEPT} results per session.")
    release_uploads(uploads)
    st.session_state["detail_file"] = next((label for label, result in labelled_results(kept).items()
                                            if result is kept[keys[0]]), None)
    st.session_state[UPLOADER_ROUND] = st.session_state.get(UPLOADER_ROUND, 0) + 1
    return " ".join(notices)


def keep_new_uploads() -> str:
    """keep_uploads for the files dropped on the uploader since the last run, if any. They are held only inside this
    call: a name at the page's top level would keep them until Python's garbage collector frees the finished run."""
    arrived = st.session_state.get(f"uploads_{st.session_state.get(UPLOADER_ROUND, 0)}")
    return keep_uploads(load_classifier_or_stop(), arrived) if arrived else ""


def forget_results() -> None:
    st.session_state.pop(RESULTS_KEY, None)


def sample_result(classifier: Classifier, sample: str) -> Diagnosis:
    """The chosen sample film's analysis, kept while it stays chosen."""
    name = f"{sample} (sample).png"
    result = st.session_state.get(SAMPLE_KEY)
    if result is None or result.decoded.name != name:
        result = st.session_state[SAMPLE_KEY] = diagnose(classifier, name, read_sample(sample))
    return result


def unique_labels(names: list[str]) -> list[str]:
    """File names, with ' (2)', ' (3)' added where the same name was uploaded more than once."""
    seen: dict[str, int] = {}
    labels = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        labels.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return labels


def labelled_results(kept: dict[str, Diagnosis | ImageDecodeError]) -> dict[str, Diagnosis]:
    """The readable results, oldest first, by a label naming their file (unique_labels)."""
    results = [outcome for outcome in kept.values() if isinstance(outcome, Diagnosis)]
    return dict(zip(unique_labels([result.decoded.name for result in results]), results, strict=True))


def show_results(classifier: Classifier, kept: dict[str, Diagnosis | ImageDecodeError]) -> None:
    """The files that could not be read, then the summary (for more than one) and the chosen result's detail."""
    for outcome in kept.values():
        if isinstance(outcome, ImageDecodeError):
            st.error(f"**{plain(outcome.name)}** could not be analysed: {outcome.reason}.", icon=":material/error:")
    results = labelled_results(kept)
    if results:
        labels, diagnoses = list(results), list(results.values())
        chosen = choose_result(labels, diagnoses, classifier.card) if len(results) > 1 else diagnoses[0]
        show_detail(classifier, chosen)


def triage_columns() -> dict[str, st.column_config.Column]:
    """Answers as text, probabilities as numbers shown in percent (so that a click on the header sorts them)."""
    low, high = SHOWN_RANGE
    config = {"File": st.column_config.TextColumn(width=TRIAGE_WIDTHS["File"]),
              "Status": st.column_config.TextColumn(width=TRIAGE_WIDTHS["Status"])}
    for name, title in words.TABLE_TITLES.items():
        config[title] = st.column_config.TextColumn(width=TRIAGE_WIDTHS[title], help=QUESTION_HELP[name])
        config[PROBABILITY_COLUMNS[name]] = st.column_config.NumberColumn(
            format="%.1f %%", width=TRIAGE_WIDTHS[PROBABILITY_COLUMNS[name]],
            help=f"The model's probability, shown between {low} % and {high} %: it is never certain. Empty for a film "
                 "that is not a chest X-ray.")
    return config


def choose_result(labels: list[str], results: list[Diagnosis], card: ModelCard) -> Diagnosis:
    """The batch's answers, one row per film and downloadable; a clicked row (or the select box) picks the detail."""
    st.subheader(f"{len(results)} films")

    def show_clicked_row() -> None:
        rows = st.session_state["summary_table"].selection.rows
        if rows:
            st.session_state["detail_file"] = labels[rows[0]]

    st.dataframe(triage_table(labels, results), hide_index=True, key="summary_table", on_select=show_clicked_row,
                 selection_mode="single-row", column_order=list(TRIAGE_WIDTHS), column_config=triage_columns())
    st.download_button("Download the answers (CSV)", csv_bytes(research_table(labels, results, card)),
                       "xray_answers.csv", "text/csv", icon=":material/download:",
                       help="One row per film: each question's probability (0 to 1) and answer, each class's "
                            "probability, the status, when it was analysed and by which model.")
    if st.session_state.get("detail_file") not in labels:
        st.session_state.pop("detail_file", None)
    label = st.selectbox("Show the details of", labels, key="detail_file", help="Or click a row in the table.")
    return results[labels.index(label)]


def probability_chart(probabilities: np.ndarray, threshold: float) -> go.Figure:
    """Horizontal bars of the four class probabilities, the top class darker, the threshold dashed; each value sits to
    the right of the axis, where no line crosses it. Built in one call (a third of the cost of adding the labels and
    the line one by one)."""
    top = int(np.argmax(probabilities))
    names = [name.removesuffix(" Pneumonia") for name in DISPLAY_NAMES]  # short labels leave the bars room
    shown = [probability_text(p) for p in probabilities]
    values = [dict(x=1.0, y=name, text=text, showarrow=False, xanchor="left", xshift=6, font_size=13)
              for name, text in zip(names, shown, strict=True)]
    line = dict(type="line", x0=threshold, x1=threshold, xref="x", y0=0, y1=1, yref="y domain",
                line=dict(color="#7a7a7a", dash="dash"))
    label = dict(x=threshold, xref="x", y=1, yref="y domain", text=f"threshold {threshold:.0%}", showarrow=False,
                 xanchor="center", yanchor="bottom")
    bars = go.Bar(x=[float(p) for p in probabilities], y=names, orientation="h", customdata=shown,
                  marker_color=[BLUE if i == top else PALE_BLUE for i in range(len(names))],
                  hovertemplate="%{y}: %{customdata}<extra></extra>")
    return go.Figure(bars, go.Layout(annotations=[*values, label], shapes=[line], height=230, showlegend=False,
                                     margin=dict(l=10, r=70, t=30, b=10), font_size=13,
                                     xaxis=dict(range=[0, 1], tickformat=".0%", dtick=0.25),
                                     yaxis=dict(autorange="reversed")))


def explanation_map(classifier: Classifier, result: Diagnosis, method: type[Explainer], class_index: int) -> np.ndarray:
    """The saliency map, with a spinner when it is not yet computed and is not the instant Grad-CAM."""
    if method is GradCAM or result.has_map(method, class_index):
        return result.saliency_map(classifier, method, class_index)
    note = ": Score-CAM re-runs the network on masked copies of the image, a few seconds" if method is ScoreCAM else ""
    with st.spinner(f"Computing {method.title} for {DISPLAY_NAMES[class_index]}{note}…", show_time=True):
        return result.saliency_map(classifier, method, class_index)


def viewing_aids(decoded: DecodedImage, key: str) -> tuple[tuple[float, float] | None, bool, bool]:
    """Display-only controls for the original: (DICOM window or None, CLAHE, invert)."""
    window = None
    if decoded.dicom_values is not None:
        preset = st.selectbox("DICOM window", (*WINDOW_PRESETS, CUSTOM_WINDOW), key="window_preset",
                              help="Which range of the stored values is spread from black to white.")
        if preset == CUSTOM_WINDOW:
            centre, width = decoded.window
            left, right = st.columns(2)
            window = (left.number_input("Centre", value=float(centre), key=f"centre_{key}"),
                      right.number_input("Width", value=float(width), min_value=1.0, key=f"width_{key}"))
        elif preset != FILE_WINDOW:
            window = preset_window(decoded, preset)
    clahe = st.toggle("Enhance contrast (CLAHE)", key="clahe", help="Contrast-limited adaptive histogram "
                      "equalisation: brings out detail in dark and bright regions.")
    inverted = st.toggle("Invert (bone dark)", key="invert")
    return window, clahe, inverted


def original_caption(window: tuple[float, float] | None, clahe: bool, inverted: bool) -> str:
    applied = ([f"window {window[0]:g} / {window[1]:g}"] if window else []) + ["CLAHE"] * clahe + ["inverted"] * inverted
    return "Original" + (f" ({', '.join(applied)}: display only, the model reads the unaltered image)" if applied else "")


def explanation_controls(result: Diagnosis, key: str) -> tuple[type[Explainer], float, int]:
    """(method, heatmap opacity, class to explain), the top class by default."""
    how, which = st.columns([3, 2], gap="medium")  # the method's three labels need the room
    method = how.segmented_control("Explanation method", METHODS, format_func=lambda m: m.title, default=GradCAM,
                                   key="cam_method", help="Grad-CAM is instant; Score-CAM takes a few seconds.") or GradCAM
    opacity = which.slider("Heatmap opacity", 0.0, 1.0, HEATMAP_OPACITY, 0.05, key="opacity")
    class_index = how.selectbox("Class to explain", range(len(DISPLAY_NAMES)), index=result.top, key=f"explain_{key}",
                                format_func=lambda i: DISPLAY_NAMES[i] + (" (top class)" if i == result.top else ""))
    return method, opacity, class_index


def show_explanation(classifier: Classifier, result: Diagnosis, method: type[Explainer], opacity: float,
                     class_index: int) -> tuple[np.ndarray, str, str]:
    """The heatmap over the image and, when it lies mostly outside the lungs, a caution beside it; returns
    (map, caption, caution or "")."""
    cam = explanation_map(classifier, result, method, class_index)
    caption = f"{method.title} for {DISPLAY_NAMES[class_index]}"
    blended = overlay_jpeg(result, cam, opacity)
    st.image(blended, caption=caption, width="stretch", output_format="JPEG")
    caution = OUTSIDE_WARNING if looked_outside_lungs(cam) else ""
    if caution:
        st.warning(caution, icon=":material/visibility:")
    return cam, caption, caution


def show_downloads(classifier: Classifier, result: Diagnosis, threshold: float, method: type[Explainer],
                   opacity: float, explained: tuple[np.ndarray, str, str]) -> None:
    """The overlay PNG and the PDF report, one under the other so that neither label is cut; each is drawn only when
    its button is clicked."""
    cam, caption, caution = explained
    decoded, key = result.decoded, result.key[:16]
    stem, created = decoded.name.rsplit(".", 1)[0], datetime.now(UTC)

    def report() -> bytes:
        return pdf_report(ReportContent(decoded.name, decoded.pixels, overlay(decoded.pixels, cam, opacity), caption,
                                        result.probabilities, result.answers or {}, result.film_status, threshold,
                                        classifier.card, DISCLAIMER, created, caution))

    st.download_button("Overlay (PNG)", lambda: png_bytes(overlay(decoded.pixels, cam, opacity)),
                       f"{stem}_{method.key}.png", "image/png", icon=":material/image:", key=f"png_{key}",
                       width="stretch")
    st.download_button("Report (PDF)", report, f"{stem}_report.pdf", "application/pdf",
                       icon=":material/picture_as_pdf:", key=f"pdf_{key}", width="stretch")


def show_status(classifier: Classifier, result: Diagnosis) -> None:
    """What lowers trust in the answers, said first; nothing for a plainly answered film (no approval styling)."""
    status = result.film_status
    if status == words.REFUSED:
        st.error(f"**{words.FILM_STATUS_TEXT[status]}.** "
                 + refusal_reason(result.decoded.pixels, result.ood_score, classifier.ood.threshold),
                 icon=":material/block:")
    elif status == words.READ_WITH_CARE:
        st.warning(f"**{words.FILM_STATUS_TEXT[status]}.** {words.OUTSIDE_LUNGS}", icon=":material/visibility:")
    elif status == words.UNANSWERED:
        st.warning(f"**{words.FILM_STATUS_TEXT[status]}.** {UNANSWERED_NOTE}", icon=":material/help:")


def show_answer(card: ModelCard, answer: QuestionAnswer) -> None:
    """One question: its answer in words (amber when the model cannot tell), its probability, its cut-offs, and how
    its answers did on hospitals it never saw (details in the tooltip)."""
    word = words.answer_word(answer).capitalize()
    validation = card.questions[answer.name] if card.questions else None
    with st.container(border=True):
        st.markdown(f"**{words.TITLES[answer.name]}**", help=QUESTION_HELP[answer.name])
        shown = f"{word} · {plain(words.probability_phrase(answer))}"
        st.markdown(f"#### {':orange[' + shown + ']' if answer.answer == INCONCLUSIVE else shown}")
        if validation:
            details = "\n".join(f"- {line}" for line in words.unseen_details(validation))
            unvalidated = words.never_validated_text(validation)
            st.caption(f"{words.cut_off_text(answer.name, validation).capitalize()}. "
                       f"{words.unseen_text(validation).capitalize()}."
                       + (" :orange[Not validated on every kind of film.]" if unvalidated else ""),
                       help=(details + "\n\n" + unvalidated).strip() or None)


def show_answers(classifier: Classifier, result: Diagnosis) -> None:
    """The three answers side by side: what a reader looks for first."""
    for column, answer in zip(st.columns(len(result.answers)), result.answers.values(), strict=True):
        with column:
            show_answer(classifier.card, answer)


def show_detail(classifier: Classifier, result: Diagnosis) -> None:
    """The status and the three answers first, then the original, its explanation and the four-class detail side by
    side, then the controls. A film that is not a chest X-ray gets its reason and the image only: no probabilities,
    no map and no report."""
    decoded, key = result.decoded, result.key[:16]
    st.subheader(plain(decoded.name))
    show_status(classifier, result)
    if result.answers:
        show_answers(classifier, result)
    original, explained, numbers = st.columns([1, 1, 1.15], gap="medium")
    aids, explain = st.columns([1, 2], gap="medium")  # drawn under the images, filled first
    with aids:
        window, clahe, inverted = viewing_aids(decoded, key)
    with original:
        st.image(original_jpeg(result, window, clahe, inverted),
                 caption=original_caption(window, clahe, inverted), width="stretch", output_format="JPEG")
    if result.is_chest_xray:
        with explain:
            method, opacity, class_index = explanation_controls(result, key)
        with explained:
            explanation = show_explanation(classifier, result, method, opacity, class_index)
        with numbers:
            threshold = show_four_classes(classifier, result, key)
            show_downloads(classifier, result, threshold, method, opacity, explanation)
    with numbers.expander("Image details", expanded=decoded.source_format == "DICOM"):
        st.table(pd.DataFrame({"Field": ["Format", *decoded.metadata],
                               "Value": [decoded.source_format, *decoded.metadata.values()]}).set_index("Field"))
    if result.is_chest_xray:
        st.caption(COLOUR_CAPTION)


def show_four_classes(classifier: Classifier, result: Diagnosis, key: str) -> float:
    """The four-class probabilities as a detail, with the threshold below which that reading names no class;
    returns the threshold."""
    st.markdown("**Detail: the four classes**", help="The network's own output. The three answers above are read "
                "from it, each with its own calibration and cut-offs.")
    threshold = st.session_state.get("threshold", round(classifier.threshold, 2))
    chart = remembered("diagnose_chart", (result.key, threshold), lambda: probability_chart(result.probabilities, threshold))
    st.plotly_chart(chart, width="stretch",
                    config={"displayModeBar": False}, key=f"chart_{key}")
    st.slider("Four-class threshold", 0.25, 1.0, round(classifier.threshold, 2), 0.01, key="threshold",
              help=f"Below it the four-class reading names no class. It starts at {classifier.threshold:.2f}, "
                   "chosen by cross-validation; it changes only the wording, never the probabilities or the answers.")
    headline, detail = decision_text(result.probabilities, result.status(threshold), threshold)
    st.caption(f"{headline}: {detail}")
    return threshold


NOT_SEEN = (
    "- It has **not seen** lateral views or CT; films with devices, lines or after surgery; tuberculosis, cancer, "
    "effusion, a collapsed lung or other diseases (they are forced into one of the four classes or called "
    "inconclusive); children outside one to five years; hospitals other than these sources.\n"
)


def validation_text(card: ModelCard) -> str:
    """What the answers' figures were measured on."""
    n = card.training_data.n
    if not card.questions:
        return (f"- It learned from **{n} images** and predates the three questions: its figures are four-class "
                "cross-validation on those same images, not a hospital it never saw.\n")
    return (f"- It learned from **{n} films** from the sources above. Each answer's figure for hospitals it never saw "
            "comes from leaving each source out of training in turn (Model performance has every figure).\n")


def show_limits(card: ModelCard) -> None:
    """Who the model was validated on (sources, counts, age groups) and what it has not seen; always open."""
    by_source = card.training_data.by_source
    with st.expander("Who this model was validated on, and what it has not seen", expanded=True):
        if by_source:
            st.dataframe(populations_table(by_source), hide_index=True)
        st.markdown(validation_text(card) + NOT_SEEN +
                    f"- It reads one frontal view at {card.input_size} × {card.input_size} "
                    "pixels, without the history, examination or earlier images.\n"
                    f"- **{DISCLAIMER}**")


st.markdown("Upload frontal chest X-rays: for each film the network answers three questions, says how sure it is "
            "and shows where it looked.", help="Files are read in memory, analysed and let go, never saved: this "
            f"session keeps only its results (a screen-size copy of each image, at most {MAX_KEPT}) until you clear "
            "them or close the tab. While an upload over 1 MB arrives, the web server buffers it in an unnamed "
            "temporary file, deleted as soon as it is received.")
notice = keep_new_uploads()  # before the uploader is drawn, so that it is drawn empty: no second run to wait for
upload_column, sample_column = st.columns([3, 1])
upload_column.file_uploader(  # no type filter: files are recognised by content (DICOMs often have no extension)
    f"Chest X-rays (PNG, JPEG, BMP, TIFF, WebP or DICOM, with or without an extension; at most "
    f"{st.get_option('server.maxUploadSize')} MB each)", key=f"uploads_{st.session_state.get(UPLOADER_ROUND, 0)}",
    accept_multiple_files=True)
kept = st.session_state.get(RESULTS_KEY, {})
sample = None
if kept:  # in the sample's place: a sample is offered only while there are no results
    sample_column.caption(f"{len(kept)} film(s) in this session's results (at most {MAX_KEPT}: the oldest goes first).")
    sample_column.button("Clear the results", on_click=forget_results, key="clear_results", icon=":material/delete:")
else:
    sample = sample_column.selectbox("No X-ray at hand? Try a sample", list(sample_files()), index=None, key="sample",
                                     placeholder="Choose a sample film",
                                     help="Openly licensed films, credited in the project's sample attributions. They "
                                          "are in the model's training set, so its answer on them is not a test of it.")
classifier = load_classifier_or_stop()
if notice:
    st.info(notice, icon=":material/info:")
if kept:
    show_results(classifier, kept)
elif sample:
    show_detail(classifier, sample_result(classifier, sample))
show_limits(classifier.card)
