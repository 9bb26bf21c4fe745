"""How a head is trained: the recipe's settings, the set loss for coarse labels, sample weights, and one Keras fit."""
from dataclasses import asdict, dataclass

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from core.imaging.preprocess import CLAHE

BATCH_SIZE = 32
STEPS_PER_CALL = 32  # batches per compiled call: the same updates, without Python's overhead between small batches


@keras.saving.register_keras_serializable(package="chest_xray_lab")
def set_cross_entropy(allowed: tf.Tensor, probabilities: tf.Tensor) -> tf.Tensor:
    """-log of the probability given to the classes a label allows: the usual cross-entropy for a class label, and
    -log(P(bacterial) + P(viral)) for a pneumonia of unknown type. `allowed` holds 0/1 rows (classes.target_sets)."""
    return -ops.log(ops.sum(allowed * probabilities, axis=-1) + keras.backend.epsilon())


@keras.saving.register_keras_serializable(package="chest_xray_lab")
def set_accuracy(allowed: tf.Tensor, probabilities: tf.Tensor) -> tf.Tensor:
    """1 where the top class is one the label allows."""
    top = ops.argmax(probabilities, axis=-1)
    return ops.take_along_axis(allowed, ops.expand_dims(top, -1), axis=-1)[:, 0]


def balanced_weights(labels: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Sample weights (mean 1): every label weighs the same in total, and so does each source within a label."""
    weights = np.zeros(len(labels))
    for label in np.unique(labels):
        in_label = labels == label
        cells = np.unique(sources[in_label])
        for source in cells:
            cell = in_label & (sources == source)
            weights[cell] = 1.0 / (len(cells) * cell.sum())
    return weights * len(labels) / weights.sum()


class EpochPrinter(keras.callbacks.Callback):
    """One line per epoch: which fit, which epoch, and the loss and accuracy so far."""

    def __init__(self, stage: str, epochs: int):
        super().__init__()
        self.stage, self.epochs = stage, epochs

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        shown = " ".join(f"{k}={v:.4f}" for k, v in (logs or {}).items())
        print(f"{self.stage} epoch {epoch + 1}/{self.epochs} {shown}", flush=True)


def fit_model(model: keras.Model, x: np.ndarray, targets: np.ndarray, weights: np.ndarray, epochs: int, stage: str,
              seed: int, validation: tuple[np.ndarray, np.ndarray] | None = None, mirror: bool = False) -> dict:
    """Train with the set loss, seeded; returns the loss and accuracy of every epoch."""
    keras.utils.set_random_seed(seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=set_cross_entropy, steps_per_execution=STEPS_PER_CALL,
                  metrics=[keras.metrics.MeanMetricWrapper(set_accuracy, name="accuracy")])
    data = tf.data.Dataset.from_tensor_slices((x, targets, weights.astype(np.float32))).shuffle(len(x), seed=seed)
    if mirror:  # mirrored X-rays: heart side flips, but texture and opacity patterns stay
        data = data.map(lambda image, target, weight: (tf.image.random_flip_left_right(image, seed=seed), target, weight))
    history = model.fit(data.batch(BATCH_SIZE), epochs=epochs, validation_data=validation, verbose=0, shuffle=False,
                        callbacks=[EpochPrinter(stage, epochs)])
    return {k: [float(v) for v in values] for k, values in history.history.items()}


@dataclass(frozen=True)
class Recipe:
    """How a head is trained on the features; scripts/recipe_search.py compares recipes across sources."""
    restyled_copies: int = 2  # extra copies of each image, restyled as another source might make it (frozen backbones)
    balanced: bool = True  # each label weighs the same, and each source within a label
    coarse_label: bool = True  # train on pneumonia_unspecified with the set loss, else leave those images out
    intensity: str = CLAHE  # per-image intensity normalisation before the network (core/imaging/preprocess.py)
    border_crop: float = 0.0  # share of each side the model crops away first (core/model/backbones.py)

    def describe(self) -> dict:
        return {
            "head": "standardised pooled features -> dropout 0.2 -> L2 (0.01) softmax; Adam 1e-3, batch 32",
            "loss": "cross-entropy; a coarse label (pneumonia_unspecified) rewards P(bacterial) + P(viral)"
                    if self.coarse_label else "cross-entropy; images with a coarse label left out",
            "sample_weights": "each label weighs the same, and each source within a label" if self.balanced else "none",
            "feature_copies": "plain, mirrored"
            + (f", {self.restyled_copies} restyled as by another source" if self.restyled_copies else ""),
            "intensity_normalisation": "CLAHE on each image before the network" if self.intensity == CLAHE else self.intensity,
            "border": f"the model crops {self.border_crop:.0%} off each side before the backbone" if self.border_crop
                      else "the whole film",
            **asdict(self),
        }
