"""Convolution lab: a kernel on a real image, any pixel's sum on a click, one multiply-and-add at a time, then
activation, pooling and flatten."""
import cv2
import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from sklearn.datasets import load_sample_images
from streamlit.delta_generator import DeltaGenerator
from streamlit.typing import UploadedFile

from core.imaging.decode import ImageDecodeError, decode_image
from core.imaging.phantom import chest_phantom
from core.imaging.viewing import fit_for_display
from core.teaching.convolution import (
    ACTIVATIONS,
    COURSE_POOLING_EXAMPLE,
    COURSE_STRIDE_INPUT,
    COURSE_STRIDE_KERNEL,
    COURSE_STRIDE_SLIDE_OUTPUT,
    KERNEL_PRESETS,
    PixelArithmetic,
    WindowPosition,
    convolution_step,
    convolve2d,
    flatten,
    output_size,
    pad,
    pixel_arithmetic,
    pool2d,
    receptive_field_steps,
    softmax,
    window_centre,
)
from ui.classroom_sidebar import page_context
from ui.common import route_through_app
from ui.projector import current_sizes, edit_numbers, intro_with_switch, show_chart, sized

route_through_app()

LAB_SIDE = 160  # images are shrunk to this longest side so every control answers at once
PATCH = 8  # side of the image patch in the step-through
PLAY_DELAY_S = 0.6  # per output cell, shortened so that a whole play lasts at most PLAY_TOTAL_S
PLAY_TOTAL_S = 12.0
PLAY_FASTEST_S = 0.25
COURSE = "The slide's 7×7 example"
COURSE_YOURS = "The slide's 7×7 input, your layer"
PATCH_YOURS = f"Your image's centre {PATCH}×{PATCH} (0–255), your layer"
SOURCES = ("Chest phantom", "Sample photo", "Your own image")
PIXEL_ROW, PIXEL_COL = "pixel_row", "pixel_col"  # session_state: the input pixel whose sum is shown (1-based)
LAB_UPLOAD = "lab_upload_image"  # session_state: (file_id, image) of the last upload, at most LAB_SIDE on its longest side
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
    sizes = current_sizes()
    text = [["" if np.isnan(v) else fmt(v) for v in row] for row in values]
    scale = dict(colorscale="RdBu", zmid=0) if diverging else dict(colorscale="Blues")
    blank = go.Heatmap(z=np.zeros(values.shape), colorscale=[[0, "#eef1f5"], [1, "#eef1f5"]], showscale=False,
                       xgap=2, ygap=2, hoverinfo="skip")
    cells = go.Heatmap(z=values, text=text, texttemplate="%{text}", textfont=dict(size=sizes.grid_font_px), showscale=False,
                       xgap=2, ygap=2, hovertemplate="row %{y}, col %{x}: %{z}<extra></extra>", **scale)
    fig = go.Figure([blank, cells])
    for box, colour, dash in ((frame, "grey", "dash"), (highlight, "crimson", "solid")):
        if box:
            top, left, rows, cols = box
            fig.add_shape(type="rect", x0=left - 0.5, x1=left + cols - 0.5, y0=top - 0.5, y1=top + rows - 0.5,
                          line=dict(color=colour, width=4, dash=dash))
    side = sizes.cell_px * max(values.shape) + 40
    fig.update_layout(title=dict(text=title, font=dict(size=sizes.font_px)), height=side, margin=dict(l=5, r=5, t=32, b=5),
                      plot_bgcolor="rgba(0,0,0,0)")
    axis = dict(showticklabels=False, showgrid=False, zeroline=False, ticks="")
    fig.update_xaxes(constrain="domain", **axis)
    fig.update_yaxes(autorange="reversed", scaleanchor="x", **axis)
    return fig


def image_figure(image: np.ndarray, title: str) -> go.Figure:
    """A 2-D array as a grey picture, rows and columns counted from 1, with a colour bar below giving its true values."""
    sizes = current_sizes()
    rows, cols = np.arange(1, image.shape[0] + 1), np.arange(1, image.shape[1] + 1)
    picture = go.Heatmap(z=image.astype(np.float32), x=cols, y=rows, colorscale="gray",  # float32: half the bytes, same 4 digits shown
                         hovertemplate="row %{y}, column %{x}: %{z:.4g}<extra></extra>",
                         colorbar=dict(orientation="h", thickness=6, y=0, yanchor="top", ypad=2, outlinewidth=0, ticklen=3,
                                       tickfont=dict(size=sizes.font_px - 4)))
    fig = go.Figure(picture)
    fig.update_layout(title=dict(text=title, font=dict(size=sizes.font_px)), height=sizes.image_px + 75,
                      margin=dict(l=5, r=5, t=30, b=0), hovermode="closest", dragmode=False)
    axes = dict(showticklabels=False, ticks="", showgrid=False, zeroline=False, constrain="domain")
    fig.update_xaxes(range=[0.5, image.shape[1] + 0.5], **axes)
    fig.update_yaxes(range=[image.shape[0] + 0.5, 0.5], scaleanchor="x", **axes)
    return fig


