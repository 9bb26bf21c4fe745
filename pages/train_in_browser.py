"""Train a CNN: a small network trained live on digits or low-resolution X-rays, and scratch versus transfer."""
from functools import partial

import cv2
import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from core.classes import DISPLAY_NAMES
from core.data.folders import DatasetError
from core.data.samples import read_sample, sample_files
from core.data.server_paths import ROOTS_VARIABLE, ServerPathError, resolve_user_folder, server_folders_allowed
from core.imaging.decode import ImageDecodeError, decode_image
from core.paths import TEACHING_DATASET
from core.serving.probability_text import probability_text
from core.teaching.background import Report, ServerBusy
from core.teaching.live_training import (
    ACTIVATIONS,
    OPTIMIZERS,
    LabelledArrays,
    LiveRun,
    RunResult,
    TrainingConfig,
    digits_arrays,
    image_for_network,
    keras_file,
    probabilities,
    xray_arrays,
)
from core.teaching.transfer_comparison import TRANSFER_SIZE, Comparison, WeightsUnavailableError, compare
from pages.common import BLUE, RED, plain, route_through_app
from pages.job_view import follow_job, is_running, start_job
from pages.projector import intro_with_switch

route_through_app()

DIGITS = "Handwritten digits, 8×8 (bundled with scikit-learn)"
SHARED = "Chest X-rays (the shared data set)"
FOLDER = "Chest X-rays from a folder on this server"
OPTIMIZER_NAMES = {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop"}
LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
POLL_S = 1.0  # how often the live view redraws while a run trains
IMAGE_PX = 320  # images at least this wide, for a projector
HELD_OUT = "An image it never trained on"
SAMPLE_FILM = "A sample film"
YOUR_IMAGE = "Your image"


# ----------------------------------------------------------------------------- data

@st.cache_data(show_spinner="Loading the digits…")
def load_digits_cached() -> LabelledArrays:
    return digits_arrays()


def read_xrays(root: str, size: int, report: Report) -> LabelledArrays:
    """The work behind "Load the X-rays": every image read is a step of the bar, and a step where Stop can end it."""
    return xray_arrays(root, size, lambda done, total: report(f"Reading and shrinking X-ray {done} of {total}…", done, total))


def describe_error(what: str, err: Exception) -> str:
    """A background job's failure in words: the data or weights problem as such, anything else named."""
    if isinstance(err, (DatasetError, WeightsUnavailableError, ServerBusy)):
        return str(err)
    return f"{what} failed: {type(err).__name__}: {err}"


def load_xrays(root: str, size: int) -> LabelledArrays | None:
    """The X-rays of `root` at `size` pixels once loaded; until then a button, then a bar with Stop (None meanwhile)."""
    wanted = (root, size)
    if st.session_state.get("xrays_for") == wanted and "xrays_result" in st.session_state:
        return st.session_state["xrays_result"]
    if not is_running("xrays"):
        if st.button(f"Load the X-rays at {size} × {size} pixels", type="primary", key="load_xrays"):
            st.session_state["xrays_for"] = wanted
            start_job("xrays", ("xrays", *wanted), partial(read_xrays, root, size))
            st.rerun()  # redraw without the button, with the bar
        st.caption("Every X-ray is read and shrunk once; the same folder and size are then ready at once for everyone.")
    follow_job("xrays", partial(describe_error, "Loading the X-rays"))
    return None


def choose_xray_folder(key: str) -> str | None:
    """The shared X-ray folder or one the user names inside the allowed server folders; None (with a message) when
    neither can be used."""
    choices = ([SHARED] if TEACHING_DATASET.is_dir() else []) + [FOLDER] * server_folders_allowed()
    if not choices:
        st.info(f"No X-ray folder on this server: whoever runs it can allow folders with {ROOTS_VARIABLE}.")
        return None
    choice = st.radio("X-ray folder", choices, horizontal=True, key=f"{key}_folder_choice")
    if choice == SHARED:
        return str(TEACHING_DATASET)
    path = st.text_input("Folder with one subfolder per class (covid19, normal, bacterial_pneumonia, viral_pneumonia)",
                         key=f"{key}_folder").strip()
    if not path:
        st.info("Type the path of a folder on the server, absolute or relative to the first allowed folder.")
        return None
    try:
        return str(resolve_user_folder(path))
    except ServerPathError as err:
        st.error(f"Cannot use that folder: {err}.")
        return None


def choose_data() -> LabelledArrays | None:
    sources = [DIGITS, "Chest X-rays at low resolution"]
    source = st.radio("Data", sources, horizontal=True, key="data_source")
    if source == DIGITS:
        return load_digits_cached()
    root = choose_xray_folder("live")
    size = st.select_slider("X-ray size (pixels)", (32, 48, 64, 96), 64, key="xray_size")
    return None if root is None else load_xrays(root, size)


# ----------------------------------------------------------------------------- figures

def curves_figure(history: dict[str, list[float]], epochs: int) -> go.Figure:
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
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def confusion_figure(confusion: np.ndarray, class_names: tuple[str, ...], title: str) -> go.Figure:
    fig = px.imshow(confusion, x=list(class_names), y=list(class_names), text_auto=True, color_continuous_scale="Blues",
                    labels=dict(x="predicted", y="true", color="images"), title=title)
    fig.update_layout(height=380 if len(class_names) > 4 else 320, margin=dict(l=10, r=10, t=40, b=10), coloraxis_showscale=False)
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category")
    return fig


def show(fig: go.Figure, key: str | None = None) -> None:
    st.plotly_chart(fig, key=key, config={"displayModeBar": False})


# ----------------------------------------------------------------------------- live training

def choose_config() -> tuple[TrainingConfig, bool]:
    """The training settings, in a form so nothing reruns until Train is pressed."""
    running = "live_run" in st.session_state
    with st.form("config"):
        a, b, c = st.columns(3)
        epochs = a.slider("Epochs", 1, 50, 10, key="epochs")
        batch_size = a.select_slider("Batch size", (8, 16, 32, 64, 128), 32, key="batch_size")
        layers = b.slider("Convolution layers", 1, 3, 2, key="layers")
        first = b.select_slider("Filters in the first layer (doubling in each next one)", (2, 4, 8, 16, 32), 8, key="train_filters")
        activation = b.selectbox("Activation", ACTIVATIONS, key="train_activation")
        optimizer = c.selectbox("Optimizer", list(OPTIMIZERS), format_func=OPTIMIZER_NAMES.get, key="optimizer")
        learning_rate = c.select_slider("Learning rate", LEARNING_RATES, 1e-3, format_func=lambda v: f"{v:g}", key="learning_rate")
        dropout = c.slider("Dropout before the last layer", 0.0, 0.7, 0.25, 0.05, key="dropout")
        seed = a.number_input("Seed (the split and the starting weights)", 0, 9999, 42, key="seed")
        train = st.form_submit_button("Train", type="primary", disabled=running, key="train")
    config = TrainingConfig(epochs, batch_size, tuple(first * 2 ** i for i in range(layers)), activation, optimizer,
                            learning_rate, dropout, int(seed))
    return config, train


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


@st.fragment(run_every=POLL_S if "live_run" in st.session_state else None)
def live_view() -> None:
    """Redraws every second while a run trains; when it ends, records it and refreshes the whole page."""
    run: LiveRun | None = st.session_state.get("live_run")
    if run is None:
        return
    if run.done:
        del st.session_state["live_run"]
        if run.error:
            st.session_state["live_error"] = run.error
        else:
            record(run.result)
        st.rerun()
    done = len(run.history.get("loss", []))
    state = " — stopping after this batch…" if run.stopping else " — paused" if run.paused else ""
    bar, pause, stop = st.columns([5, 1, 1], vertical_alignment="bottom")
    bar.progress(done / run.config.epochs, text=f"Training on {run.data.name}: epoch {done} of {run.config.epochs} done{state}")
    pause.button("Resume" if run.paused else "Pause", icon=":material/play_arrow:" if run.paused else ":material/pause:",
                 on_click=run.resume if run.paused else run.pause, disabled=run.stopping, key="pause",
                 width="stretch")  # one button, so the fragment redraws it in place
    stop.button("■ Stop", on_click=run.stop, disabled=run.stopping, key="stop", width="stretch")
    show(curves_figure(run.history, run.config.epochs), key="live_curves")


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
    st.markdown("Choose the data and the network, press **Train**, and watch the loss and accuracy after every epoch. "
                "The data are split once (seeded, stratified): 64 % to train on, 16 % for the validation curve, and "
                "20 % kept back for the test accuracy at the end.")
    data = choose_data()
    config, train = choose_config()
    if train and data is None:
        st.warning("Load the X-rays first (the button above the settings).")
    if train and data is not None and "live_run" not in st.session_state:
        st.session_state.pop("live_error", None)
        st.session_state["live_run"] = LiveRun(data, config).start()
        st.rerun()  # redraw the form disabled and start polling
    if error := st.session_state.get("live_error"):
        st.error(error)
    live_view()
    show_last_result()
    runs = st.session_state.get("runs", [])
    if runs:
        st.subheader("Your runs")
        st.dataframe(pd.DataFrame(runs), hide_index=True, column_config={
            "Validation accuracy": st.column_config.NumberColumn(format="percent"),
            "Test accuracy": st.column_config.NumberColumn(format="percent"),
        })
        if st.button("Clear the runs", key="clear_runs"):
            for key in ("runs", "last_result", "last_model_file"):
                st.session_state.pop(key, None)
            st.rerun()


# ----------------------------------------------------------------------------- scratch versus transfer

def comparison_tab() -> None:
    st.markdown(
        "Two ways to get an X-ray classifier from the same few hundred images, scored on the same held-out 20 %: "
        "a small CNN **trained from scratch**, and **transfer learning**: MobileNetV2, trained on ImageNet photos "
        "and frozen, turns each X-ray into features, and a logistic regression learns the four classes from them.")
    root = choose_xray_folder("compare")
    a, b = st.columns(2)
    size = a.select_slider("Scratch CNN input size (pixels)", (32, 48, 64, 96), 64, key="compare_size")
    epochs = b.slider("Scratch CNN epochs", 5, 60, 30, key="compare_epochs")
    config = TrainingConfig(epochs=epochs, batch_size=32, filters=(16, 32, 64), dropout=0.3)
    if st.button("Run the comparison", type="primary", key="compare", disabled=root is None or is_running("comparison")):
        start_job("comparison", ("comparison", root, size, config), partial(compare, root, size, config))
    follow_job("comparison", partial(describe_error, "The comparison"))
    result: Comparison | None = st.session_state.get("comparison_result")
    if result is None:
        st.caption(f"Takes about a minute on a laptop CPU: reading every X-ray, MobileNetV2 at {TRANSFER_SIZE} px, then the "
                   "small CNN's epochs. The bar follows each step, and Stop ends the run. Settings already run on "
                   "this server give their result at once.")
        return
    table = pd.DataFrame([{
        "Approach": r.name, "Test accuracy": f"{r.accuracy:.1%}",
        "95 % interval": f"{r.accuracy_ci[0]:.0%} – {r.accuracy_ci[1]:.0%}", "Macro F1": f"{r.macro_f1:.2f}",
        "Fitting time": f"{r.seconds:.0f} s",
    } for r in result.results])
    st.dataframe(table, hide_index=True)
    st.markdown(
        f"Trained on {result.n_train} images, tested once on {result.n_test}. Always answering the commonest class "
        f"would score {result.majority_accuracy:.0%}. With so few test images the 95 % intervals are wide: a gap "
        "smaller than they are may be luck of the split. Both models see images from the same sources as their "
        "training images, so neither figure says how they would do on another hospital's X-rays.")
    columns = st.columns(len(result.results))
    for i, (column, r) in enumerate(zip(columns, result.results)):
        with column:
            show(confusion_figure(r.confusion, DISPLAY_NAMES, r.name), key=f"compare_confusion_{i}")


intro_with_switch("Small networks, trained here on the server's CPU while you watch.")
live_tab, compare_tab = st.tabs(["Train live", "Scratch versus transfer"])
with live_tab:
    live_training_tab()
with compare_tab:
    comparison_tab()
