"""Inside the CNN: the default model's layers, first kernels, feature maps, Grad-CAM at any layer, and filter pictures."""
import keras
import numpy as np
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from core.abstention import OK, STATUS_TEXT
from core.classes import DISPLAY_NAMES
from core.convolution import chest_phantom
from core.imaging import SUPPORTED_EXTENSIONS, ImageDecodeError, decode_image
from core.inference import Classifier
from core.introspection import (architecture_table, feature_maps, first_conv_kernels, kernels_as_rgb, kernels_on_grey,
                                maximise_activation, parameter_counts, strongest_channels)
from core.model_store import DEFAULT_MODEL_DIR
from core.saliency import SaliencyExplainer, conv_layer_names, overlay
from pages.common import get_classifier, load_classifier_or_stop, route_through_app

route_through_app()

PHANTOM = "Chest phantom (drawn in code)"
UPLOAD = "Your X-ray"
FEATURE_LAYER = "block_1_expand_relu"  # an early layer whose maps still look like the image
FILTER_LAYER = "block_6_expand_relu"  # deep enough for patterns, shallow enough to be quick


# ----------------------------------------------------------------------------- cached computations

@st.cache_resource(show_spinner="Preparing Grad-CAM for this model…")
def get_explainer(model_dir: str = str(DEFAULT_MODEL_DIR)) -> SaliencyExplainer:
    """One tf-keras-vis explainer per model folder, shared by every session."""
    classifier = get_classifier(model_dir)
    return SaliencyExplainer(classifier.model, classifier.cam_layer)


@st.cache_data(show_spinner=False, max_entries=32)
def cached_feature_maps(_model: keras.Model, model_sha: str, model_input: np.ndarray, layer: str) -> np.ndarray:
    return feature_maps(_model, model_input, layer)


@st.cache_data(show_spinner=False, max_entries=32)
def cached_gradcam(_explainer: SaliencyExplainer, model_sha: str, model_input: np.ndarray, class_index: int, layer: str) -> np.ndarray:
    return _explainer.explain(model_input, class_index, "gradcam", layer)


@st.cache_data(show_spinner=False, max_entries=16)
def cached_activation_maximisation(_model: keras.Model, model_sha: str, layer: str, filters: tuple[int, ...], steps: int) -> np.ndarray:
    return maximise_activation(_model, layer, list(filters), steps)


# ----------------------------------------------------------------------------- figures

