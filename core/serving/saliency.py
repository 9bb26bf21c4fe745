"""Where the network looked: one Explainer per model, and heatmap overlays.

Grad-CAM is the textbook rule (channel weights = mean gradient of the class logit over the maps), compiled with
TensorFlow; the classifier's own forward pass computes it for the top class with the same function. Grad-CAM++
and Score-CAM come from tf-keras-vis. Every map stays at the explained layer's resolution (7 x 7 at MobileNetV2's
last block) and is resized once, by the overlay, to the image it is drawn on.
"""
import threading
from collections.abc import Callable

import cv2
import keras
import numpy as np
import tensorflow as tf
from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
from tf_keras_vis.scorecam import Scorecam
from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
from tf_keras_vis.utils.scores import CategoricalScore

from core.model.backbones import HEAD_NAME, uncrop_map

GRADCAM = "gradcam"
METHODS = {GRADCAM: "Grad-CAM", "gradcam++": "Grad-CAM++", "scorecam": "Score-CAM"}
HEATMAP_COLOURS = cv2.COLORMAP_JET  # blue (little) to red (most)
HEATMAP_OPACITY = 0.4  # default weight of the heatmap over the film
SCORECAM_MAX_CHANNELS = 64  # "Faster Score-CAM": only the most active channels, so it runs in seconds on a CPU


def conv_layer_names(model: keras.Model) -> list[str]:
    """Layers with 4-D (spatial) outputs that a CAM can be computed at, input side first."""
    return [layer.name for layer in model.layers
            if len(getattr(layer.output, "shape", ())) == 4 and not isinstance(layer, keras.layers.InputLayer)]


def grad_cam(maps: tf.Tensor, gradients: tf.Tensor) -> tf.Tensor:
    """(N, h, w) Grad-CAM in [0, 1] from a layer's (N, h, w, C) maps and the class logit's gradient over them."""
    weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(maps * weights, axis=-1))
    low, high = tf.reduce_min(cam, axis=(1, 2), keepdims=True), tf.reduce_max(cam, axis=(1, 2), keepdims=True)
    return (cam - low) / (high - low + keras.backend.epsilon())


class Explainer:
    """Every saliency method for one model. Each piece is built once, on first use, and shared by every caller:
    a compiled Grad-CAM per layer, and one model clone each for Grad-CAM++ and Score-CAM."""

    def __init__(self, model: keras.Model, default_layer: str, border_crop: float = 0.0):
        self.model, self.default_layer, self.border_crop = model, default_layer, border_crop
        self.head = model.get_layer(HEAD_NAME)
        self._gradcams: dict[str, Callable] = {}
        self._visualisers: dict[str, GradcamPlusPlus | Scorecam] = {}
        self._lock = threading.Lock()  # sessions run in threads; two first uses must not build two clones

    def logits(self, head_input: tf.Tensor) -> tf.Tensor:
        """The class scores before the softmax, from the head's input."""
        return tf.matmul(head_input, self.head.kernel) + self.head.bias

    def explain(self, model_input: np.ndarray, class_index: int, method: str = GRADCAM, layer: str | None = None) -> np.ndarray:
        """An (h, w) map in [0, 1] at `layer`'s resolution (default: the last conv block) of where `class_index` is
        supported in one (size, size, 3) model input, placed on the whole film when the model crops its border."""
        layer = layer or self.default_layer
        if method == GRADCAM:
            cam = self._gradcam(layer)(tf.constant(model_input[None], tf.float32), tf.constant(class_index, tf.int32)).numpy()
            return uncrop_map(cam, self.border_crop)
        options = {"max_N": SCORECAM_MAX_CHANNELS} if method == "scorecam" else {}
        cam = self._visualiser(method)(CategoricalScore([class_index]), model_input[None].astype(np.float32), penultimate_layer=layer,
                                       seek_penultimate_conv_layer=False, expand_cam=False, **options)
        return uncrop_map(np.nan_to_num(np.asarray(cam[0], dtype=np.float32)).clip(0.0, 1.0), self.border_crop)

    def _gradcam(self, layer: str) -> Callable:
        with self._lock:
            if layer not in self._gradcams:
                graph = keras.Model(self.model.input, [self.model.get_layer(layer).output, self.head.input])

                def run(x: tf.Tensor, class_index: tf.Tensor) -> tf.Tensor:
                    with tf.GradientTape() as tape:
                        tape.watch(x)  # records the whole pass, so the gradient reaches frozen layers' maps
                        maps, head_input = graph(x, training=False)
                        score = self.logits(head_input)[0, class_index]
                    return grad_cam(maps, tape.gradient(score, maps))[0]

                self._gradcams[layer] = tf.function(run, reduce_retracing=True)
            return self._gradcams[layer]

    def _visualiser(self, method: str) -> GradcamPlusPlus | Scorecam:
        if method not in METHODS:
            raise ValueError(f"unknown saliency method {method!r}; choose one of {', '.join(METHODS)}")
        with self._lock:
            if method not in self._visualisers:  # Score-CAM reads the softmax output itself
                self._visualisers[method] = (GradcamPlusPlus(self.model, model_modifier=ReplaceToLinear(), clone=True)
                                             if method == "gradcam++" else Scorecam(self.model))
            return self._visualisers[method]


def overlay(pixels: np.ndarray, cam: np.ndarray, opacity: float = HEATMAP_OPACITY) -> np.ndarray:
    """Blend a [0, 1] map of any resolution, stretched once over the image (bilinear between cell centres) and
    coloured with OpenCV's JET colormap (red = strong), over a greyscale image; RGB uint8."""
    height, width = pixels.shape[:2]
    heat = cv2.convertScaleAbs(cv2.resize(cam.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR), alpha=255)
    coloured = cv2.cvtColor(cv2.applyColorMap(heat, HEATMAP_COLOURS), cv2.COLOR_BGR2RGB)
    base = cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB) if pixels.ndim == 2 else pixels
    return cv2.addWeighted(coloured, float(opacity), base, 1.0 - float(opacity), 0.0)


def colour_scale(width: int = 256, height: int = 12) -> np.ndarray:
    """The heatmap's colours from 0 (left) to 1 (right), as an RGB uint8 strip."""
    ramp = np.tile(np.linspace(0, 255, width).astype(np.uint8), (height, 1))
    return cv2.cvtColor(cv2.applyColorMap(ramp, HEATMAP_COLOURS), cv2.COLOR_BGR2RGB)
