"""Looking inside a trained Keras CNN: its layer table, its convolutions by block, first-layer kernels, feature maps
and filter visualisations."""
import re
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from tf_keras_vis.activation_maximization import ActivationMaximization
from tf_keras_vis.activation_maximization.callbacks import Callback
from tf_keras_vis.activation_maximization.input_modifiers import Jitter, Rotate2D
from tf_keras_vis.utils.model_modifiers import ExtractIntermediateLayer, ReplaceToLinear
from tf_keras_vis.utils.scores import CategoricalScore

from core.model.keras_internals import producing_layer
from core.teaching.background import Report

CONVOLUTIONS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)
AFTER_A_CONVOLUTION = (keras.layers.BatchNormalization, keras.layers.ReLU, keras.layers.Activation)


def architecture_table(model: keras.Model) -> pd.DataFrame:
    """One row per layer: name, type, output shape (batch axis left out) and parameter count."""
    rows = [{
        "Layer": layer.name,
        "Type": type(layer).__name__,
        "Output shape": " × ".join(str(d) for d in layer.output.shape[1:]),
        "Parameters": layer.count_params(),
        "Trainable": layer.trainable,
    } for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    return pd.DataFrame(rows)


def parameter_counts(model: keras.Model) -> dict[str, int]:
    """Total, trainable and frozen (non-trainable) parameter counts."""
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    total = int(model.count_params())
    return {"total": total, "trainable": trainable, "frozen": total - trainable}


@dataclass(frozen=True)
class ConvolutionOutput:
    """One convolution's output as a student looks at it: after its batch norm and activation, if it has them."""
    layer: str  # the layer whose output is shown
    group: str  # "Start", "Block 3", "Stage 2 · block 1", "End"
    label: str  # "1×1 convolution: 24 → 144 maps (widens) · 56 × 56"


def _consumers(model: keras.Model) -> dict[str, list[keras.layers.Layer]]:
    """Layer name -> the layers that read its output."""
    consumers: dict[str, list[keras.layers.Layer]] = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        for tensor in keras.tree.flatten(layer.input):
            consumers.setdefault(producing_layer(tensor).name, []).append(layer)
    return consumers


def _chain_end(layer: keras.layers.Layer, consumers: dict[str, list[keras.layers.Layer]]) -> keras.layers.Layer:
    """Follow the batch norm and activation layers that read only this layer's output."""
    while len(following := consumers.get(layer.name, [])) == 1 and isinstance(following[0], AFTER_A_CONVOLUTION):
        layer = following[0]
    return layer


def _block_of(name: str) -> str | None:
    """The block a layer belongs to, from Keras' MobileNetV2 and ResNet50 layer names; None outside any block."""
    if match := re.match(r"block_(\d+)_", name):
        return f"Block {match[1]}"
    if name.startswith("expanded_conv"):
        return "Block 0"
    if match := re.match(r"conv(\d+)_block(\d+)_", name):
        return f"Stage {match[1]} · block {match[2]}"
    return None


def _describe(layer: keras.layers.Layer, shown: keras.layers.Layer) -> str:
    """What a convolution (or a residual addition) does, in a student's words, and the maps it gives."""
    height, width, channels = shown.output.shape[1:]
    size = f"{height} × {width}"
    if isinstance(layer, keras.layers.Add):
        return f"input added back (shortcut) · {channels} maps of {size}"
    k = "×".join(map(str, layer.kernel_size))
    stride = f", stride {layer.strides[0]}" if layer.strides[0] > 1 else ""
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return f"depthwise {k}{stride}: each map filtered on its own · {channels} maps of {size}"
    before = layer.input.shape[-1]
    if layer.kernel_size == (1, 1):
        change = "widens" if channels > before else "narrows" if channels < before else "mixes"
        return f"1×1 convolution: {before} → {channels} maps ({change}) · {size}"
    return f"{k} convolution{stride}: {channels} maps of {size}"


def convolution_outputs(model: keras.Model) -> list[ConvolutionOutput]:
    """Every convolution (and residual addition) of the model, input side first, grouped by block.

    Batch-norm, activation, padding and preprocessing layers are not listed on their own: each convolution is shown
    after the batch norm and activation that follow it. Layers before the first block are "Start", after it "End".
    """
    consumers, outputs, seen_block = _consumers(model), [], False
    for layer in model.layers:
        if not isinstance(layer, (*CONVOLUTIONS, keras.layers.Add)) or len(layer.output.shape) != 4:
            continue
        block = _block_of(layer.name)
        seen_block = seen_block or block is not None
        shown = _chain_end(layer, consumers)
        outputs.append(ConvolutionOutput(shown.name, block or ("End" if seen_block else "Start"), _describe(layer, shown)))
    return outputs


def first_conv_layer(model: keras.Model) -> keras.layers.Conv2D:
    """The first ordinary 2-D convolution, the one that looks at the pixels."""
    for layer in model.layers:
        if type(layer) is keras.layers.Conv2D:
            return layer
    raise ValueError(f"model {model.name!r} has no Conv2D layer")


def first_conv_kernels(model: keras.Model) -> tuple[str, np.ndarray]:
    """The first convolution's name and its kernels as (filters, height, width, input channels)."""
    layer = first_conv_layer(model)
    return layer.name, np.transpose(np.asarray(layer.kernel), (3, 0, 1, 2))


def kernels_on_grey(kernels: np.ndarray) -> np.ndarray:
    """What each kernel does to a greyscale input (R = G = B): the sum over input channels, (filters, h, w)."""
    return kernels.sum(axis=-1)


def kernels_as_rgb(kernels: np.ndarray) -> np.ndarray:
    """Kernels rescaled together to [0, 1] so each can be shown as a tiny colour image (0.5 = zero weight)."""
    scale = np.abs(kernels).max() or 1.0
    return 0.5 + 0.5 * kernels / scale


def feature_maps(model: keras.Model, model_input: np.ndarray, layer_name: str) -> np.ndarray:
    """The activations of `layer_name` for one model input, (height, width, channels)."""
    probe = keras.Model(model.input, model.get_layer(layer_name).output)
    return np.asarray(probe(model_input[None].astype(np.float32), training=False)[0])


def strongest_channels(maps: np.ndarray, count: int) -> np.ndarray:
    """Indices of the `count` channels with the largest mean activation, strongest first."""
    return np.argsort(-maps.mean(axis=(0, 1)), kind="stable")[:count]


def _to_grey(x: tf.Tensor) -> tf.Tensor:
    """Keep the optimised image grey (R = G = B), as every chest X-ray the model sees is."""
    return tf.repeat(tf.reduce_mean(x, axis=-1, keepdims=True), x.shape[-1], axis=-1)


class _StepReport(Callback):
    """Tells `report` of every gradient-ascent step; a report that raises (a stop) ends the ascent there."""

    def __init__(self, report: Report, steps: int):
        self.report, self.steps = report, steps

    def __call__(self, i: int, values, grads, scores, model_outputs, **kwargs) -> None:
        self.report(f"Gradient ascent: step {i + 1} of {self.steps}", i + 1, self.steps)


def _ignore(text: str, done: int, total: int) -> None:
    """The report used when nobody watches."""


def maximise_activation(model: keras.Model, layer_name: str, filters: list[int], steps: int = 60,
                        seed: int = 0, report: Report = _ignore) -> np.ndarray:
    """Grey images (one per filter, (n, size, size) in [0, 1]) that make each filter of `layer_name` fire hardest.

    tf-keras-vis ActivationMaximization: gradient ascent on the input from faint seeded grey noise, with jitter and a
    small rotation at every step and total-variation and norm penalties, so the pattern is not just noise.
    `report` hears of every step and may raise (core.teaching.background.Stopped) to end the ascent there.
    """
    channels = model.get_layer(layer_name).output.shape[-1]
    if not filters or any(not 0 <= f < channels for f in filters):
        raise ValueError(f"filters must be between 0 and {channels - 1} for layer {layer_name!r}, got {filters}")
    report(f"Preparing a copy of the model for gradient ascent ({steps} steps)", 0, steps)
    visualiser = ActivationMaximization(model, model_modifier=[ExtractIntermediateLayer(layer_name), ReplaceToLinear()], clone=True)
    # faint noise around mid-grey: a stronger seed survives the ascent and hides the pattern
    start = tf.random.stateless_uniform((len(filters), *model.input.shape[1:]), seed=(seed, 0), minval=124, maxval=132)
    images = np.asarray(visualiser(CategoricalScore(list(filters)), seed_input=start, steps=steps,
                                   input_modifiers=[Jitter(jitter=8), Rotate2D(degree=3), _to_grey],
                                   callbacks=[_StepReport(report, steps)]))
    grey = images.mean(axis=-1)
    low, high = grey.min(axis=(1, 2), keepdims=True), grey.max(axis=(1, 2), keepdims=True)
    return (grey - low) / np.maximum(high - low, 1e-6)