def tiles_figure(images: np.ndarray, labels: list[str], columns: int, height_per_row: int, **imshow) -> go.Figure:
    """A grid of small images (n, h, w) or (n, h, w, 3), each titled by its label."""
    fig = px.imshow(images, facet_col=0, facet_col_wrap=columns, facet_col_spacing=0.01, facet_row_spacing=0.06, **imshow)
    for annotation in fig.layout.annotations:
        annotation.text = labels[int(annotation.text.split("=")[1])]
        annotation.font.size = 11
    rows = -(-len(images) // columns)
    fig.update_layout(height=height_per_row * rows + 40, margin=dict(l=10, r=10, t=30, b=10))
    fig.update_xaxes(showticklabels=False, ticks="")
    fig.update_yaxes(showticklabels=False, ticks="")
    return fig


def show(fig: go.Figure, key: str) -> None:
    st.plotly_chart(fig, key=key, config={"displayModeBar": False})


def rescale_each(maps: np.ndarray) -> np.ndarray:
    """(n, h, w) maps stretched one by one to [0, 1], so a weak map's pattern is as visible as a strong one's."""
    low, high = maps.min(axis=(1, 2), keepdims=True), maps.max(axis=(1, 2), keepdims=True)
    return (maps - low) / np.maximum(high - low, 1e-6)


# ----------------------------------------------------------------------------- sections

def architecture_section(model: keras.Model, card: dict) -> None:
    table, counts = architecture_table(model), parameter_counts(model)
    a, b, c, d = st.columns(4)
    a.metric("Layers", len(table))
    b.metric("Parameters", f"{counts['total']:,}")
    c.metric("Trainable", f"{counts['trainable']:,}")
    d.metric("Frozen", f"{counts['frozen']:,}")
    st.dataframe(table, hide_index=True, height=360, column_config={"Parameters": st.column_config.NumberColumn(format="localized")})
    st.caption(f"Backbone: {card.get('backbone', '?')} at {card.get('input_size', '?')} × {card.get('input_size', '?')} px. "
               "Output shapes leave out the batch axis. Frozen parameters include the batch-normalisation statistics.")


def kernels_section(model: keras.Model) -> None:
    name, kernels = first_conv_kernels(model)
    layer = model.get_layer(name)
    st.markdown(f"Layer `{name}`: {kernels.shape[0]} kernels of {kernels.shape[1]} × {kernels.shape[2]} × {kernels.shape[3]} "
                f"(height × width × colour channels), stride {layer.strides[0]}, learned on ImageNet photos.")
    view = st.radio("Show them", ("As they act on a grey X-ray", "As colour images"), horizontal=True, key="kernel_view")
    labels = [f"#{i + 1}" for i in range(len(kernels))]
    if view.startswith("As they act"):
        grey = kernels_on_grey(kernels)
        limit = float(np.abs(grey).max())
        fig = tiles_figure(grey, labels, 16, 80, color_continuous_scale="RdBu", zmin=-limit, zmax=limit)
        caption = ("An X-ray has R = G = B, so each kernel acts as the sum of its three colour slices: red weights "
                   "add brightness, blue ones subtract it. Many are edge and spot detectors.")
    else:
        fig = tiles_figure(kernels_as_rgb(kernels), labels, 16, 80)
        caption = "Each kernel's weights for red, green and blue, scaled together: grey is zero."
    show(fig, "first_kernels")
    st.caption(caption)


def choose_pixels() -> tuple[np.ndarray, str]:
    """The image to look at: the phantom, or an uploaded X-ray (kept in memory)."""
    source = st.radio("Image", (PHANTOM, UPLOAD), horizontal=True, key="image_source")
    if source == UPLOAD:
        upload = st.file_uploader("An X-ray image or DICOM file (kept in memory only)",
                                  type=[e.lstrip(".") for e in SUPPORTED_EXTENSIONS], key="xray")
        if upload is not None:
            try:
                return decode_image(upload.getvalue(), upload.name).pixels, upload.name
            except ImageDecodeError as err:
                st.error(f"{err}. Showing the chest phantom instead.")
        else:
            st.info("Choose a file; until then the page shows the chest phantom.")
    return (chest_phantom(256) * 255).astype(np.uint8), "the chest phantom"


def feature_map_section(model: keras.Model, sha: str, model_input: np.ndarray, layers: list[str]) -> None:
    a, b = st.columns([2, 1])
    layer = a.selectbox("Layer", layers, index=layers.index(FEATURE_LAYER) if FEATURE_LAYER in layers else 0, key="map_layer")
    maps = cached_feature_maps(model, sha, model_input, layer)
    count = b.slider("Maps to show (the most active first)", 4, min(48, maps.shape[-1]), min(16, maps.shape[-1]), key="map_count")
    channels = strongest_channels(maps, count)
    chosen = np.transpose(maps[..., channels], (2, 0, 1))
    labels = [f"ch {c} · mean {maps[..., c].mean():.2f}" for c in channels]
    show(tiles_figure(rescale_each(chosen), labels, 8, 150, color_continuous_scale="viridis"), "feature_maps")
    st.caption(f"Layer `{layer}` gives {maps.shape[0]} × {maps.shape[1]} maps, {maps.shape[2]} of them; each is stretched "
               "to its own range here (yellow = its strongest response).")


def gradcam_section(classifier: Classifier, model_input: np.ndarray, pixels: np.ndarray, name: str, layers: list[str]) -> None:
    analysis = classifier.analyse(pixels)
    verdict = f"{analysis.display_label} ({analysis.probabilities.max():.0%})"
    if analysis.status == OK:
        st.markdown(f"The model's answer for {name}: **{verdict}**.")
    else:
        st.warning(f"The model's answer for {name}: **{STATUS_TEXT[analysis.status]}** (its top class would be {verdict}). "
                   "Grad-CAM still shows where it looked.")
    a, b = st.columns(2)
    class_index = a.selectbox("Explain the class", range(len(DISPLAY_NAMES)), index=analysis.top,
                              format_func=DISPLAY_NAMES.__getitem__, key=f"cam_class_{name}")  # a new image starts at its top class
    layer = b.selectbox("At the layer", layers, index=layers.index(classifier.cam_layer), key="cam_layer")
    cam = cached_gradcam(get_explainer(), classifier.card.get("model_sha256", ""), model_input, class_index, layer)
    shown = model_input[..., 0].astype(np.uint8)
    left, right, _ = st.columns(3)
    left.image(shown, caption=f"What the model reads ({shown.shape[0]} × {shown.shape[1]} px)", width="stretch")
    right.image(overlay(shown, cam, 0.45), caption=f"Grad-CAM for {DISPLAY_NAMES[class_index]} at {layer} (red = strongest support)",
                width="stretch")
    st.caption("Early layers give sharp but scattered maps (they see edges, not diseases); the last block "
               f"({classifier.cam_layer}) is coarse but the most class-specific. Grad-CAM is a hint, not proof.")


def filters_section(model: keras.Model, sha: str, layers: list[str]) -> None:
    a, b, c = st.columns([2, 2, 1])
    layer = a.selectbox("Layer", layers, index=layers.index(FILTER_LAYER) if FILTER_LAYER in layers else 0, key="filter_layer")
    channels = model.get_layer(layer).output.shape[-1]
    filters = b.multiselect("Filters (up to 6)", range(channels), default=list(range(min(4, channels))), max_selections=6, key="filters")
    steps = c.slider("Steps", 10, 200, 50, 10, key="am_steps")
    if st.button("Visualise these filters", type="primary", disabled=not filters, key="visualise"):
        with st.spinner(f"Gradient ascent on the input, {steps} steps for {len(filters)} filters (tens of seconds on a CPU)…"):
            images = cached_activation_maximisation(model, sha, layer, tuple(filters), steps)
        st.session_state["filter_pictures"] = (layer, tuple(filters), steps, images)
    shown = st.session_state.get("filter_pictures")
    if shown:
        layer, filters, steps, images = shown
        show(tiles_figure(images, [f"{layer} · {f}" for f in filters], 6, 230, color_continuous_scale="gray"), "filter_pictures")
        st.caption(f"Grey images optimised for {steps} steps to excite each filter of `{layer}` as strongly as possible "
                   "(tf-keras-vis ActivationMaximization, from seeded noise, with jitter and smoothness penalties).")


# ----------------------------------------------------------------------------- page

st.title("Inside the CNN")
st.caption("The model that the Diagnose page uses, opened up layer by layer.")
classifier = load_classifier_or_stop()
model, sha = classifier.model, classifier.card.get("model_sha256", "")
layers = conv_layer_names(model)

st.header("1 · Architecture")
architecture_section(model, classifier.card)

st.header("2 · The first convolution's kernels")
kernels_section(model)

st.header("3 · Feature maps")
pixels, image_name = choose_pixels()
model_input = classifier.model_input(pixels)
feature_map_section(model, sha, model_input, layers)

st.header("4 · Grad-CAM at a chosen layer")
gradcam_section(classifier, model_input, pixels, image_name, layers)

st.header("5 · What a filter looks for")
st.markdown("Activation maximisation starts from noise and changes the image, step by step, so that one filter fires "
            "as strongly as possible. Early filters want stripes and spots; deeper ones want textures.")
filters_section(model, sha, layers)
