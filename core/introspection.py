"""Looking inside a trained Keras CNN: its layer table, first-layer kernels, feature maps and filter visualisations."""
import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from tf_keras_vis.activation_maximization import ActivationMaximization
from tf_keras_vis.activation_maximization.input_modifiers import Jitter, Rotate2D
from tf_keras_vis.utils.model_modifiers import ExtractIntermediateLayer, ReplaceToLinear
from tf_keras_vis.utils.scores import CategoricalScore


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


def maximise_activation(model: keras.Model, layer_name: str, filters: list[int], steps: int = 60,
                        seed: int = 0) -> np.ndarray:
    """Grey images (one per filter, (n, size, size) in [0, 1]) that make each filter of `layer_name` fire hardest.

    tf-keras-vis ActivationMaximization: gradient ascent on the input from faint seeded grey noise, with jitter and a
    small rotation at every step and total-variation and norm penalties, so the pattern is not just noise.
    """
    channels = model.get_layer(layer_name).output.shape[-1]
    if not filters or any(not 0 <= f < channels for f in filters):
        raise ValueError(f"filters must be between 0 and {channels - 1} for layer {layer_name!r}, got {filters}")
    visualiser = ActivationMaximization(model, model_modifier=[ExtractIntermediateLayer(layer_name), ReplaceToLinear()], clone=True)
    # faint noise around mid-grey: a stronger seed survives the ascent and hides the pattern
    start = tf.random.stateless_uniform((len(filters), *model.input.shape[1:]), seed=(seed, 0), minval=124, maxval=132)
    images = np.asarray(visualiser(CategoricalScore(list(filters)), seed_input=start, steps=steps,
                                   input_modifiers=[Jitter(jitter=8), Rotate2D(degree=3), _to_grey]))
    grey = images.mean(axis=-1)
    low, high = grey.min(axis=(1, 2), keepdims=True), grey.max(axis=(1, 2), keepdims=True)
    return (grey - low) / np.maximum(high - low, 1e-6)
