"""Inside the CNN: the default model's layers, first kernels, feature maps, Grad-CAM at any layer, and filter pictures."""
import hashlib
from collections.abc import Callable

import keras
import numpy as np
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from core.classes import DISPLAY_NAMES
from core.data.samples import read_sample, sample_files
from core.imaging.decode import ImageDecodeError, decode_image
from core.imaging.phantom import chest_phantom
from core.model.abstention import NOT_A_CHEST_XRAY, OK, STATUS_TEXT
from core.model.card import ModelCard
from core.serving.classifier import Classifier
from core.serving.diagnosis import Diagnosis
from core.serving.probability_text import probability_text
from core.serving.saliency import Explainer, GradCAM, overlay
from core.teaching.background import Report
from core.teaching.introspection import (
    ConvolutionOutput,
    architecture_table,
    convolution_outputs,
    feature_maps,
    first_conv_kernels,
    kernels_as_rgb,
    kernels_on_grey,
    maximise_activation,
    parameter_counts,
    strongest_channels,
)
from ui.classroom_sidebar import page_context
from ui.common import load_classifier_or_stop, plain, route_through_app
from ui.job_view import follow_job, is_running, start_job
from ui.projector import current_sizes, intro_with_switch, projector_on, show_chart, show_table
from ui.session_memo import remembered

route_through_app()

SAMPLE = "A sample X-ray"
PHANTOM = "Chest phantom (a drawing, not an X-ray)"
UPLOAD = "Your X-ray"
FROM_DIAGNOSE = "An X-ray you analysed"
DIAGNOSE_RESULTS = "diagnose_results"  # session_state the Diagnose page fills: {upload_key: Diagnosis | ImageDecodeError}
FEATURE_LAYER = "block_1_expand_relu"  # an early layer whose maps still look like the image
FILTER_LAYER = "block_6_expand_relu"  # deep enough for patterns, shallow enough to be quick
IMAGE_PX = 360  # images at least this wide, for a projector


# ----------------------------------------------------------------------------- cached computations

def cached_feature_maps(model: keras.Model, model_sha: str, model_input: np.ndarray, layer: str) -> np.ndarray:
    """A layer's feature maps for this picture, made once per picture and layer in this session."""
    key = (model_sha, hashlib.sha256(model_input.tobytes()).hexdigest(), layer)
    return remembered("inside_feature_maps", key, lambda: feature_maps(model, model_input, layer))


def cached_gradcam(explainer: Explainer, model_sha: str, model_input: np.ndarray, class_index: int, layer: str) -> np.ndarray:
    """A layer's Grad-CAM for this picture and class, made once in this session."""
    key = (model_sha, hashlib.sha256(model_input.tobytes()).hexdigest(), class_index, layer)
    return remembered("inside_gradcam", key, lambda: explainer(model_input[None], class_index)[0])


@st.cache_resource(show_spinner=False)
def cached_convolution_outputs(_model: keras.Model, model_sha: str) -> list[ConvolutionOutput]:
    return convolution_outputs(_model)


# ----------------------------------------------------------------------------- figures

