"""Train a CNN: a small network trained live on digits or low-resolution X-rays, and scratch versus transfer."""
import hashlib
import uuid
from dataclasses import dataclass, field
from functools import partial

import cv2
import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from core.classes import DISPLAY_NAMES
from core.data.folders import DatasetError, Progress
from core.data.samples import read_sample, sample_files
from core.data.server_paths import ServerPathError, resolve_user_folder, server_folders_allowed
from core.data.zip_upload import MAX_ZIP_BYTES
from core.imaging.decode import ImageDecodeError, decode_image
from core.paths import TEACHING_DATASET
from core.serving.probability_text import probability_text
from core.teaching.background import Job, Report
from core.teaching.live_training import (
    ACTIVATIONS,
    OPTIMIZERS,
    EpochCheck,
    LabelledArrays,
    LiveTraining,
    RunResult,
    TrainingConfig,
    digits_arrays,
    image_for_network,
    keras_file,
    probabilities,
    xray_arrays,
    zip_xray_arrays,
)
from core.teaching.phantom_task import FILMS, phantom_arrays
from core.teaching.transfer_comparison import (
    TRANSFER_SIZE,
    Comparison,
    FilmReader,
    WeightsUnavailableError,
    compare,
    folder_films,
    phantom_films,
    zip_films,
)
from ui.classroom_sidebar import page_context
from ui.common import BLUE, RED, plain, route_through_app
from ui.job_view import follow_job, is_running, start_job
from ui.projector import intro_with_switch, show_chart, show_table

route_through_app()

DIGITS = "Handwritten digits, 8×8 (bundled with scikit-learn)"
SHARED = "Chest X-rays (the shared data set)"
FOLDER = "Chest X-rays from a folder on this server"
ZIP = "Chest X-rays from a ZIP you upload"
XRAYS = "Chest X-rays at low resolution"
PHANTOMS = "Chest phantoms: clear or with an opacity (drawn here, no data needed)"
PHANTOM_TEXT = (f"{FILMS} drawn chest phantoms, half with a soft pneumonia-like opacity in one lung, at seeded "
                "positions, sizes, shapes and contrasts, under varied pose, exposure, blur and noise. Not X-rays: a "
                "task that needs no data.")
