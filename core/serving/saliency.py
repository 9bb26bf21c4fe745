"""Where the network looked: one Explainer class per method (GradCAM, GradCAMPlusPlus, ScoreCAM), each called
`explainer(images, class_index) -> maps`, and heatmap overlays.

Grad-CAM is the textbook rule (channel weights = mean gradient of the class logit over the maps), compiled with
TensorFlow; the classifier's own forward pass computes it for the top class with the same function. Grad-CAM++
and Score-CAM come from tf-keras-vis. Logits are the output of the model's own `logits` layer. Every map stays at
the explained layer's resolution (7 x 7 at MobileNetV2's last block) and is resized once, by the overlay, to the
image it is drawn on.
"""
import functools
from abc import ABC, abstractmethod
from typing import ClassVar

import cv2
import keras
import numpy as np
import tensorflow as tf
from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
from tf_keras_vis.scorecam import Scorecam
from tf_keras_vis.utils.scores import CategoricalScore

from core.model.backbones import LOGITS_NAME, uncrop_map

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


class Explainer(ABC):
    """One saliency method for one model at one layer, called as pytorch-grad-cam's are: `explainer(images,
    class_index)` maps each (size, size, 3) model input to an (h, w) map in [0, 1] at the layer's resolution of where
    `class_index` is supported, placed on the whole film when the model crops its border. The model exposes its logits
    (core.model.backbones.expose_logits)."""
    title: ClassVar[str]  # the method's name in captions
    key: ClassVar[str]  # its name on the command line and in file names

    def __init__(self, model: keras.Model, layer: str, border_crop: float = 0.0):
        self.model, self.layer, self.border_crop = model, layer, border_crop

    def __call__(self, images: np.ndarray, class_index: int) -> np.ndarray:
        maps = self.maps(np.asarray(images, dtype=np.float32), class_index)
        return np.stack([uncrop_map(cam, self.border_crop) for cam in maps])

    @abstractmethod
    def maps(self, images: np.ndarray, class_index: int) -> np.ndarray:
        """(N, h, w) maps in [0, 1] over the network's field of view."""


class GradCAM(Explainer):
    """The textbook rule, compiled: channel weights = mean gradient of the class logit over the layer's maps."""
    title, key = "Grad-CAM", "gradcam"

    def __init__(self, model: keras.Model, layer: str, border_crop: float = 0.0):
        super().__init__(model, layer, border_crop)
        graph = keras.Model(model.input, [model.get_layer(layer).output, model.get_layer(LOGITS_NAME).output])

        def run(x: tf.Tensor, class_index: tf.Tensor) -> tf.Tensor:
            with tf.GradientTape() as tape:
                tape.watch(x)  # records the whole pass, so the gradient reaches frozen layers' maps
                maps, logits = graph(x, training=False)
                score = tf.reduce_sum(logits[:, class_index])  # films do not interact: each gets its own gradient
            return grad_cam(maps, tape.gradient(score, maps))

        # one trace for any number of films: each new shape would otherwise retrace, and warn in the terminal
        self._run = tf.function(run, input_signature=[tf.TensorSpec((None, *model.input.shape[1:]), tf.float32),
                                                      tf.TensorSpec((), tf.int32)])

    def maps(self, images: np.ndarray, class_index: int) -> np.ndarray:
        return self._run(tf.constant(images), tf.constant(class_index, tf.int32)).numpy()


class GradCAMPlusPlus(Explainer):
    """Grad-CAM++ (tf-keras-vis) on the class logit: weights from second and third derivatives."""
    title, key = "Grad-CAM++", "gradcam++"

    def __init__(self, model: keras.Model, layer: str, border_crop: float = 0.0):
        super().__init__(model, layer, border_crop)
        self._visualiser = GradcamPlusPlus(keras.Model(model.input, model.get_layer(LOGITS_NAME).output), clone=False)

    def maps(self, images: np.ndarray, class_index: int) -> np.ndarray:
        return _library_maps(self._visualiser(CategoricalScore([class_index] * len(images)), images, penultimate_layer=self.layer,
                                              seek_penultimate_conv_layer=False, expand_cam=False))


class ScoreCAM(Explainer):
    """Score-CAM (tf-keras-vis): the class probability when the film is masked by each of the layer's most active
    channels ("Faster Score-CAM"); re-runs the network, a few seconds on a CPU."""
    title, key = "Score-CAM", "scorecam"

    def __init__(self, model: keras.Model, layer: str, border_crop: float = 0.0):
        super().__init__(model, layer, border_crop)
        self._visualiser = Scorecam(_quiet_for_tf_keras_vis(model), clone=False)  # reads the softmax output, as the method's authors do

    def maps(self, images: np.ndarray, class_index: int) -> np.ndarray:
        """One film at a time: tf-keras-vis picks the most active channels over the whole batch, which would let
        one film's map depend on the films beside it."""
        return np.concatenate([_library_maps(self._visualiser(CategoricalScore([class_index]), film[None], penultimate_layer=self.layer,
                                                              seek_penultimate_conv_layer=False, expand_cam=False,
                                                              max_N=SCORECAM_MAX_CHANNELS)) for film in images])


def _quiet_for_tf_keras_vis(model: keras.Model) -> keras.Model:
    """The model as tf-keras-vis's Score-CAM calls it, without a word in the server's terminal: the library passes its
    input as a list and calls predict() with Keras's default progress bar, so this model takes a list of one input
    and predicts silently."""
    listed = keras.Model([model.input], model.output)
    listed.predict = functools.partial(listed.predict, verbose=0)
    return listed


def _library_maps(cams: np.ndarray | list) -> np.ndarray:
    """tf-keras-vis's maps as (N, h, w) float32 in [0, 1] (a flat map comes back as NaN)."""
    return np.nan_to_num(np.asarray(cams, dtype=np.float32)).clip(0.0, 1.0)


METHODS: tuple[type[Explainer], ...] = (GradCAM, GradCAMPlusPlus, ScoreCAM)


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
