"""The hot path: one compiled forward pass gives calibrated probabilities, pooled features and the top class's
Grad-CAM (core/serving/saliency.grad_cam), so that a prediction and its explanation cost one pass. Every other map
(another class, another layer, Grad-CAM++ or Score-CAM) comes from the classifier's explainers, one per method and
layer, built once and shared.
"""
import threading
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from core.classes import CLASS_NAMES, DISPLAY_NAMES
from core.imaging.preprocess import to_model_input
from core.model import abstention, calibration
from core.model.backbones import CAM_LAYER, FEATURES_NAME, LOGITS_NAME, uncrop_map
from core.model.bundle import ModelBundle, load_bundle
from core.model.questions import QuestionAnswer, answer_all
from core.paths import DEFAULT_MODEL_DIR
from core.serving.batching import InferenceQueue
from core.serving.saliency import Explainer, GradCAM, grad_cam


@dataclass
class Analysis:
    """What the model says about one image."""
    probabilities: np.ndarray  # calibrated, registry order, sums to 1
    status: str  # abstention.OK / INCONCLUSIVE / NOT_A_CHEST_XRAY
    ood_score: float  # distance from the training images (higher = stranger)
    cam: np.ndarray | None = field(default=None, repr=False)  # the top class's Grad-CAM in [0, 1], e.g. 7 x 7
    questions: dict[str, QuestionAnswer] | None = None  # the three answers; None for "not a chest X-ray" or an old card

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
        return {name: float(p) for name, p in zip(CLASS_NAMES, self.probabilities, strict=True)}

    def questions_json(self) -> dict[str, dict] | None:
        """{"covid19": {"probability", "answer"}, ...} in question order, or None."""
        return None if self.questions is None else {name: a.to_json() for name, a in self.questions.items()}


class Classifier:
    """A loaded model with its compiled inference functions, built once and shared by every session."""

    def __init__(self, bundle: ModelBundle):
        self.bundle, self.model, self.card, self.ood = bundle, bundle.model, bundle.card, bundle.ood
        self.input_size: int = self.card.input_size
        self.intensity: str = self.card.intensity
        self.temperature: float = self.card.calibration.temperature
        self.threshold: float = self.card.threshold
        self.cam_layer: str = CAM_LAYER[self.card.backbone]
        self._explainers: dict[tuple[type[Explainer], str], Explainer] = {}
        self._explainers_lock = threading.Lock()  # sessions run in threads; two first uses must not build two
        self.rules = None if self.card.questions is None else {name: v.rule for name, v in self.card.questions.items()}
        # conv maps for Grad-CAM, pooled features for the OOD check, and the logits
        self._graph = keras.Model(self.model.input, [self.model.get_layer(self.cam_layer).output,
                                                     self.model.get_layer(FEATURES_NAME).output, self.model.get_layer(LOGITS_NAME).output])
        # one trace each, for any batch size: a new input shape would otherwise retrace (and warn in the terminal)
        batch_of_inputs = [tf.TensorSpec((None, self.input_size, self.input_size, 3), tf.float32)]
        self._analyse = tf.function(self._forward_with_cam, input_signature=batch_of_inputs)
        self._batch = tf.function(self._forward, input_signature=batch_of_inputs)
        self.queue = InferenceQueue(self._analyse_batch)  # films from concurrent sessions share one pass

    @classmethod
    def from_dir(cls, directory: str | Path = DEFAULT_MODEL_DIR) -> "Classifier":
        return cls(load_bundle(directory))

    def _forward(self, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        _, features, logits = self._graph(x, training=False)
        return logits, features

    def _forward_with_cam(self, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            tape.watch(x)  # records the whole pass, so the gradient reaches frozen layers' maps
            maps, features, logits = self._graph(x, training=False)
            # each film's top logit: films do not interact (inference mode), so the sum's gradient is each one's own
            score = tf.reduce_sum(tf.reduce_max(logits, axis=1))
        return logits, features, grad_cam(maps, tape.gradient(score, maps))

    def _analyse_batch(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return tuple(output.numpy() for output in self._analyse(tf.constant(x, tf.float32)))

    def _decide(self, logits: np.ndarray, features: np.ndarray, threshold: float | None, cam: np.ndarray | None = None) -> Analysis:
        probabilities = calibration.apply_temperature(tf.nn.softmax(logits).numpy(), self.temperature)
        ood_score = float(self.ood.score(features))  # one film's features: one distance
        threshold = self.threshold if threshold is None else threshold
        status = abstention.decide_status(probabilities, threshold, ood_score <= self.ood.threshold)
        answers = None if status == abstention.NOT_A_CHEST_XRAY or self.rules is None else answer_all(self.rules, probabilities)
        return Analysis(probabilities, status, ood_score, cam, answers)

    def model_input(self, pixels: np.ndarray) -> np.ndarray:
        return to_model_input(pixels, self.input_size, self.intensity)

    def warm_up(self) -> None:
        """Trace and compile the hot path and the explainer's Grad-CAM on a blank image (about 3.5 s on 2 cores), so
        that neither the first upload nor the first other class explained pays for it."""
        blank = np.full((self.input_size, self.input_size), 128, dtype=np.uint8)
        self.explainer(GradCAM)(self.model_input(blank)[None], self.analyse(blank).top)

    def explainer(self, method: type[Explainer], layer: str | None = None) -> Explainer:
        """The model's one `method` explainer at `layer` (default: the last conv block), built on first use."""
        key = method, layer or self.cam_layer
        with self._explainers_lock:
            if key not in self._explainers:
                self._explainers[key] = method(self.model, key[1], self.card.border_crop)
            return self._explainers[key]

    def analyse(self, pixels: np.ndarray, threshold: float | None = None) -> Analysis:
        """Probabilities, status and the top class's Grad-CAM for one greyscale image, in one pass with the films of
        other sessions that arrive at the same moment (self.queue)."""
        logits, features, cam = self.queue.submit(self.model_input(pixels))
        return self._decide(logits, features, threshold, uncrop_map(cam, self.card.border_crop))

    def classify_inputs(self, x: np.ndarray, threshold: float | None = None) -> list[Analysis]:
        """Probabilities and status for a batch of model inputs (N, size, size, 3), without CAMs."""
        logits, features = self._batch(tf.constant(x, tf.float32))
        return [self._decide(row_logits, row_features, threshold)
                for row_logits, row_features in zip(logits.numpy(), features.numpy(), strict=True)]

    def classify_batch(self, images: list[np.ndarray], threshold: float | None = None, batch_size: int = 16) -> list[Analysis]:
        """Probabilities and status for many greyscale images, in batches, without CAMs."""
        results = []
        for start in range(0, len(images), batch_size):
            results += self.classify_inputs(np.stack([self.model_input(p) for p in images[start:start + batch_size]]), threshold)
        return results
