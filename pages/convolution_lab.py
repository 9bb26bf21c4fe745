"""Convolution lab: a kernel on a real image, one multiply-and-add at a time, then activation, pooling and flatten."""
import cv2
import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from sklearn.datasets import load_sample_images

from core.imaging.decode import SUPPORTED_EXTENSIONS, ImageDecodeError, decode_image
from core.imaging.phantom import chest_phantom
from core.teaching.convolution import (
    ACTIVATIONS,
    COURSE_POOLING_EXAMPLE,
    COURSE_STRIDE_INPUT,
    COURSE_STRIDE_KERNEL,
    COURSE_STRIDE_SLIDE_OUTPUT,
    KERNEL_PRESETS,
    convolution_step,
    convolve2d,
    flatten,
    output_size,
    pad,
    pool2d,
    receptive_field_steps,
    softmax,
)
from pages.common import route_through_app

route_through_app()

LAB_SIDE = 160  # images are shrunk to this longest side so every control answers at once
PATCH = 8  # side of the image patch in the step-through
PLAY_DELAY_S = 0.6  # per output cell, shortened so that a whole play lasts at most PLAY_TOTAL_S
PLAY_TOTAL_S = 12.0
PLAY_FASTEST_S = 0.25
CELL_PX = 46  # one number's cell in a grid, and its text size: readable on a projector
GRID_FONT_PX = 18
IMAGE_PX = 360  # height of the image figures
COURSE = "The course's 7×7 example exactly as on the slide: its own kernel, stride 2, no padding"
COURSE_YOURS = "The course's 7×7 input with the kernel, stride and padding chosen above"
PATCH_YOURS = f"The centre {PATCH}×{PATCH} of your image (0–255) with the kernel, stride and padding chosen above"
SOURCES = ("Chest phantom (drawn in code)", "Sample photo (scikit-learn)", "Your own image")
CUSTOM = {"Custom 3×3": 3, "Custom 5×5": 5}
ELEMENTWISE = [name for name in ACTIVATIONS if name != "Softmax"]  # softmax acts on a whole vector


# ----------------------------------------------------------------------------- figures

def fmt(v: float) -> str:
    """A number as a student would write it: 91, 0.1111, never -0."""
    return f"{v + 0.0:.4g}"


def fmt_all(values: np.ndarray) -> str:
    """A vector or matrix written with short numbers, e.g. [[91, 100], [69, 91]]."""
    values = np.asarray(values)
    if values.ndim == 0:
        return fmt(float(values))
    return "[" + ", ".join(fmt_all(v) for v in values) + "]"


def grid_figure(values: np.ndarray, title: str, highlight: tuple[int, int, int, int] | None = None,
                frame: tuple[int, int, int, int] | None = None, diverging: bool = False) -> go.Figure:
    """A small matrix drawn cell by cell with its numbers; `highlight` and `frame` are (top, left, rows, cols) boxes.

    Cells holding NaN (not computed yet) are drawn empty and grey.
    """
    text = [["" if np.isnan(v) else fmt(v) for v in row] for row in values]
    scale = dict(colorscale="RdBu", zmid=0) if diverging else dict(colorscale="Blues")
    blank = go.Heatmap(z=np.zeros(values.shape), colorscale=[[0, "#eef1f5"], [1, "#eef1f5"]], showscale=False,
                       xgap=2, ygap=2, hoverinfo="skip")
    cells = go.Heatmap(z=values, text=text, texttemplate="%{text}", textfont=dict(size=GRID_FONT_PX), showscale=False, xgap=2, ygap=2,
                       hovertemplate="row %{y}, col %{x}: %{z}<extra></extra>", **scale)
    fig = go.Figure([blank, cells])
    for box, colour, dash in ((frame, "grey", "dash"), (highlight, "crimson", "solid")):
        if box:
            top, left, rows, cols = box
            fig.add_shape(type="rect", x0=left - 0.5, x1=left + cols - 0.5, y0=top - 0.5, y1=top + rows - 0.5,
                          line=dict(color=colour, width=4, dash=dash))
    side = CELL_PX * max(values.shape) + 60
    fig.update_layout(title=dict(text=title, font=dict(size=GRID_FONT_PX)), height=side, margin=dict(l=10, r=10, t=40, b=10),
                      plot_bgcolor="rgba(0,0,0,0)")
    axis = dict(showticklabels=False, showgrid=False, zeroline=False, ticks="")
    fig.update_xaxes(constrain="domain", **axis)
    fig.update_yaxes(autorange="reversed", scaleanchor="x", **axis)
    return fig


