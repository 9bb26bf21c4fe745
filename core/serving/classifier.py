"""The hot path: one compiled forward pass gives calibrated probabilities, pooled features and a Grad-CAM map.

Grad-CAM here is the textbook rule (channel weights = mean gradient of the class logit over the map), compiled
with the forward pass so that a prediction and its explanation cost one pass. core/serving/saliency.py offers the
same and more methods through tf-keras-vis, and the tests check that both agree.
"""
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from scipy.ndimage import zoom

from core.classes import CLASS_NAMES, DISPLAY_NAMES
from core.imaging.preprocess import NO_NORMALISATION, to_model_input
from core.model import abstention, calibration
from core.model.backbones import CAM_LAYER, FEATURES_NAME
from core.model.bundle import DEFAULT_MODEL_DIR, LoadedModel, load_model
from core.model.ood import OodDetector


@dataclass
class Analysis:
    """What the model says about one image."""
    probabilities: np.ndarray  # calibrated, registry order, sums to 1
    status: str  # abstention.OK / INCONCLUSIVE / NOT_A_CHEST_XRAY
    ood_score: float  # distance from the training images (higher = stranger)
    cam: np.ndarray | None = field(default=None, repr=False)  # (size, size) float in [0, 1], for the explained class
    explained_class: int | None = None

    @property
    def top(self) -> int:
        return int(np.argmax(self.probabilities))

    @property
    def label(self) -> str:
        return CLASS_NAMES[self.top]

    @property
    def display_label(self) -> str:
        return DISPLAY_NAMES[self.top]

    def probability_dict(self) -> dict[str, float]:
        return {name: float(p) for name, p in zip(CLASS_NAMES, self.probabilities)}


def _normalise(cam: tf.Tensor) -> tf.Tensor:
    low, high = tf.reduce_min(cam), tf.reduce_max(cam)
    return (cam - low) / (high - low + keras.backend.epsilon())


def _linear_upsampling(n: int, size: int) -> tf.Tensor:
    """(size, n) matrix of scipy's order-1 zoom from n to size points (corner-aligned): the map tf-keras-vis uses."""
    return tf.constant(zoom(np.eye(n, dtype=np.float32), (size / n, 1), order=1))


class Classifier:
    """A loaded model with its compiled inference functions, built once and shared by every session."""

    def __init__(self, loaded: LoadedModel):
        self.loaded, self.model, self.card = loaded, loaded.model, loaded.card
        self.input_size: int = self.card["input_size"]
        self.intensity: str = self.card.get("intensity", NO_NORMALISATION)  # cards before intensity normalisation had none
        self.temperature: float = self.card.get("calibration", {}).get("temperature", 1.0)
        self.threshold: float = self.card["threshold"]
        self.cam_layer: str = CAM_LAYER[self.card["backbone"]]
        self.ood = OodDetector.load(loaded.directory, self.card)
        dense = self.model.get_layer("probabilities")
        self._kernel, self._bias = dense.kernel, dense.bias
        # conv maps for Grad-CAM, pooled features for the OOD check, and the dense layer's input for the logits
        self._graph = keras.Model(self.model.input, [self.model.get_layer(self.cam_layer).output,
                                                     self.model.get_layer(FEATURES_NAME).output, dense.input])
        rows, columns = self.model.get_layer(self.cam_layer).output.shape[1:3]
        self._upsample_rows = _linear_upsampling(rows, self.input_size)
        self._upsample_columns = tf.transpose(_linear_upsampling(columns, self.input_size))
        self._analyse = tf.function(self._forward_with_cam, reduce_retracing=True)
        self._batch = tf.function(self._forward, reduce_retracing=True)

    @classmethod
    def from_dir(cls, directory: str | Path = DEFAULT_MODEL_DIR) -> "Classifier":
        return cls(load_model(directory))

    def _forward(self, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        _, features, head_input = self._graph(x, training=False)
        return tf.matmul(head_input, self._kernel) + self._bias, features

    def _forward_with_cam(self, x: tf.Tensor, class_index: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            tape.watch(x)  # records the forward pass so the gradient can reach the conv maps
            maps, features, head_input = self._graph(x, training=False)
            logits = tf.matmul(head_input, self._kernel) + self._bias
            target = tf.where(class_index < 0, tf.argmax(logits[0], output_type=tf.int32), class_index)
            score = logits[0, target]
        weights = tf.reduce_mean(tape.gradient(score, maps), axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(maps * weights, axis=-1))[0]
        cam = self._upsample_rows @ cam @ self._upsample_columns  # corner-aligned bilinear, as tf-keras-vis does
        return logits[0], features[0], _normalise(cam)

    def _decide(self, logits: np.ndarray, features: np.ndarray, threshold: float | None) -> tuple[np.ndarray, str, float]:
        probabilities = calibration.apply_temperature(tf.nn.softmax(logits).numpy(), self.temperature)
        ood_score = self.ood.score(features)
        threshold = self.threshold if threshold is None else threshold
        status = abstention.decide_status(probabilities, threshold, ood_score <= self.ood.threshold)
        return probabilities, status, ood_score

    def model_input(self, pixels: np.ndarray) -> np.ndarray:
        return to_model_input(pixels, self.input_size, self.intensity)

    def analyse(self, pixels: np.ndarray, explain_class: int | None = None, threshold: float | None = None) -> Analysis:
        """Probabilities, status and Grad-CAM (of explain_class, default the top class) for one greyscale image."""
        x = self.model_input(pixels)[None]
        target = tf.constant(-1 if explain_class is None else explain_class, dtype=tf.int32)
        logits, features, cam = self._analyse(tf.constant(x), target)
        probabilities, status, ood_score = self._decide(logits.numpy(), features.numpy(), threshold)
        explained = int(np.argmax(logits)) if explain_class is None else explain_class
        return Analysis(probabilities, status, ood_score, cam.numpy(), explained)

    def classify_inputs(self, x: np.ndarray, threshold: float | None = None) -> list[Analysis]:
        """Probabilities and status for a batch of model inputs (N, size, size, 3), without CAMs."""
        logits, features = self._batch(tf.constant(x))
        return [Analysis(*self._decide(row_logits, row_features, threshold))
                for row_logits, row_features in zip(logits.numpy(), features.numpy())]

    def classify_batch(self, images: list[np.ndarray], threshold: float | None = None, batch_size: int = 16) -> list[Analysis]:
        """Probabilities and status for many greyscale images, in batches, without CAMs."""
        results = []
        for start in range(0, len(images), batch_size):
            results += self.classify_inputs(np.stack([self.model_input(p) for p in images[start:start + batch_size]]), threshold)
        return results
