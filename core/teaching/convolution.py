"""Teaching maths of a CNN layer in plain numpy: padding, convolution, pooling, flatten, activations.

Convolution here is cross-correlation, as CNN layers compute it: the kernel is not flipped.
Everything works on single-channel 2-D arrays so a page can show every multiply and add.
"""
from collections.abc import Callable, Iterator
from numbers import Integral
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _frozen(rows: "np.typing.ArrayLike") -> np.ndarray:
    """A read-only float array, so shared constants cannot be changed by accident."""
    a = np.array(rows, dtype=float)
    a.setflags(write=False)
    return a


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def _check_2d(name: str, x: np.ndarray) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (one channel), got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty (shape {a.shape})")
    return a


# ----------------------------------------------------------------------------- shapes

def output_size(i: int, k: int, s: int = 1, p: int = 0) -> int:
    """Output length of a convolution or pooling along one axis: floor((i - k + 2p) / s) + 1."""
    i, k = _check_int("input size", i, 1), _check_int("kernel size", k, 1)
    s, p = _check_int("stride", s, 1), _check_int("padding", p, 0)
    n = (i - k + 2 * p) // s + 1
    if n < 1:
        raise ValueError(f"kernel {k} does not fit input {i} with padding {p}: output size would be {n}")
    return n


def pad(image: np.ndarray, padding: int) -> np.ndarray:
    """Surround a 2-D image with `padding` rows and columns of zeros."""
    image = _check_2d("image", image)
    padding = _check_int("padding", padding, 0)
    return np.pad(image, padding, mode="constant", constant_values=0.0)


# ----------------------------------------------------------------------------- convolution