def image_figure(image: np.ndarray, title: str) -> go.Figure:
    """A 2-D array as a grey picture, with a colour bar giving its true values."""
    fig = px.imshow(image, color_continuous_scale="gray", title=title)
    fig.update_layout(height=IMAGE_PX, margin=dict(l=10, r=10, t=40, b=10))
    fig.update_xaxes(showticklabels=False, ticks="")
    fig.update_yaxes(showticklabels=False, ticks="")
    return fig


def show(fig: go.Figure, key: str | None = None) -> None:
    st.plotly_chart(fig, key=key, config={"displayModeBar": False})


# ----------------------------------------------------------------------------- image and kernel

@st.cache_data(show_spinner=False)
def sample_photos() -> dict[str, np.ndarray]:
    """scikit-learn's bundled photos as grey floats in [0, 1]."""
    data = load_sample_images()
    return {name: cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) / 255.0 for name, image in zip(data.filenames, data.images)}


def shrink(image: np.ndarray, side: int = LAB_SIDE) -> np.ndarray:
    scale = side / max(image.shape)
    if scale >= 1:
        return image
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def choose_image() -> np.ndarray:
    """The lab's image as floats in [0, 1], at most LAB_SIDE pixels on its longest side."""
    source = st.radio("Image", SOURCES, horizontal=True, key="source")
    if source == SOURCES[1]:
        photos = sample_photos()
        name = st.selectbox("Photo", list(photos), format_func=lambda p: p.rsplit("/", 1)[-1])
        return shrink(photos[name])
    if source == SOURCES[2]:
        upload = st.file_uploader("An image or DICOM file (kept in memory only)",
                                  type=[e.lstrip(".") for e in SUPPORTED_EXTENSIONS])
        if upload is not None:
            try:
                return shrink(decode_image(upload.getvalue(), upload.name).pixels / 255.0)
            except ImageDecodeError as err:
                st.error(f"{err}. Showing the chest phantom instead.")
        else:
            st.info("Choose a file; until then the lab shows the chest phantom.")
    return chest_phantom(128)