def clickable(fig: go.Figure, shape: tuple[int, int]) -> go.Figure:
    """One invisible point on every pixel, for Streamlit's click selection (a heatmap alone cannot be clicked)."""
    rows, cols = np.mgrid[1:shape[0] + 1, 1:shape[1] + 1].astype(np.min_scalar_type(max(shape)))  # small integers: fewer bytes
    hidden = dict(marker=dict(opacity=0))
    fig.add_trace(go.Scattergl(x=cols.ravel(), y=rows.ravel(), mode="markers", marker=dict(size=4, opacity=0),
                               selected=hidden, unselected=hidden, hovertemplate="row %{y}, column %{x}: click for its sum<extra></extra>"))
    fig.update_traces(hoverinfo="skip", selector=dict(type="heatmap"))
    return fig


def mark(fig: go.Figure, shape: tuple[int, int], top: int, left: int, rows: int, cols: int) -> go.Figure:
    """A red box round rows top..top+rows-1 and columns left..left+cols-1 (1-based), clipped to a picture of `shape`."""
    height, width = shape
    y0, y1 = max(top, 1) - 0.5, min(top + rows - 1, height) + 0.5
    x0, x1 = max(left, 1) - 0.5, min(left + cols - 1, width) + 0.5
    fig.add_shape(type="rect", x0=x0, x1=x1, y0=y0, y1=y1, line=dict(color="red", width=3))
    return fig


# ----------------------------------------------------------------------------- image and kernel

@st.cache_data(show_spinner=False)
def sample_photos() -> dict[str, np.ndarray]:
    """scikit-learn's bundled photos as grey floats in [0, 1]."""
    data = load_sample_images()
    return {name: cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) / 255.0 for name, image in zip(data.filenames, data.images, strict=True)}


def eight_bit(image: np.ndarray) -> np.ndarray:
    """Brightness in [0, 1] in steps of 1/255, as an 8-bit image holds it, so that every pixel is a whole 0–255 level."""
    return np.round(image * 255) / 255


def uploaded_image(upload: UploadedFile) -> np.ndarray:
    """The upload as the lab's image, decoded once per file and kept in this session: the page reruns on every click
    and slider, and a 48 MB DICOM takes 0.1-0.5 s to decode."""
    kept = st.session_state.get(LAB_UPLOAD)
    if kept is None or kept[0] != upload.file_id:
        image = eight_bit(fit_for_display(decode_image(upload.getvalue(), upload.name).pixels / 255.0, LAB_SIDE))
        kept = st.session_state[LAB_UPLOAD] = (upload.file_id, image)
    return kept[1]


def choose_image() -> np.ndarray:
    """The lab's image as 8-bit brightness in [0, 1], at most LAB_SIDE pixels on its longest side."""
    source = st.radio("Image", SOURCES, key="source")
    if source == SOURCES[1]:
        photos = sample_photos()
        name = st.selectbox("Photo", list(photos), format_func=lambda p: p.rsplit("/", 1)[-1].split(".")[0].title())
        return eight_bit(fit_for_display(photos[name], LAB_SIDE))
    if source == SOURCES[2]:
        upload = st.file_uploader(  # no type filter: files are recognised by content (DICOMs often have no extension)
            "An image or DICOM file, with or without an extension (kept in memory only)", key="lab_upload")
        if upload is not None:
            try:
                return uploaded_image(upload)
            except ImageDecodeError as err:
                st.error(f"{err}. Showing the chest phantom instead.")
        else:
            st.info("Choose a file; until then the lab shows the chest phantom.")
    return eight_bit(chest_phantom(128))