def convolve2d(image: np.ndarray, kernel: np.ndarray, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Zero-pad, then slide the kernel by `stride` and sum the element-wise products at each stop."""
    image, kernel = _check_2d("image", image), _check_2d("kernel", kernel)
    stride = _check_int("stride", stride, 1)
    padded = pad(image, padding)
    if kernel.shape[0] > padded.shape[0] or kernel.shape[1] > padded.shape[1]:
        raise ValueError(
            f"kernel {kernel.shape[0]}x{kernel.shape[1]} is larger than the padded input "
            f"{padded.shape[0]}x{padded.shape[1]} (image {image.shape[0]}x{image.shape[1]}, padding {padding})"
        )
    windows = sliding_window_view(padded, kernel.shape)[::stride, ::stride]
    return np.einsum("ijkl,kl->ij", windows, kernel)


class WindowPosition(NamedTuple):
    """One stop of the kernel: output cell (row, col) and the window's top-left in the padded input."""
    row: int
    col: int
    top: int
    left: int


def receptive_field_steps(
    image_shape: tuple[int, int], kernel_shape: tuple[int, int], stride: int = 1, padding: int = 0
) -> Iterator[WindowPosition]:
    """Yield every kernel position in the order the output is filled: row by row, left to right."""
    rows = output_size(image_shape[0], kernel_shape[0], stride, padding)
    cols = output_size(image_shape[1], kernel_shape[1], stride, padding)
    for row in range(rows):
        for col in range(cols):
            yield WindowPosition(row, col, row * stride, col * stride)


def convolution_step(
    padded: np.ndarray, kernel: np.ndarray, row: int, col: int, stride: int = 1
) -> tuple[np.ndarray, np.ndarray, float]:
    """The window under the kernel for output cell (row, col), its element-wise products, and their sum."""
    padded, kernel = _check_2d("padded input", padded), _check_2d("kernel", kernel)
    stride = _check_int("stride", stride, 1)
    top, left = _check_int("row", row, 0) * stride, _check_int("col", col, 0) * stride
    kh, kw = kernel.shape
    if top + kh > padded.shape[0] or left + kw > padded.shape[1]:
        raise ValueError(f"output cell ({row}, {col}) puts the kernel outside the {padded.shape} input")
    window = padded[top:top + kh, left:left + kw]
    products = window * kernel
    return window, products, float(products.sum())


class PixelArithmetic(NamedTuple):
    """The sum behind one output pixel: where the kernel stops, the window under it, the products, their sum."""
    position: WindowPosition
    window: np.ndarray
    products: np.ndarray
    total: float


def window_centre(position: WindowPosition, kernel_shape: tuple[int, int], padding: int = 0) -> tuple[int, int]:
    """The input pixel (row, col) at the centre of a kernel stop's window (the one above and left of it for an even side)."""
    return position.top - padding + (kernel_shape[0] - 1) // 2, position.left - padding + (kernel_shape[1] - 1) // 2


def window_for_pixel(
    image_shape: tuple[int, int], kernel_shape: tuple[int, int], row: int, col: int, stride: int = 1, padding: int = 0
) -> WindowPosition:
    """The kernel stop whose window is centred on input pixel (row, col), or the nearest one when none is."""
    def nearest(i: int, size: int, k: int) -> int:
        _check_int("row or column", i, 0)
        if i >= size:
            raise ValueError(f"pixel {i} is outside an image of {size} pixels")
        n = output_size(size, k, stride, padding)
        return min(max(int(np.floor((i + padding - (k - 1) / 2) / stride + 0.5)), 0), n - 1)

    out_row, out_col = nearest(row, image_shape[0], kernel_shape[0]), nearest(col, image_shape[1], kernel_shape[1])
    return WindowPosition(out_row, out_col, out_row * stride, out_col * stride)


def pixel_arithmetic(image: np.ndarray, kernel: np.ndarray, row: int, col: int, stride: int = 1,
                     padding: int = 0) -> PixelArithmetic:
    """Every multiply and add that gives the output pixel centred on input pixel (row, col), as convolve2d computes it."""
    image, kernel = _check_2d("image", image), _check_2d("kernel", kernel)
    position = window_for_pixel(image.shape, kernel.shape, row, col, stride, padding)
    return PixelArithmetic(position, *convolution_step(pad(image, padding), kernel, position.row, position.col, stride))


# ----------------------------------------------------------------------------- pooling and flatten

POOL_MODES = ("max", "avg")


def pool2d(x: np.ndarray, size: int = 2, stride: int = 2, mode: str = "max") -> np.ndarray:
    """Max or average pooling with a size x size window, no padding (Keras 'valid')."""
    x = _check_2d("input", x)
    size, stride = _check_int("pool size", size, 1), _check_int("stride", stride, 1)
    if mode not in POOL_MODES:
        raise ValueError(f"pooling mode must be one of {POOL_MODES}, got {mode!r}")
    if size > min(x.shape):
        raise ValueError(f"pool size {size} is larger than the {x.shape[0]}x{x.shape[1]} input")
    windows = sliding_window_view(x, (size, size))[::stride, ::stride]
    return windows.max(axis=(-2, -1)) if mode == "max" else windows.mean(axis=(-2, -1))


def flatten(x: np.ndarray) -> np.ndarray:
    """Row-major 1-D copy of a feature map, as Keras Flatten lays it out before a Dense layer."""
    return np.asarray(x).flatten(order="C")


# ----------------------------------------------------------------------------- activations

def relu(x: np.ndarray) -> np.ndarray:
    """max(0, x)."""
    return np.maximum(0, x)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x), squashes to (0, 1)."""
    with np.errstate(over="ignore"):  # e^-x overflows to inf for very negative x; 1/inf is the right 0
        return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def tanh(x: np.ndarray) -> np.ndarray:
    """Hyperbolic tangent, squashes to (-1, 1)."""
    return np.tanh(x)


def softmax(x: np.ndarray) -> np.ndarray:
    """e^x / sum(e^x) over the last axis; subtracting the max first keeps e^x from overflowing."""
    x = np.asarray(x, dtype=float)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "ReLU": relu,
    "Sigmoid": sigmoid,
    "Tanh": tanh,
    "Softmax": softmax,
}

# ----------------------------------------------------------------------------- kernels and course examples

KERNEL_PRESETS: dict[str, np.ndarray] = {
    "Identity": _frozen([[0, 0, 0], [0, 1, 0], [0, 0, 0]]),
    "Sharpen": _frozen([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    "Box blur": _frozen(np.ones((3, 3)) / 9),
    "Gaussian blur": _frozen(np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16),
    "Laplacian edge": _frozen([[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
    "Sobel x": _frozen([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
    "Sobel y": _frozen([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]),
    "Emboss": _frozen([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]),
    "Outline": _frozen([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
}

# 2x2 max pooling with stride 2 turns this into [[9, 2], [6, 3]].
COURSE_POOLING_EXAMPLE = _frozen([[1, 3, 2, 1], [2, 9, 1, 1], [1, 3, 2, 3], [5, 6, 1, 2]])

# The standard strided-convolution example (deeplearning.ai, Convolutional Neural Networks, "Strided
# Convolutions"): 7x7 input, 3x3 kernel, stride 2 -> 3x3 output whose top-left cell is 91.
# The lecture slide prints COURSE_STRIDE_SLIDE_OUTPUT, but two of its cells are arithmetic slips: the windows at
# (0, 2) and (1, 2) sum to 88 and 117. No change of a single input number or kernel weight gives the slide's
# values (tests/teaching/test_convolution.py checks this), so they are not a different kernel, stride or rounding.
COURSE_STRIDE_INPUT = _frozen([
    [2, 3, 7, 4, 6, 2, 9],
    [6, 6, 9, 8, 7, 4, 3],
    [3, 4, 8, 3, 8, 9, 7],
    [7, 8, 3, 6, 6, 3, 4],
    [4, 2, 1, 8, 3, 4, 6],
    [3, 2, 4, 1, 9, 8, 3],
    [0, 1, 3, 9, 2, 1, 4],
])
COURSE_STRIDE_KERNEL = _frozen([[3, 4, 4], [1, 0, 2], [-1, 0, 3]])
COURSE_STRIDE_SLIDE_OUTPUT = _frozen([[91, 100, 83], [69, 91, 127], [44, 72, 74]])