def choose_kernel() -> tuple[str, np.ndarray]:
    name = st.selectbox("Kernel", [*KERNEL_PRESETS, *CUSTOM], index=list(KERNEL_PRESETS).index("Sobel x"), key="kernel")
    if name in KERNEL_PRESETS:
        kernel = np.array(KERNEL_PRESETS[name])
        show(grid_figure(kernel, f"{name} kernel", diverging=True), key="kernel_grid")
        return name, kernel
    size = CUSTOM[name]
    start = pd.DataFrame(np.pad([[1.0]], size // 2), columns=[str(c + 1) for c in range(size)])
    st.caption("Edit any cell: the output updates when you leave the cell.")
    edited = st.data_editor(start, key=f"custom_{size}", hide_index=True)
    kernel = edited.to_numpy(dtype=float)
    if np.isnan(kernel).any():
        st.warning("Empty cells count as 0.")
    return name, np.nan_to_num(kernel)


def formula_lines(shape: tuple[int, int], k: int, stride: int, padding: int) -> list[str]:
    """The output-size formula with this layer's numbers filled in, one line per distinct axis."""
    lines = []
    for axis, i in (("height", shape[0]), ("width", shape[1]))[:1 if shape[0] == shape[1] else 2]:
        n = output_size(i, k, stride, padding)
        lines.append(rf"\text{{{axis}}} = \left\lfloor \frac{{i - k + 2p}}{{s}} \right\rfloor + 1"
                     rf" = \left\lfloor \frac{{{i} - {k} + 2 \cdot {padding}}}{{{stride}}} \right\rfloor + 1 = {n}")
    return lines


# ----------------------------------------------------------------------------- step-through

def small_grid(image: np.ndarray, kernel: np.ndarray, stride: int, padding: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    """The course's stride example as on the slide, or its input or the image's centre with the chosen layer."""
    choice = st.radio("Small grid", (COURSE, COURSE_YOURS, PATCH_YOURS), key="grid")
    if choice == COURSE:
        st.caption("This is the slide's example, so the kernel, stride and padding chosen above do not change it: "
                   "pick the second choice to apply them to the same 7×7 input.")
        return np.array(COURSE_STRIDE_INPUT), np.array(COURSE_STRIDE_KERNEL), 2, 0
    if choice == COURSE_YOURS:
        return np.array(COURSE_STRIDE_INPUT), kernel, stride, padding
    top, left = (image.shape[0] - PATCH) // 2, (image.shape[1] - PATCH) // 2
    return np.round(image[top:top + PATCH, left:left + PATCH] * 255), kernel, stride, padding


def slide_note() -> None:
    """Why the slide's output differs from the sums on this page in two cells."""
    ours = convolve2d(COURSE_STRIDE_INPUT, COURSE_STRIDE_KERNEL, 2)
    cells = [(r * ours.shape[1] + c + 1, COURSE_STRIDE_SLIDE_OUTPUT[r, c], ours[r, c])
             for r, c in np.argwhere(ours != COURSE_STRIDE_SLIDE_OUTPUT)]
    listed = " and ".join(f"{fmt(slide)} for output cell {n}" for n, slide, _ in cells)
    sums = " and ".join(f"{fmt(total)}" for _, _, total in cells)
    st.info(f"The course slide prints {listed}, where this page gets {sums}. Step to those cells: each is the sum of "
            "the nine products shown, and adding them gives this page's numbers. No change of a single input number "
            "or kernel weight gives the slide's values, so they are slips in the slide's additions, not a different "
            "kernel, stride or rounding.")


def render_step(grid: np.ndarray, kernel: np.ndarray, stride: int, padding: int, number: int) -> None:
    """Output cell `number` (1-based): the window on the input, the products, their sum, the output so far."""
    steps = list(receptive_field_steps(grid.shape, kernel.shape, stride, padding))
    padded = pad(grid, padding)
    filled = np.full((steps[-1].row + 1, steps[-1].col + 1), np.nan)
    for step in steps[:number]:
        filled[step.row, step.col] = convolution_step(padded, kernel, step.row, step.col, stride)[2]
    current = steps[number - 1]
    window, products, total = convolution_step(padded, kernel, current.row, current.col, stride)
    kh, kw = kernel.shape
    frame = (padding, padding, *grid.shape) if padding else None
    columns = st.columns([padded.shape[1] + 1, kw + 1, kw + 1, filled.shape[1] + 1])  # cells of one size in every grid
    with columns[0]:
        show(grid_figure(padded, "Input" + (" (zero padding dashed off)" if padding else ""),
                         (current.top, current.left, kh, kw), frame), key="step_input")
    with columns[1]:
        show(grid_figure(kernel, "Kernel", diverging=True), key="step_kernel")
    with columns[2]:
        show(grid_figure(products, "Window × kernel", diverging=True), key="step_products")
    with columns[3]:
        show(grid_figure(filled, "Output", (current.row, current.col, 1, 1)), key="step_output")
    terms = " + ".join(f"{fmt(w)}·{fmt(k) if k >= 0 else f'({fmt(k)})'}" for w, k in zip(window.ravel(), kernel.ravel()))
    st.markdown(f"**Output cell {number} of {len(steps)}** (row {current.row + 1}, column {current.col + 1}): "
                f"{terms} = **{fmt(total)}**")


def move_step(delta: int, count: int) -> None:
    """Step back or forward one output cell (and pause)."""
    st.session_state["playing"] = False
    st.session_state["step"] = min(max(st.session_state.get("step", 1) + delta, 1), count)


def play_or_pause(count: int) -> None:
    """Pause a playing animation, or play from the current cell (from the start when at the last one)."""
    playing = not st.session_state.get("playing", False)
    st.session_state["playing"] = playing
    if playing and st.session_state.get("step", 1) >= count:
        st.session_state["step"] = 0  # the first frame of the play moves it to cell 1


def step_controls(count: int) -> None:
    playing = st.session_state.get("playing", False)
    back, play, forward, _ = st.columns([1, 1, 1, 3])
    back.button("◀ Step back", key="step_back", on_click=move_step, args=(-1, count), width="stretch")
    play.button("⏸ Pause" if playing else "▶ Play", key="play", on_click=play_or_pause, args=(count,), width="stretch")
    forward.button("Step ▶", key="step_forward", on_click=move_step, args=(1, count), width="stretch")


def step_view(grid: np.ndarray, kernel: np.ndarray, stride: int, padding: int, count: int) -> None:
    """The slider and the current cell; while playing, each redraw moves on one cell and the slider follows."""
    if st.session_state.get("playing"):
        st.session_state["step"] = min(st.session_state.get("step", 1) + 1, count)
        if st.session_state["step"] >= count:
            st.session_state["playing"] = False
            st.rerun()  # the whole page, so the button reads Play again and the redraws stop
    number = st.slider("Output cell", 1, count, key="step") if count > 1 else 1
    render_step(grid, kernel, stride, padding, number)


def step_through(image: np.ndarray, kernel: np.ndarray, stride: int, padding: int) -> None:
    grid, grid_kernel, grid_stride, grid_padding = small_grid(image, kernel, stride, padding)
    try:
        count = len(list(receptive_field_steps(grid.shape, grid_kernel.shape, grid_stride, grid_padding)))
    except ValueError as err:
        st.error(f"This layer does not fit the {grid.shape[0]}×{grid.shape[1]} grid: {err}.")
        return
    if not 0 <= st.session_state.get("step", 1) <= count:
        st.session_state["step"] = 1
    step_controls(count)
    delay = max(PLAY_FASTEST_S, min(PLAY_DELAY_S, PLAY_TOTAL_S / count))
    st.fragment(step_view, run_every=delay if st.session_state.get("playing") else None)(
        grid, grid_kernel, grid_stride, grid_padding, count)
    st.caption(f"The whole output: {fmt_all(convolve2d(grid, grid_kernel, grid_stride, grid_padding))}")
    if st.session_state["grid"] == COURSE:
        slide_note()


# ----------------------------------------------------------------------------- activation, pooling, flatten

def activation_section(feature_map: np.ndarray) -> np.ndarray:
    x = np.linspace(-6, 6, 241)
    curves = pd.DataFrame({name: ACTIVATIONS[name](x) for name in ELEMENTWISE}, index=pd.Index(x, name="x"))
    fig = px.line(curves, labels={"value": "f(x)", "variable": "Activation"}, title="Activation functions")
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=40, b=10))
    left, right = st.columns(2)
    with left:
        show(fig, key="activation_curves")
    with right:
        name = st.radio("Apply to the feature map", ELEMENTWISE, horizontal=True, key="activation")
        activated = ACTIVATIONS[name](feature_map)
        if name == "ReLU":
            st.markdown(f"ReLU set **{np.mean(feature_map < 0):.0%}** of the feature map's values (every negative one) to 0.")
        else:
            st.markdown(f"{name} squashed the range [{feature_map.min():.3g}, {feature_map.max():.3g}] "
                        f"into [{activated.min():.3g}, {activated.max():.3g}].")
        vector = flatten(pool2d(COURSE_POOLING_EXAMPLE, 2, 2, "max"))
        st.markdown("Softmax works on a whole vector, not pixel by pixel: it turns scores into probabilities. "
                    f"softmax({fmt_all(vector)}) = {fmt_all(softmax(vector))}, which sums to 1.")
    before, after = st.columns(2)
    with before:
        show(image_figure(feature_map, "Feature map"), key="before_activation")
    with after:
        show(image_figure(activated, f"After {name}"), key="after_activation")
    return activated


def pooling_section(activated: np.ndarray) -> None:
    mode_col, size_col, stride_col = st.columns(3)
    mode = mode_col.radio("Pooling", ("max", "avg"), horizontal=True, format_func={"max": "Max", "avg": "Average"}.get, key="pool_mode")
    size = size_col.slider("Pool size", 2, 4, 2, key="pool_size")
    stride = stride_col.slider("Pool stride", 1, 4, 2, key="pool_stride")
    left, right = st.columns(2)
    with left:
        st.markdown("**The course's 4×4 example**")
        example = np.array(COURSE_POOLING_EXAMPLE)
        try:
            pooled = pool2d(example, size, stride, mode)
        except ValueError as err:
            st.error(f"Cannot pool the 4×4 example: {err}.")
        else:
            a, b = st.columns(2)
            with a:
                show(grid_figure(example, "Input 4×4", (0, 0, size, size)), key="pool_example_in")
            with b:
                title = f"{mode.title()} pooled {pooled.shape[0]}×{pooled.shape[1]}"
                show(grid_figure(pooled, title, (0, 0, 1, 1)), key="pool_example_out")
            st.latex(rf"\left\lfloor \frac{{4 - {size}}}{{{stride}}} \right\rfloor + 1 = {output_size(4, size, stride)}")
            st.markdown(f"Flatten, row by row: `{fmt_all(flatten(pooled))}`")
    with right:
        st.markdown("**The activated feature map**")
        try:
            pooled_map = pool2d(activated, size, stride, mode)
        except ValueError as err:
            st.error(f"Cannot pool the feature map: {err}.")
        else:
            sizes = f"{activated.shape[0]}×{activated.shape[1]} → {pooled_map.shape[0]}×{pooled_map.shape[1]}"
            show(image_figure(pooled_map, sizes), key="pooled_map")
            flat = flatten(pooled_map)
            st.markdown(f"Flatten gives a vector of {pooled_map.shape[0]} × {pooled_map.shape[1]} = **{flat.size:,}** numbers, "
                        f"ready for a Dense layer. The first eight: `{fmt_all(flat[:8])}`")


# ----------------------------------------------------------------------------- page

st.title("Convolution lab")
st.caption("Every number here is computed as you change the controls, and agrees with TensorFlow's own "
           "convolution and pooling.")

st.header("1 · A kernel slides over an image")
controls, result = st.columns([1, 2])
with controls:
    image = choose_image()
    kernel_name, kernel = choose_kernel()
    stride = st.slider("Stride", 1, 4, 1, key="stride")
    padding = st.slider("Zero padding", 0, 4, kernel.shape[0] // 2, key="padding",
                        help=f"Padding (k − 1) / 2 = {(kernel.shape[0] - 1) // 2} with stride 1 keeps the size ('same').")
with result:
    try:
        feature_map = convolve2d(image, kernel, stride, padding)
    except ValueError as err:
        st.error(f"This kernel, stride and padding do not fit the image: {err}.")
        st.stop()
    for line in formula_lines(image.shape, kernel.shape[0], stride, padding):
        st.latex(line)
    st.markdown(f"Input {image.shape[0]} × {image.shape[1]}, kernel {kernel.shape[0]} × {kernel.shape[1]}, stride {stride}, "
                f"padding {padding} → feature map **{feature_map.shape[0]} × {feature_map.shape[1]}**.")
    a, b = st.columns(2)
    with a:
        show(image_figure(image, "Input"), key="input_image")
    with b:
        show(image_figure(feature_map, f"Feature map ({kernel_name})"), key="feature_map")

st.header("2 · One output cell at a time")
st.caption("The red box is the receptive field of the current output cell; each output cell is the sum of the "
           "element-wise products of the window and the kernel.")
step_through(image, kernel, stride, padding)

st.header("3 · Activation")
activated = activation_section(feature_map)

st.header("4 · Pooling and flatten")
pooling_section(activated)