PACES = {"Real time": 0.0, "Slow motion: at least 1 s an epoch": 1.0}  # the shortest epoch, in seconds
MISTAKE_PX = 96  # a misclassified image in the live view
LIVE_CHART_PX = 260  # the live view's charts: low enough that the bar and the charts share a 720-pixel screen
LIVE_NUMBERED_CLASSES = 4  # more classes leave the live confusion matrix's cells too small for their counts
OPTIMIZER_NAMES = {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop"}
LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
IMAGE_PX = 320  # images at least this wide, for a projector
HELD_OUT = "An image it never trained on"
SAMPLE_FILM = "A sample film"
YOUR_IMAGE = "Your image"
RUNS_FORMATS = {"Validation": "{:.1%}", "Test": "{:.1%}", "Seconds": "{:.1f}"}  # the runs table's numbers


# ----------------------------------------------------------------------------- data

@st.cache_data(show_spinner="Loading the digits…")
def load_digits_cached() -> LabelledArrays:
    return digits_arrays()


@dataclass(frozen=True)
class FilmSource:
    """Where the films come from: a server folder (`name` is its path), a ZIP upload (`name` is its SHA-256; the bytes
    stay in memory) or the drawn phantoms. Equal sources are the same films, so sessions share their loading."""
    kind: str  # "folder", "zip" or "phantom"
    name: str = ""
    data: bytes | None = field(default=None, compare=False, repr=False)

    def arrays(self, size: int, progress: Progress) -> LabelledArrays:
        if self.kind == "phantom":
            return phantom_arrays(size, progress=progress)
        if self.kind == "zip":
            return zip_xray_arrays(self.data, size, progress)
        return xray_arrays(self.name, size, progress)

    def films(self) -> FilmReader:
        """The films as Scratch versus transfer reads them."""
        return {"phantom": phantom_films, "zip": lambda: zip_films(self.data), "folder": lambda: folder_films(self.name)}[self.kind]()


PHANTOM_SOURCE = FilmSource("phantom")


def shareable(source: FilmSource) -> bool:
    """Whether other sessions may join work on these films and take its result: never for an upload, which nothing
    keeps after its session."""
    return source.kind != "zip"


def read_films(source: FilmSource, size: int, report: Report) -> LabelledArrays:
    """The work behind "Load the X-rays": every image read is a step of the bar, and a step where Stop can end it."""
    what = "Drawing phantom film" if source.kind == "phantom" else "Reading and shrinking X-ray"
    return source.arrays(size, lambda done, total: report(f"{what} {done} of {total}…", done, total))


def describe_error(what: str, err: Exception) -> str:
    """A background job's failure in words: the data or weights problem as such, anything else named."""
    if isinstance(err, (DatasetError, WeightsUnavailableError)):
        return str(err)
    return f"{what} failed: {type(err).__name__}: {err}"


def load_films(source: FilmSource, size: int) -> LabelledArrays | None:
    """The films of `source` at `size` pixels once loaded; until then a button, then a bar with Stop (None meanwhile)."""
    wanted = (source.kind, source.name, size)  # plain values: the page's classes are new on every rerun
    if st.session_state.get("xrays_for") == wanted and "xrays_result" in st.session_state:
        return st.session_state["xrays_result"]
    if not is_running("xrays"):
        what = "Draw the phantom films" if source.kind == "phantom" else "Load the X-rays"
        if st.button(f"{what} at {size} × {size} pixels", type="primary", key="load_xrays"):
            st.session_state["xrays_for"] = wanted
            start_job("xrays", ("xrays", *wanted), partial(read_films, source, size), shared=shareable(source))
            st.rerun()  # redraw without the button, with the bar
        st.caption("Every image is read and shrunk once; the same films and size are then ready at once for everyone "
                   "(films from your ZIP stay yours alone). Train waits for them.")
    follow_job("xrays", partial(describe_error, "Loading the films"))
    return None


def uploaded_zip(key: str) -> FilmSource | None:
    """A labelled ZIP upload, read in memory as Model performance reads one; None (with what to do) until there is one."""
    upload = st.file_uploader(f"ZIP of X-rays, one folder per class: covid19, normal, bacterial_pneumonia, "
                              f"viral_pneumonia (at most {MAX_ZIP_BYTES // 2**20} MB, kept in memory only)",
                              type="zip", max_upload_size=MAX_ZIP_BYTES // 2**20, key=f"{key}_zip")
    if upload is None:
        st.info("Upload a ZIP of labelled X-rays: at least 5 images in each class folder you include, 2 classes or more.")
        return None
    data = upload.getvalue()
    return FilmSource("zip", hashlib.sha256(data).hexdigest(), data)


def choose_xray_source(key: str, phantoms: bool = False) -> FilmSource | None:
    """The shared X-rays, the phantoms (if asked), a ZIP upload, or a folder the user names inside the allowed server
    folders; None (with a message saying what to do) until the choice can be used."""
    choices = [SHARED] * TEACHING_DATASET.is_dir() + [PHANTOMS] * phantoms + [ZIP] + [FOLDER] * server_folders_allowed()
    choice = st.radio("Films", choices, horizontal=True, key=f"{key}_folder_choice")
    if choice == SHARED:
        return FilmSource("folder", str(TEACHING_DATASET))
    if choice == PHANTOMS:
        st.caption(PHANTOM_TEXT)
        return PHANTOM_SOURCE
    if choice == ZIP:
        return uploaded_zip(key)
    path = st.text_input("Folder with one subfolder per class (covid19, normal, bacterial_pneumonia, viral_pneumonia)",
                         key=f"{key}_folder").strip()
    if not path:
        st.info("Type the path of a folder on the server, absolute or relative to the first allowed folder.")
        return None
    try:
        return FilmSource("folder", str(resolve_user_folder(path)))
    except ServerPathError as err:
        st.error(f"Cannot use that folder: {err}.")
        return None


def choose_data() -> LabelledArrays | None:
    """The data to train on, ready; None (with what to do) until it is."""
    data, pace = st.columns([3, 2])
    source = data.radio("Data", [DIGITS, XRAYS, PHANTOMS], horizontal=True, key="data_source")
    pace.radio("Pace", list(PACES), horizontal=True, key="train_pace", on_change=apply_pace,
               help="Slow motion leaves time to talk over each epoch; Pause, One epoch and Stop work at either pace.")
    if source == DIGITS:
        return load_digits_cached()
    films = choose_xray_source("live") if source == XRAYS else PHANTOM_SOURCE
    if source == PHANTOMS:
        st.caption(PHANTOM_TEXT)
    size = st.select_slider("Film size (pixels)", (32, 48, 64, 96), 64, key="xray_size")
    return None if films is None else load_films(films, size)


# ----------------------------------------------------------------------------- figures

def curves_figure(history: dict[str, list[float]], epochs: int, height: int = 320) -> go.Figure:
    """Loss and accuracy per epoch, training and validation, on a fixed epoch axis so the curves grow."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Loss", "Accuracy"))
    for col, metric in enumerate(("loss", "accuracy"), start=1):
        for prefix, name, colour in (("", "training", BLUE), ("val_", "validation", RED)):
            values = history.get(prefix + metric, [])
            fig.add_trace(go.Scatter(x=list(range(1, len(values) + 1)), y=values, name=name, mode="lines+markers",
                                     line=dict(color=colour), legendgroup=name, showlegend=col == 1), row=1, col=col)
        fig.update_xaxes(title_text="epoch", range=[0.5, max(epochs, 1) + 0.5], row=1, col=col)
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def confusion_figure(confusion: np.ndarray, class_names: tuple[str, ...], title: str, height: int | None = None,
                     numbers: bool = True) -> go.Figure:
    """True against predicted, the count in each cell unless `numbers` is off (cells too small to hold them)."""
    fig = px.imshow(confusion, x=list(class_names), y=list(class_names), text_auto=numbers, color_continuous_scale="Blues",
                    labels=dict(x="predicted", y="true", color="images"), title=title)
    fig.update_layout(height=height or (380 if len(class_names) > 4 else 320), margin=dict(l=10, r=10, t=40, b=10),
                      coloraxis_showscale=False)
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category")
    return fig


def show(fig: go.Figure, key: str | None = None) -> None:
    show_chart(fig, key)


# ----------------------------------------------------------------------------- live training

def choose_config(ready: bool) -> tuple[TrainingConfig, bool]:
    """The training settings, in a form so nothing reruns until Train is pressed: the epochs beside Train, the network
    folded away, so that the run's bar and curves appear on the same screen as the button. Train is enabled only when
    the data are `ready`."""
    running = is_running("live")
    with st.form("config", border=False):
        with st.expander("Network and training settings"):
            a, b, c = st.columns(3)
            batch_size = a.select_slider("Batch size", (8, 16, 32, 64, 128), 32, key="batch_size")
            seed = a.number_input("Seed (the split and the starting weights)", 0, 9999, 42, key="seed")
            layers = b.slider("Convolution layers", 1, 3, 2, key="layers")
            first = b.select_slider("Filters in the first layer (doubling in each next one)", (2, 4, 8, 16, 32), 8, key="train_filters")
            activation = b.selectbox("Activation", ACTIVATIONS, key="train_activation")
            optimizer = c.selectbox("Optimizer", list(OPTIMIZERS), format_func=OPTIMIZER_NAMES.get, key="optimizer")
            learning_rate = c.select_slider("Learning rate", LEARNING_RATES, 1e-3, format_func=lambda v: f"{v:g}", key="learning_rate")
            dropout = c.slider("Dropout before the last layer", 0.0, 0.7, 0.25, 0.05, key="dropout")
        epochs_column, button_column = st.columns([4, 1], vertical_alignment="bottom")
        epochs = epochs_column.slider("Epochs", 1, 50, 10, key="epochs")
        train = button_column.form_submit_button("Train", type="primary", disabled=running or not ready, key="train",
                                                 width="stretch")
    config = TrainingConfig(epochs, batch_size, tuple(first * 2 ** i for i in range(layers)), activation, optimizer,
                            learning_rate, dropout, int(seed))
    return config, train


def apply_pace() -> None:
    """The pace chosen, for the run training now too (the next epoch keeps it)."""
    if job := st.session_state.get("live_job"):
        job.work.min_epoch_s = PACES[st.session_state["train_pace"]]


def step(job: Job) -> None:
    """One more epoch, then pause."""
    job.work.step(job.pause)
    job.resume()


def record(result: RunResult) -> None:
    """Keep a finished run for the comparison table, and as the one shown in full."""
    runs = st.session_state.setdefault("runs", [])
    c = result.config
    runs.append({
        "Run": len(runs) + 1, "Data": result.data_name, "Epochs": f"{result.epochs_run}/{c.epochs}",
        "Batch": c.batch_size, "Filters": " → ".join(map(str, c.filters)), "Activation": c.activation,
        "Optimizer": OPTIMIZER_NAMES[c.optimizer], "Learning rate": f"{c.learning_rate:g}", "Dropout": c.dropout,
        "Parameters": result.parameters, "Validation accuracy": result.history.get("val_accuracy", [np.nan])[-1],
        "Test accuracy": result.test_accuracy, "Seconds": round(result.seconds, 1), "Stopped early": result.stopped,
    })
    st.session_state["last_result"] = result
    st.session_state["last_model_file"] = keras_file(result.model)


def runs_table(runs: list[dict]) -> pd.DataFrame:
    """The runs side by side in few, narrow columns, so that the table fits a 1280-pixel screen."""
    return pd.DataFrame({
        "Run": [r["Run"] for r in runs],
        "Data": [r["Data"] for r in runs],
        "Epochs": [r["Epochs"] + (" stopped" if r["Stopped early"] else "") for r in runs],
        "Network": [f"{r['Filters']} {r['Activation']}, dropout {r['Dropout']:g}, {r['Parameters']:,} weights" for r in runs],
        "Training": [f"{r['Optimizer']} {r['Learning rate']}, batch {r['Batch']}" for r in runs],
        "Validation": [r["Validation accuracy"] for r in runs],
        "Test": [r["Test accuracy"] for r in runs],
        "Seconds": [r["Seconds"] for r in runs],
    })


def live_view(job: Job) -> None:
    """Redrawn with the bar while a run trains: One epoch, the curves so far, and what the network gets wrong."""
    work: LiveTraining = job.work
    curves, errors = st.columns([3, 2])
    with curves:
        show(curves_figure(work.history, work.config.epochs, LIVE_CHART_PX), key="live_curves")
    with errors:
        if work.check is not None:
            title = f"Validation images after epoch {work.check.epoch}"
            numbers = len(work.data.class_names) <= LIVE_NUMBERED_CLASSES
            show(confusion_figure(work.check.confusion, work.data.class_names, title, LIVE_CHART_PX, numbers), key="live_confusion")
    left, right = st.columns([1, 4], vertical_alignment="center")
    left.button("One epoch", icon=":material/skip_next:", on_click=step, args=(job,), disabled=job.stopping,
                key="train_step", width="stretch", help="Train one more epoch, then pause: time to talk it over.")
    right.caption("One epoch trains one more pass over the training images, then pauses; Resume goes on at the pace above.")
    if work.check is not None:
        show_mistakes(work.check, work.data.class_names)


def show_mistakes(check: EpochCheck, class_names: tuple[str, ...]) -> None:
    """The validation images the network got wrong after the latest epoch, surest first, with their labels."""
    if not check.mistakes:
        st.caption(f"After epoch {check.epoch} the network gets every validation image right.")
        return
    st.caption(f"After epoch {check.epoch}: validation images it gets wrong, surest first (true → predicted)")
    images = [cv2.resize(image[..., 0], (MISTAKE_PX, MISTAKE_PX), interpolation=cv2.INTER_NEAREST)
              for image, _, _, _ in check.mistakes]
    captions = [f"{class_names[true]} → {class_names[said]} ({probability_text(p)})" for _, true, said, p in check.mistakes]
    for column, image, caption in zip(st.columns(len(check.mistakes)), images, captions, strict=True):
        column.image(image, caption=caption, width=MISTAKE_PX, clamp=True)


def show_last_result() -> None:
    result: RunResult | None = st.session_state.get("last_result")
    if result is None:
        return
    stopped = f", stopped by you after {result.epochs_run} of {result.config.epochs} epochs" if result.stopped else ""
    st.subheader(f"Last run: {result.data_name}{stopped}")
    a, b, c = st.columns(3)
    a.metric("Test accuracy", f"{result.test_accuracy:.1%}", help=f"On {result.n_test} images the network never trained on.")
    b.metric("Parameters", f"{result.parameters:,}")
    c.metric("Training time", f"{result.seconds:.1f} s", help=f"{result.n_train} training images.")
    show(curves_figure(result.history, result.config.epochs), key="final_curves")
    left, _ = st.columns(2)
    with left:
        show(confusion_figure(result.confusion, result.class_names, "Test images: true against predicted"), key="confusion")
    st.download_button("Download the trained network (.keras)", st.session_state["last_model_file"],
                       file_name="small_cnn.keras", mime="application/octet-stream", key="download_model",
                       help="Open it in Python with keras.saving.load_model(\"small_cnn.keras\").")
    try_network(result)


# ----------------------------------------------------------------------------- trying the trained network

def is_xray_network(result: RunResult) -> bool:
    return result.class_names == DISPLAY_NAMES


def chosen_image(result: RunResult) -> tuple[np.ndarray, str] | None:
    """The network's input for the image chosen to try it on, and a caption; None (with a message) until there is one."""
    shape = result.test_x.shape[1:3]
    choices = [HELD_OUT] + [SAMPLE_FILM] * is_xray_network(result) + [YOUR_IMAGE]
    source = st.radio("Try it on", choices, horizontal=True, key="try_source")
    if source == HELD_OUT:
        i = st.slider("Test image", 1, len(result.test_x), 1, key="try_index") - 1
        return result.test_x[i], f"Test image {i + 1}, really {result.class_names[result.test_y[i]]}"
    if source == SAMPLE_FILM:
        name = st.selectbox("Sample film (assets/samples/ATTRIBUTION.md)", list(sample_files()), key="try_sample")
        return image_for_network(decode_image(read_sample(name), name).pixels, shape), f"The sample film '{name}'"
    upload = st.file_uploader(  # no type filter: files are recognised by content (DICOMs often have no extension)
        "An image: PNG, JPEG, BMP, TIFF, WebP or DICOM, with or without an extension (kept in memory only)", key="try_upload")
    invert = not is_xray_network(result) and st.checkbox(
        "My digit is dark on a light background (the training digits are light on dark: invert it)", True, key="try_invert")
    if upload is None:
        st.info("Choose an image file.")
        return None
    try:
        pixels = decode_image(upload.getvalue(), upload.name).pixels
    except ImageDecodeError as err:
        st.error(f"{plain(upload.name)} cannot be used: {err.reason}.")
        return None
    return image_for_network(pixels, shape, invert), plain(upload.name)


def probabilities_figure(values: np.ndarray, class_names: tuple[str, ...]) -> go.Figure:
    fig = go.Figure(go.Bar(x=values, y=list(class_names), orientation="h", text=[probability_text(v) for v in values],
                           textposition="outside", textfont=dict(size=16), marker_color=BLUE))
    fig.update_layout(title="The network's probabilities", height=60 + 32 * len(class_names), margin=dict(l=10, r=10, t=40, b=10),
                      xaxis=dict(range=[0, 1.15], tickformat=".0%", tickfont=dict(size=14)),
                      yaxis=dict(type="category", autorange="reversed", tickfont=dict(size=16)))
    return fig


def try_network(result: RunResult) -> None:
    """The trained network's answer, with its probabilities, for an image the user picks."""
    st.subheader("Try the trained network")
    chosen = chosen_image(result)
    if chosen is None:
        return
    image, caption = chosen
    values = probabilities(result.model, image)
    left, right = st.columns([2, 3])
    big = cv2.resize(image[..., 0], (IMAGE_PX, IMAGE_PX), interpolation=cv2.INTER_NEAREST)
    left.image(big, caption=f"What the network reads ({image.shape[0]} × {image.shape[1]} px)", width=IMAGE_PX, clamp=True)
    with right:
        st.markdown(f"{caption}. The network says **{result.class_names[int(np.argmax(values))]}** ({probability_text(values.max())}).")
        show(probabilities_figure(values, result.class_names), key="try_probabilities")


def live_training_tab() -> None:
    st.caption("Press **Train** and watch the loss, the accuracy and the mistakes after every epoch. The data are split "
               "once (seeded, stratified): 64 % to train on, 16 % for the validation curve and mistakes, and 20 % kept "
               "back for the test accuracy at the end.")
    live = st.container()  # a run's bar and curves go above the settings: on a projector they share the first screen
    data = choose_data()
    config, train = choose_config(ready=data is not None)
    if train and data is not None and not is_running("live"):
        work = LiveTraining(data, config, min_epoch_s=PACES[st.session_state["train_pace"]])
        start_job("live", uuid.uuid4().hex, work, queued=True, shared=False)
        st.rerun()  # redraw the form disabled and start polling
    with live:
        follow_job("live", partial(describe_error, "Training"), pausable=True, draw=live_view)
    if (finished := st.session_state.pop("live_result", None)) is not None:
        record(finished)
    show_last_result()
    runs = st.session_state.get("runs", [])
    if runs:
        st.subheader("Your runs")
        show_table(runs_table(runs), RUNS_FORMATS)
        if st.button("Clear the runs", key="clear_runs"):
            for key in ("runs", "last_result", "last_model_file"):
                st.session_state.pop(key, None)
            st.rerun()


# ----------------------------------------------------------------------------- scratch versus transfer

def comparison_tab() -> None:
    st.caption(
        "Two ways to get a classifier from the same few hundred films, scored on the same held-out 20 %: a small CNN "
        "**trained from scratch**, and **transfer learning**: MobileNetV2, trained on ImageNet photos and frozen, turns "
        "each film into features, and a logistic regression learns the classes from them.")
    source = choose_xray_source("compare", phantoms=True)
    a, b, c = st.columns([2, 2, 1], vertical_alignment="bottom")
    size = a.select_slider("Scratch CNN input size (pixels)", (32, 48, 64, 96), 48, key="compare_size")
    epochs = b.slider("Scratch CNN epochs", 5, 60, 30, key="compare_epochs")
    # 48 px in batches of 16 by default: on the phantom task as accurate as 64 px in 32s, for two thirds of the CPU
    config = TrainingConfig(epochs=epochs, batch_size=16, filters=(16, 32, 64), dropout=0.3)
    if c.button("Run the comparison", type="primary", key="compare", disabled=source is None or is_running("comparison"),
                width="stretch"):
        start_job("comparison", ("comparison", source.kind, source.name, size, config), partial(compare, source.films(), size, config),
                  queued=True, shared=shareable(source))
    follow_job("comparison", partial(describe_error, "The comparison"))
    result: Comparison | None = st.session_state.get("comparison_result")
    if result is None:
        st.caption(f"About half a minute on two free CPU cores, longer while others train: reading every film, "
                   f"MobileNetV2 at {TRANSFER_SIZE} px, then the small CNN's epochs. The bar follows each step, and Stop "
                   "ends the run. Settings already run on this server give their result at once.")
        return
    table = pd.DataFrame([{
        "Approach": r.name, "Test accuracy": f"{r.accuracy:.1%}",
        "95 % interval": f"{r.accuracy_ci[0]:.0%} – {r.accuracy_ci[1]:.0%}", "Macro F1": f"{r.macro_f1:.2f}",
        "Fitting time": f"{r.seconds:.0f} s",
    } for r in result.results])
    show_table(table)
    st.markdown(
        f"Trained on {result.n_train} images, tested once on {result.n_test}. Always answering the commonest class "
        f"would score {result.majority_accuracy:.0%}. With so few test images the 95 % intervals are wide: a gap "
        "smaller than they are may be luck of the split. " + (
            "These are drawn phantoms, not X-rays: the figures say which approach learns this task, nothing about "
            "patients." if result.class_names != DISPLAY_NAMES else
            "Both models see images from the same sources as their training images, so neither figure says how they "
            "would do on another hospital's X-rays."))
    columns = st.columns(len(result.results))
    for i, (column, r) in enumerate(zip(columns, result.results, strict=True)):
        with column:
            show(confusion_figure(r.confusion, result.class_names, r.name), key=f"compare_confusion_{i}")


intro_with_switch("Small networks, trained here on the server's CPU while you watch.")
page_context("how a small CNN learns: loss and accuracy after each epoch, on training and validation images, what "
             "it gets wrong, and how a network trained from scratch compares with one that starts from ImageNet.")
live_tab, compare_tab = st.tabs(["Train live", "Scratch versus transfer"])
with live_tab:
    live_training_tab()
with compare_tab:
    comparison_tab()
