"""Model introspection on tiny hand-built networks, so every expected number is known."""
import keras
import numpy as np
import pytest

from core.teaching.background import Stopped
from core.teaching.convolution import KERNEL_PRESETS, convolve2d
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

SIZE = 32


@pytest.fixture(scope="module")
def edge_model() -> keras.Model:
    """RGB input -> a 2-filter 3x3 conv whose filters are Sobel x and Sobel y (split over the colour channels)."""
    pixels = keras.Input((SIZE, SIZE, 3), name="pixels")
    conv = keras.layers.Conv2D(2, 3, padding="same", use_bias=False, name="edges")
    x = conv(pixels)
    x = keras.layers.ReLU(name="edges_relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="probabilities")(x)
    model = keras.Model(pixels, outputs)
    sobel = np.stack([KERNEL_PRESETS["Sobel x"], KERNEL_PRESETS["Sobel y"]], axis=-1)  # (3, 3, 2)
    conv.kernel.assign(np.repeat(sobel[:, :, None, :] / 3, 3, axis=2).astype(np.float32))
    model.get_layer("probabilities").trainable = False
    return model


def test_architecture_table_lists_every_layer_with_shapes_and_parameters(edge_model):
    table = architecture_table(edge_model)
    assert list(table["Layer"]) == ["edges", "edges_relu", "gap", "probabilities"]
    assert list(table["Output shape"]) == [f"{SIZE} × {SIZE} × 2", f"{SIZE} × {SIZE} × 2", "2", "2"]
    assert list(table["Parameters"]) == [3 * 3 * 3 * 2, 0, 0, 2 * 2 + 2]
    assert table["Parameters"].sum() == edge_model.count_params()


def test_parameter_counts_split_trainable_from_frozen(edge_model):
    assert parameter_counts(edge_model) == {"total": 60, "trainable": 54, "frozen": 6}


def test_first_conv_kernels_act_on_grey_as_the_summed_kernel(edge_model):
    name, kernels = first_conv_kernels(edge_model)
    assert name == "edges" and kernels.shape == (2, 3, 3, 3)
    np.testing.assert_allclose(kernels_on_grey(kernels)[0], KERNEL_PRESETS["Sobel x"], atol=1e-6)
    rgb = kernels_as_rgb(kernels)
    assert rgb.min() >= 0 and rgb.max() <= 1 and np.isclose(rgb[0, 1, 1, 0], 0.5)  # zero weight is mid-grey

    grey = np.random.default_rng(0).uniform(0, 255, (SIZE, SIZE)).astype(np.float32)
    maps = feature_maps(edge_model, np.repeat(grey[:, :, None], 3, axis=2), "edges")
    expected = convolve2d(grey, kernels_on_grey(kernels)[1], padding=1)  # an X-ray (R = G = B) sees the summed kernel
    np.testing.assert_allclose(maps[..., 1], expected, rtol=1e-4, atol=1e-2)


def test_first_conv_kernels_needs_a_convolution():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="no Conv2D layer"):
        first_conv_kernels(model)


def test_strongest_channels_come_first():
    maps = np.zeros((4, 4, 3))
    maps[..., 0], maps[..., 1], maps[..., 2] = 1.0, 3.0, 2.0
    assert list(strongest_channels(maps, 2)) == [1, 2]


def test_activation_maximisation_draws_the_edges_each_filter_detects(edge_model):
    images = maximise_activation(edge_model, "edges_relu", [0, 1], steps=30)
    assert images.shape == (2, SIZE, SIZE) and images.min() >= 0 and images.max() <= 1
    across = [np.abs(np.diff(im, axis=1)).mean() for im in images]  # change from column to column: vertical edges
    down = [np.abs(np.diff(im, axis=0)).mean() for im in images]  # change from row to row: horizontal edges
    assert across[0] > down[0]  # Sobel x wants vertical edges
    assert down[1] > across[1]  # Sobel y wants horizontal edges


def test_activation_maximisation_reports_every_step_and_can_be_stopped(edge_model):
    reports = []
    maximise_activation(edge_model, "edges_relu", [0], steps=3, report=lambda *r: reports.append(r))
    assert [(done, total) for _, done, total in reports] == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert reports[-1][0] == "Gradient ascent: step 3 of 3"

    def stop_at_step_two(text: str, done: int, total: int) -> None:
        reports.append(done)
        if done == 2:
            raise Stopped

    reports.clear()
    with pytest.raises(Stopped):
        maximise_activation(edge_model, "edges_relu", [0], steps=50, report=stop_at_step_two)
    assert reports == [0, 1, 2]


def mobilenet_like() -> keras.Model:
    """A stem, one inverted-residual block named as Keras' MobileNetV2 names them, and a last 1×1 convolution."""
    layers = keras.layers
    pixels = keras.Input((16, 16, 3))
    x = layers.Rescaling(1 / 127.5, -1, name="to_minus1_plus1")(pixels)
    x = layers.Conv2D(4, 3, strides=2, padding="same", name="Conv1")(x)
    x = layers.BatchNormalization(name="bn_Conv1")(x)
    stem = layers.ReLU(name="Conv1_relu")(x)
    x = layers.ReLU(name="block_1_expand_relu")(layers.BatchNormalization(name="block_1_expand_BN")(
        layers.Conv2D(8, 1, name="block_1_expand")(stem)))
    x = layers.ReLU(name="block_1_depthwise_relu")(layers.BatchNormalization(name="block_1_depthwise_BN")(
        layers.DepthwiseConv2D(3, padding="same", name="block_1_depthwise")(x)))
    x = layers.BatchNormalization(name="block_1_project_BN")(layers.Conv2D(4, 1, name="block_1_project")(x))
    x = layers.Add(name="block_1_add")([stem, x])
    x = layers.ReLU(name="out_relu")(layers.Conv2D(6, 1, name="Conv_1")(x))
    return keras.Model(pixels, layers.GlobalAveragePooling2D()(x))


def test_convolution_outputs_are_grouped_by_block_after_their_batch_norm_and_activation():
    assert convolution_outputs(mobilenet_like()) == [
        ConvolutionOutput("Conv1_relu", "Start", "3×3 convolution, stride 2: 4 maps of 8 × 8"),
        ConvolutionOutput("block_1_expand_relu", "Block 1", "1×1 convolution: 4 → 8 maps (widens) · 8 × 8"),
        ConvolutionOutput("block_1_depthwise_relu", "Block 1", "depthwise 3×3: each map filtered on its own · 8 maps of 8 × 8"),
        ConvolutionOutput("block_1_project_BN", "Block 1", "1×1 convolution: 8 → 4 maps (narrows) · 8 × 8"),
        ConvolutionOutput("block_1_add", "Block 1", "input added back (shortcut) · 4 maps of 8 × 8"),
        ConvolutionOutput("out_relu", "End", "1×1 convolution: 4 → 6 maps (widens) · 8 × 8"),
    ]


def test_activation_maximisation_refuses_a_filter_the_layer_lacks(edge_model):
    with pytest.raises(ValueError, match="between 0 and 1"):
        maximise_activation(edge_model, "edges_relu", [2], steps=1)