def choose_kernel() -> tuple[str, np.ndarray]:
    """A preset kernel, or a custom one edited cell by cell (it is drawn with the pixel's sum)."""
    name = st.selectbox("Kernel", [*KERNEL_PRESETS, *CUSTOM], index=list(KERNEL_PRESETS).index("Sobel x"), key="kernel")
    if name in KERNEL_PRESETS:
        return name, np.array(KERNEL_PRESETS[name])
    size = CUSTOM[name]
    start = pd.DataFrame(np.pad([[1.0]], size // 2), columns=[str(c + 1) for c in range(size)])
    st.caption("Edit any cell: the output updates when you leave the cell.")
    edited = edit_numbers(start, f"custom_{size}", number_format="%g", hide_index=True)
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


# ----------------------------------------------------------------------------- one pixel's sum

def pick_pixel() -> None:
    """A click on the input image makes that pixel the chosen one (a second click on it only clears the selection)."""
    points = st.session_state["input_image"].selection["points"]
    if points:
        st.session_state[PIXEL_ROW], st.session_state[PIXEL_COL] = int(points[0]["y"]), int(points[0]["x"])


def strongest_pixel(feature_map: np.ndarray, kernel: np.ndarray, stride: int, padding: int) -> tuple[int, int]:
    """The input pixel (from 1) at the centre of the window that gives the feature map's strongest response."""
    row, col = np.unravel_index(np.argmax(np.abs(feature_map)), feature_map.shape)
    centre = window_centre(WindowPosition(row, col, row * stride, col * stride), kernel.shape, padding)
    return centre[0] + 1, centre[1] + 1


def choose_pixel(shape: tuple[int, int], default: tuple[int, int]) -> tuple[int, int]:
    """The input pixel (row, column, from 1) whose sum is shown: `default` until one is clicked or typed."""
    for key, size, start in ((PIXEL_ROW, shape[0], default[0]), (PIXEL_COL, shape[1], default[1])):
        if not 1 <= st.session_state.get(key, 0) <= size:
            st.session_state[key] = min(max(start, 1), size)
    row_column, col_column = st.columns(2)
    row = row_column.number_input("Pixel row", 1, shape[0], key=PIXEL_ROW, help="Or click the input image")
    col = col_column.number_input("Pixel column", 1, shape[1], key=PIXEL_COL, help="Or click the input image")
    return row, col


def pixel_sum(image: np.ndarray, kernel: np.ndarray, stride: int, padding: int, row: int, col: int) -> PixelArithmetic:
    """The sum behind the output pixel centred on input pixel (row, col), counted from 1, in brightness levels 0–255."""
    return pixel_arithmetic(np.round(image * 255), kernel, row - 1, col - 1, stride, padding)


def pixel_sum_view(arithmetic: PixelArithmetic, kernel: np.ndarray, padding: int, row: int, col: int,
                   grids: DeltaGenerator, words: DeltaGenerator) -> None:
    """The window under the kernel, the kernel and their products in `grids`; in `words`, their sum: one number of
    the feature map, before and after the activation chosen in section 3."""
    at = arithmetic.position
    centre = tuple(i + 1 for i in window_centre(at, kernel.shape, padding))
    with grids:
        for column, values, title, key in zip(st.columns(3), (arithmetic.window, kernel, arithmetic.products),
                                              ("Window (0–255)", "× kernel", "= products"), ("window", "kernel", "products"), strict=True):
            with column:
                show_chart(grid_figure(values, title, diverging=key != "window"), key=f"pixel_{key}")
    value = arithmetic.total / 255
    activation = st.session_state.get("conv_activation", ELEMENTWISE[0])
    if centre != (row, col):
        words.caption(f"No window is centred on this pixel with this stride and padding: the nearest is centred on "
                      f"row {centre[0]}, column {centre[1]}.")
    words.markdown(f"Sum of the products = **{fmt(arithmetic.total)}**; ÷ 255 (brightness runs from 0 to 1) = **{fmt(value)}**, "
                   f"the feature map's row {at.row + 1}, column {at.col + 1}. "
                   f"After {activation} (section 3): **{fmt(float(ACTIVATIONS[activation](np.array(value))))}**.")


# ----------------------------------------------------------------------------- step-through

def small_grid(image: np.ndarray, kernel: np.ndarray, stride: int, padding: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    """The course's stride example as on the slide, or its input or the image's centre with the chosen layer."""
    choice = st.radio("Small grid", (COURSE, COURSE_YOURS, PATCH_YOURS), horizontal=True, key="grid", label_visibility="collapsed")
    if choice == COURSE:
        st.caption("The slide's own kernel, stride 2 and no padding: the layer chosen above does not change it "
                   "(the second choice applies it to the same input).")
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
    """Output cell `number` (1-based): its sum written out, then the window on the input, the products and the output
    so far."""
    steps = list(receptive_field_steps(grid.shape, kernel.shape, stride, padding))
    padded = pad(grid, padding)
    filled = np.full((steps[-1].row + 1, steps[-1].col + 1), np.nan)
    for step in steps[:number]:
        filled[step.row, step.col] = convolution_step(padded, kernel, step.row, step.col, stride)[2]
    current = steps[number - 1]
    window, products, total = convolution_step(padded, kernel, current.row, current.col, stride)
    kh, kw = kernel.shape
    frame = (padding, padding, *grid.shape) if padding else None
    terms = " + ".join(f"{fmt(w)}·{fmt(k) if k >= 0 else f'({fmt(k)})'}" for w, k in zip(window.ravel(), kernel.ravel(), strict=True))
    st.markdown(f"**Output cell {number} of {len(steps)}** (row {current.row + 1}, column {current.col + 1}): "
                f"{terms} = **{fmt(total)}**")
    columns = st.columns([padded.shape[1] + 1, kw + 1, kw + 1, filled.shape[1] + 1])  # cells of one size in every grid
    with columns[0]:
        show_chart(grid_figure(padded, "Input" + (" (zero padding dashed off)" if padding else ""),
                         (current.top, current.left, kh, kw), frame), key="step_input")
    with columns[1]:
        show_chart(grid_figure(kernel, "Kernel", diverging=True), key="step_kernel")
    with columns[2]:
        show_chart(grid_figure(products, "Window × kernel", diverging=True), key="step_products")
    with columns[3]:
        show_chart(grid_figure(filled, "Output", (current.row, current.col, 1, 1)), key="step_output")


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


def step_controls(count: int) -> int:
    """Step back, Play or Pause, Step, and the slider beside them, in one row; returns the output cell to show."""
    playing = st.session_state.get("playing", False)
    back, play, forward, slider = st.columns([1, 1, 1, 4], vertical_alignment="bottom")
    back.button("◀ Step back", key="step_back", on_click=move_step, args=(-1, count), width="stretch")
    play.button("⏸ Pause" if playing else "▶ Play", key="play", on_click=play_or_pause, args=(count,), width="stretch")
    forward.button("Step ▶", key="step_forward", on_click=move_step, args=(1, count), width="stretch")
    return slider.slider("Output cell", 1, count, key="step") if count > 1 else 1


def step_view(grid: np.ndarray, kernel: np.ndarray, stride: int, padding: int, count: int, ticking: bool) -> None:
    """The controls and the current cell; while playing (`ticking`: the redraws were set going), each redraw moves on
    one cell and the slider follows."""
    if st.session_state.get("playing", False) != ticking:
        st.rerun()  # Play, Pause or a step pressed inside this part: the whole page, so that the redraws start or stop
    if ticking:
        st.session_state["step"] = min(st.session_state.get("step", 1) + 1, count)
        if st.session_state["step"] >= count:
            st.session_state["playing"] = False
            st.rerun()  # the whole page, so the button reads Play again and the redraws stop
    render_step(grid, kernel, stride, padding, step_controls(count))


def step_through(image: np.ndarray, kernel: np.ndarray, stride: int, padding: int) -> None:
    grid, grid_kernel, grid_stride, grid_padding = small_grid(image, kernel, stride, padding)
    try:
        count = len(list(receptive_field_steps(grid.shape, grid_kernel.shape, grid_stride, grid_padding)))
    except ValueError as err:
        st.error(f"This layer does not fit the {grid.shape[0]}×{grid.shape[1]} grid: {err}.")
        return
    if not 0 <= st.session_state.get("step", 1) <= count:
        st.session_state["step"] = 1
    delay = max(PLAY_FASTEST_S, min(PLAY_DELAY_S, PLAY_TOTAL_S / count))
    playing = st.session_state.get("playing", False)
    st.fragment(step_view, run_every=delay if playing else None)(grid, grid_kernel, grid_stride, grid_padding, count, playing)
    st.caption(f"The whole output: {fmt_all(convolve2d(grid, grid_kernel, grid_stride, grid_padding))}")
    if st.session_state["grid"] == COURSE:
        slide_note()


# ----------------------------------------------------------------------------- activation, pooling, flatten

def activation_section(feature_map: np.ndarray) -> np.ndarray:
    x = np.linspace(-6, 6, 241)
    curves = pd.DataFrame({name: ACTIVATIONS[name](x) for name in ELEMENTWISE}, index=pd.Index(x, name="x"))
    fig = px.line(curves, labels={"value": "f(x)", "variable": "Activation"}, title="Activation functions")
    fig.update_layout(margin=dict(l=10, r=10, t=40, b=10))
    left, right = st.columns(2)
    with left:
        show_chart(sized(fig), key="activation_curves")
    with right:
        name = st.radio("Apply to the feature map", ELEMENTWISE, horizontal=True, key="conv_activation")
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
        show_chart(image_figure(feature_map, "Feature map"), key="before_activation")
    with after:
        show_chart(image_figure(activated, f"After {name}"), key="after_activation")
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
                show_chart(grid_figure(example, "Input 4×4", (0, 0, size, size)), key="pool_example_in")
            with b:
                title = f"{mode.title()} pooled {pooled.shape[0]}×{pooled.shape[1]}"
                show_chart(grid_figure(pooled, title, (0, 0, 1, 1)), key="pool_example_out")
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
            show_chart(image_figure(pooled_map, sizes), key="pooled_map")
            flat = flatten(pooled_map)
            st.markdown(f"Flatten gives a vector of {pooled_map.shape[0]} × {pooled_map.shape[1]} = **{flat.size:,}** numbers, "
                        f"ready for a Dense layer. The first eight: `{fmt_all(flat[:8])}`")


# ----------------------------------------------------------------------------- page

def kernel_section() -> tuple[np.ndarray, np.ndarray, int, int, np.ndarray]:
    """The controls, the input (click a pixel), the feature map, and the sum behind the chosen pixel; returns the
    image, kernel, stride, padding and feature map for the sections below."""
    controls, picture, result = st.columns([0.8, 1.1, 1.1])
    with controls:
        image = choose_image()
        kernel_name, kernel = choose_kernel()
        stride = st.slider("Stride", 1, 4, 1, key="stride")
        padding = st.slider("Zero padding", 0, 4, kernel.shape[0] // 2, key="padding",
                            help=f"Padding (k − 1) / 2 = {(kernel.shape[0] - 1) // 2} with stride 1 keeps the size ('same').")
    try:
        feature_map = convolve2d(image, kernel, stride, padding)
    except ValueError as err:
        st.error(f"This kernel, stride and padding do not fit the image: {err}.")
        st.stop()
    grids, words = st.columns([3 * (kernel.shape[1] + 1), 7])
    with words:
        row, col = choose_pixel(image.shape, strongest_pixel(feature_map, kernel, stride, padding))
    arithmetic = pixel_sum(image, kernel, stride, padding, row, col)
    at = arithmetic.position
    with picture:
        fig = mark(clickable(image_figure(image, "Input: click any pixel"), image.shape), image.shape,
                   at.top - padding + 1, at.left - padding + 1, *kernel.shape)
        show_chart(fig, key="input_image", on_select=pick_pixel, selection_mode="points")
    with result:
        title = f"Feature map ({kernel_name}), {feature_map.shape[0]} × {feature_map.shape[1]}"
        show_chart(mark(image_figure(feature_map, title), feature_map.shape, at.row + 1, at.col + 1, 1, 1), key="feature_map")
    pixel_sum_view(arithmetic, kernel, padding, row, col, grids, words)
    st.markdown(f"Input {image.shape[0]} × {image.shape[1]}, kernel {kernel.shape[0]} × {kernel.shape[1]}, stride {stride}, "
                f"padding {padding} → feature map **{feature_map.shape[0]} × {feature_map.shape[1]}**:")
    for line in formula_lines(image.shape, kernel.shape[0], stride, padding):
        st.latex(line)
    return image, kernel, stride, padding, feature_map


intro_with_switch("Every number here is computed as you change the controls, and agrees with TensorFlow's own "
                  "convolution and pooling.")
page_context("how a kernel slides over an image (each output is a sum of products), what stride and zero padding do "
             "to the output's size, activations, and pooling then flattening.", [
    "The slide's 7×7 input and 3×3 kernel at stride 2 give a 3×3 output whose first row, computed here, is "
    f"`{fmt_all(convolve2d(COURSE_STRIDE_INPUT, COURSE_STRIDE_KERNEL, 2)[0])}`",
    *(f"2×2 {mode} pooling of the slide's 4×4 grid, flattened: `{fmt_all(flatten(pool2d(COURSE_POOLING_EXAMPLE, 2, 2, mode)))}`"
      for mode in ("max", "avg"))])

st.header("1 · A kernel slides over an image")
image, kernel, stride, padding, feature_map = kernel_section()

st.header("2 · One output cell at a time")
st.caption("The red box is the receptive field of the current output cell; each output cell is the sum of the "
           "element-wise products of the window and the kernel. Your layer: the kernel, stride and padding of section 1.")
step_through(image, kernel, stride, padding)

st.header("3 · Activation")
activated = activation_section(feature_map)

st.header("4 · Pooling and flatten")
pooling_section(activated)