def tiles_figure(images: np.ndarray, labels: list[str], columns: int, height_per_row: int, **imshow) -> go.Figure:
    """A grid of small images (n, h, w) or (n, h, w, 3), each titled by its label."""
    fig = px.imshow(images, facet_col=0, facet_col_wrap=columns, facet_col_spacing=0.01, facet_row_spacing=0.06, **imshow)
    for annotation in fig.layout.annotations:
        annotation.text = labels[int(annotation.text.split("=")[1])]
        annotation.font.size = max(11, current_sizes().font_px - 4)
    rows = -(-len(images) // columns)
    fig.update_layout(height=height_per_row * rows + 40, margin=dict(l=10, r=10, t=30, b=10))
    fig.update_xaxes(showticklabels=False, ticks="")
    fig.update_yaxes(showticklabels=False, ticks="")
    return fig


def choose_layer(outputs: list[ConvolutionOutput], key: str, default: str, block_column, layer_column) -> str:
    """A convolution output, chosen as a block first and then one of its few convolutions."""
    groups = list(dict.fromkeys(o.group for o in outputs))
    start = next((o.group for o in outputs if o.layer == default), groups[0])
    group = block_column.selectbox("Block", groups, index=groups.index(start), key=f"{key}_block")
    members = [o for o in outputs if o.group == group]
    layers = [o.layer for o in members]
    labels = {o.layer: o.label for o in members}
    return layer_column.selectbox("Convolution", layers, index=layers.index(default) if default in layers else 0,
                                  format_func=labels.get, key=f"{key}_in_{group}")


def rescale_each(maps: np.ndarray) -> np.ndarray:
    """(n, h, w) maps stretched one by one to [0, 1], so a weak map's pattern is as visible as a strong one's."""
    low, high = maps.min(axis=(1, 2), keepdims=True), maps.max(axis=(1, 2), keepdims=True)
    return (maps - low) / np.maximum(high - low, 1e-6)


# ----------------------------------------------------------------------------- sections

def architecture_section(model: keras.Model, card: ModelCard) -> None:
    table, counts = architecture_table(model), parameter_counts(model)
    a, b, c, d = st.columns(4)
    a.metric("Layers", len(table))
    b.metric("Parameters", f"{counts['total']:,}")
    c.metric("Trainable", f"{counts['trainable']:,}")
    d.metric("Frozen", f"{counts['frozen']:,}")
    show_table(table, {"Parameters": "{:,}"}, height=360)
    st.caption(f"Backbone: {card.backbone} at {card.input_size} × {card.input_size} px. "
               "Output shapes leave out the batch axis. Frozen parameters include the batch-normalisation statistics.")


def kernels_section(model: keras.Model) -> None:
    name, kernels = first_conv_kernels(model)
    layer = model.get_layer(name)
    st.markdown(f"Layer {name}: {kernels.shape[0]} kernels of {kernels.shape[1]} × {kernels.shape[2]} × {kernels.shape[3]} "
                f"(height × width × colour channels), stride {layer.strides[0]}, learned on ImageNet photos.")
    view = st.radio("Show them", ("As they act on a grey X-ray", "As colour images"), horizontal=True, key="kernel_view")
    labels = [f"#{i + 1}" for i in range(len(kernels))]
    if view.startswith("As they act"):
        grey = kernels_on_grey(kernels)
        limit = float(np.abs(grey).max())
        fig = tiles_figure(grey, labels, 16, 80, color_continuous_scale="RdBu", zmin=-limit, zmax=limit)
        caption = ("An X-ray has R = G = B, so each kernel acts as the sum of its three colour slices. Blue weights "
                   "are positive: a bright pixel there raises the output. Red weights are negative: a bright pixel there "
                   "lowers it. White is zero. Many kernels are edge and spot detectors.")
    else:
        fig = tiles_figure(kernels_as_rgb(kernels), labels, 16, 80)
        caption = "Each kernel's weights for red, green and blue, scaled together: grey is zero."
    show_chart(fig, "first_kernels")
    st.caption(caption)


def diagnosed_images() -> dict[str, np.ndarray]:
    """The X-rays this session uploaded on Diagnose and could read, by file name (a repeated name gets a number)."""
    images: dict[str, np.ndarray] = {}
    seen: dict[str, int] = {}
    for diagnosis in st.session_state.get(DIAGNOSE_RESULTS, {}).values():
        if isinstance(diagnosis, Diagnosis):
            name = diagnosis.decoded.name
            seen[name] = seen.get(name, 0) + 1
            images[name if seen[name] == 1 else f"{name} ({seen[name]})"] = diagnosis.decoded.pixels
    return images


def choose_pixels() -> tuple[np.ndarray, str]:
    """The image to look at: a sample film (the default), the phantom, an uploaded X-ray (kept in memory), or one
    already uploaded on Diagnose in this session."""
    diagnosed = diagnosed_images()
    source = st.radio("Image", (SAMPLE, PHANTOM, UPLOAD) + (FROM_DIAGNOSE,) * bool(diagnosed), horizontal=True, key="image_source")
    if source == FROM_DIAGNOSE:
        name = st.selectbox("Analysed in this session", list(diagnosed), key="inside_diagnosed")
        return diagnosed[name], name
    if source == SAMPLE:
        name = st.selectbox("Sample film", list(sample_files()), key="inside_sample",
                            help="Openly licensed films; their sources and licences are listed with the project.")
        return decode_image(read_sample(name), name).pixels, f"the sample film '{name}'"
    if source == UPLOAD:
        upload = st.file_uploader(  # no type filter: files are recognised by content (DICOMs often have no extension)
            "An X-ray: PNG, JPEG, BMP, TIFF, WebP or DICOM, with or without an extension (kept in memory only)", key="xray")
        if upload is not None:
            try:
                return decode_image(upload.getvalue(), upload.name).pixels, upload.name
            except ImageDecodeError as err:
                st.error(f"**{plain(err.name)}** could not be read: {err.reason}. Showing the chest phantom instead.")
        else:
            st.info("Choose a file; until then the page shows the chest phantom.")
    return (chest_phantom(256) * 255).astype(np.uint8), "the chest phantom"


def feature_map_section(model: keras.Model, sha: str, model_input: np.ndarray, outputs: list[ConvolutionOutput]) -> None:
    a, b, c = st.columns([1, 2, 1])
    layer = choose_layer(outputs, "map_layer", FEATURE_LAYER, a, b)
    maps = cached_feature_maps(model, sha, model_input, layer)
    count = c.slider("Maps to show (the most active first)", 4, min(48, maps.shape[-1]), min(16, maps.shape[-1]), key="map_count")
    channels = strongest_channels(maps, count)
    chosen = np.transpose(maps[..., channels], (2, 0, 1))
    labels = [f"ch {c} · mean {maps[..., c].mean():.2f}" for c in channels]
    columns = 6 if projector_on() else 8  # room for each label at a projector's 16 px
    show_chart(tiles_figure(rescale_each(chosen), labels, columns, 150, color_continuous_scale="viridis"), "feature_maps")
    st.caption(f"This convolution gives {maps.shape[2]} maps of {maps.shape[0]} × {maps.shape[1]}; each is stretched "
               "to its own range here (yellow = its strongest response).")


def gradcam_section(classifier: Classifier, model_input: np.ndarray, pixels: np.ndarray, name: str,
                    outputs: list[ConvolutionOutput]) -> None:
    analysis = classifier.analyse(pixels)
    verdict = f"{analysis.display_label} ({probability_text(analysis.probabilities.max())})"
    if analysis.status == OK:
        st.markdown(f"The model's answer for {plain(name)}: **{verdict}**.")
    elif analysis.status == NOT_A_CHEST_XRAY:
        st.warning(f"The model's answer for {plain(name)}: **{STATUS_TEXT[analysis.status]}**, so no class is named and "
                   "Analyse an X-ray shows no map for it.")
        if not st.toggle("Show what Grad-CAM would draw anyway (a demonstration: it means nothing here)", key="cam_refused"):
            return
        st.caption("A demonstration only: the map below shows how Grad-CAM still draws something on a picture the model "
                   "was never trained on. The class chosen is not an answer, and the map says nothing about disease.")
    else:
        st.warning(f"The model's answer for {plain(name)}: **{STATUS_TEXT[analysis.status]}** (its top class would be {verdict}). "
                   "Grad-CAM still shows where it looked.")
    a, b, c = st.columns([1, 1, 2])
    class_index = a.selectbox("Explain the class", range(len(DISPLAY_NAMES)), index=analysis.top,
                              format_func=DISPLAY_NAMES.__getitem__, key=f"cam_class_{name}")  # a new image starts at its top class
    layer = choose_layer(outputs, "cam_layer", classifier.cam_layer, b, c)
    cam = cached_gradcam(classifier.explainer(GradCAM, layer), classifier.card.model_sha256, model_input, class_index, layer)
    shown = model_input[..., 0].astype(np.uint8)
    where = next(f"{o.group}, {o.label.split(' · ')[0]}" for o in outputs if o.layer == layer)
    left, right = st.columns(2)
    left.image(shown, caption=f"What the model reads ({shown.shape[0]} × {shown.shape[1]} px)", width=IMAGE_PX)
    right.image(overlay(shown, cam, 0.45), caption=f"Grad-CAM for {DISPLAY_NAMES[class_index]} at {where} "
                "(red = strongest support)", width=IMAGE_PX)
    st.caption("Early blocks give sharp but scattered maps (they see edges, not diseases); the last convolution "
               "(block End) is coarse but the most class-specific. Grad-CAM is a hint, not proof.")


def filter_pictures(model: keras.Model, layer: str, where: str, filters: tuple[int, ...],
                    steps: int) -> Callable[[Report], tuple]:
    """The work behind the button: a function of its progress report, returning what the page shows."""
    return lambda report: (where, filters, steps, maximise_activation(model, layer, list(filters), steps, report=report))


def filters_section(model: keras.Model, sha: str, outputs: list[ConvolutionOutput]) -> None:
    """The controls on the left, and on the right the progress, Stop and then the pictures: after the button, all of
    it stays on the same screen."""
    controls, result = st.columns([2, 3])
    layer = choose_layer(outputs, "filter_layer", FILTER_LAYER, controls, controls)
    where = next(f"{o.group}, {o.label.split(' · ')[0]}" for o in outputs if o.layer == layer)
    channels = model.get_layer(layer).output.shape[-1]
    filters = controls.multiselect("Filters (up to 6)", range(channels), default=list(range(min(4, channels))),
                                   max_selections=6, key="inside_filters")
    steps = controls.slider("Steps", 10, 200, 50, 10, key="am_steps")
    if controls.button("Visualise these filters", type="primary", disabled=not filters or is_running("filters"), key="visualise"):
        start_job("filters", ("filters", sha, layer, tuple(filters), steps), filter_pictures(model, layer, where, tuple(filters), steps))
    with result:
        follow_job("filters", lambda err: f"The filter pictures failed: {type(err).__name__}: {err}")
        shown = st.session_state.get("filters_result")
        if shown:
            where, filters, steps, images = shown
            show_chart(tiles_figure(images, [f"filter {f}" for f in filters], 3, 190, color_continuous_scale="gray"),
                       "filter_pictures")
            st.caption(f"Grey images changed for {steps} steps, from faint noise, to excite each filter of {where} as "
                       "strongly as possible (with small jitters and a smoothness penalty so that they are not just noise).")


# ----------------------------------------------------------------------------- page

intro_with_switch("The model that Analyse an X-ray uses, opened up layer by layer.")
page_context("what a trained CNN is made of: its layers, the kernels of its first convolution, the feature maps an "
             "image gives at each block, where Grad-CAM says it looked, and the patterns its filters respond to.")
classifier = load_classifier_or_stop()
model, sha = classifier.model, classifier.card.model_sha256
outputs = cached_convolution_outputs(model, sha)

st.header("1 · Architecture")
architecture_section(model, classifier.card)

st.header("2 · The first convolution's kernels")
kernels_section(model)

st.header("3 · Feature maps")
pixels, image_name = choose_pixels()
model_input = classifier.model_input(pixels)
feature_map_section(model, sha, model_input, outputs)

st.header("4 · Grad-CAM at a chosen layer")
gradcam_section(classifier, model_input, pixels, image_name, outputs)

st.header("5 · What a filter looks for")
st.markdown("Activation maximisation starts from noise and changes the image, step by step, so that one filter fires "
            "as strongly as possible. Early filters want stripes and spots; deeper ones want textures. The bar follows "
            "the steps, and Stop ends the work.")
filters_section(model, sha, outputs)
