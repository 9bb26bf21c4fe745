"""Scratch versus transfer on the same seeded split: a small CNN trained from nothing against frozen ImageNet features.

Transfer: MobileNetV2 (ImageNet weights, frozen) turns each X-ray into pooled features, and a logistic regression
is fitted on the training images' features. Scratch: the live-training CNN on the same training images at low
resolution, a fixed number of epochs, no early stopping. Both are scored once on the same held-out test images.
Every real step (an X-ray read, a feature batch, an epoch) is reported, and a report may stop the work (core/background).
"""
import os
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from scipy.stats import binomtest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from core.classes import CLASSES
from core.data.folders import labels_of, load_images, scan_dataset, stratified_holdout
from core.evaluation.metrics import classification_summary
from core.model.backbones import build_feature_extractor
from core.teaching.background import Report, training_slot
from core.teaching.live_training import (
    PREDICT_BATCH,
    TEST_FRACTION,
    LabelledArrays,
    TrainingConfig,
    build_small_cnn,
    downsample,
    make_optimizer,
    shuffled_batches,
)

TRANSFER_SIZE = 224  # MobileNetV2's ImageNet input size
FEATURE_BATCH = 32
STAGES = 3  # reading, feature extraction, scratch training


def _ignore(text: str, done: int, total: int) -> None:
    """The report used when nobody watches."""


class StepReport(keras.callbacks.Callback):
    """Reports each prediction batch or training epoch as `label.format(step, total)`; checks for a stop every batch."""

    def __init__(self, report: Report, label: str, total: int):
        super().__init__()
        self.report, self.label, self.total, self.done = report, label, total, 0

    def _tell(self, step: int) -> None:
        self.report(self.label.format(step, self.total), self.done, self.total)

    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.done = batch + 1
        self._tell(self.done)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._tell(min(self.done + 1, self.total))  # the epoch under way

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.done = epoch + 1
        self._tell(self.done)


class WeightsUnavailableError(RuntimeError):
    """MobileNetV2's ImageNet weights are neither in the Keras cache nor downloadable; the message says where to put them."""


def imagenet_extractor(img_size: int) -> keras.Model:
    """Frozen ImageNet MobileNetV2 features; Keras takes the weights from its cache or downloads them."""
    try:
        return build_feature_extractor("mobilenet_v2", img_size, "imagenet")
    except Exception as err:  # Keras raises a bare Exception when the download fails
        cache = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"
        raise WeightsUnavailableError(
            f"MobileNetV2's ImageNet weights could not be loaded: they are not in the Keras cache ({cache}) and "
            f"the download failed ({str(err).splitlines()[0][:200]}). Copy "
            "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5 into that folder, or connect to the internet."
        ) from err


@dataclass(frozen=True)
class ApproachResult:
    name: str
    accuracy: float
    accuracy_ci: tuple[float, float]  # Wilson 95 % interval over the test images
    macro_f1: float
    confusion: np.ndarray  # rows: true class
    seconds: float  # fitting time, feature extraction included for transfer


@dataclass(frozen=True)
class Comparison:
    n_train: int
    n_test: int
    majority_accuracy: float  # always answering the commonest training class
    results: tuple[ApproachResult, ...]


def _score(name: str, y_true: np.ndarray, probabilities: np.ndarray, seconds: float) -> ApproachResult:
    summary = classification_summary(y_true, probabilities)
    correct = int(round(summary["accuracy"] * summary["n"]))
    ci = binomtest(correct, summary["n"]).proportion_ci(confidence_level=0.95, method="wilson")
    return ApproachResult(name, summary["accuracy"], (float(ci.low), float(ci.high)), summary["macro_f1"],
                          np.array(summary["confusion_matrix"]), seconds)


def transfer_probabilities(images: np.ndarray, labels: np.ndarray, train: np.ndarray, test: np.ndarray,
                           seed: int, report: Report = _ignore) -> np.ndarray:
    """Frozen MobileNetV2 features + logistic regression; class probabilities of the test images."""
    batches = -(-len(images) // FEATURE_BATCH)
    report(f"Step 2 of {STAGES} · loading MobileNetV2 and its ImageNet weights", 0, batches)
    extractor = imagenet_extractor(images.shape[1])
    label = f"Step 2 of {STAGES} · MobileNetV2 turns the X-rays into features: batch {{}} of {{}}"
    features = extractor.predict(images, batch_size=FEATURE_BATCH, verbose=0, callbacks=[StepReport(report, label, batches)])
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    classifier.fit(features[train], labels[train])
    probabilities = np.zeros((len(test), len(CLASSES)))
    probabilities[:, classifier.classes_] = classifier.predict_proba(features[test])
    return probabilities


def scratch_probabilities(data: LabelledArrays, train: np.ndarray, test: np.ndarray, config: TrainingConfig,
                          report: Report = _ignore) -> np.ndarray:
    """A small CNN trained from random weights on the training images; class probabilities of the test images."""
    model = build_small_cnn(data.x.shape[1:], len(data.class_names), config)
    model.compile(optimizer=make_optimizer(config), loss="sparse_categorical_crossentropy")
    epochs = StepReport(report, f"Step 3 of {STAGES} · training the small CNN from scratch: epoch {{}} of {{}}", config.epochs)
    batches = shuffled_batches(data.x[train], data.y[train], config.batch_size, config.seed)
    model.fit(batches, epochs=config.epochs, shuffle=False, verbose=0, callbacks=[epochs])
    return model.predict(data.x[test], batch_size=PREDICT_BATCH, verbose=0)


def compare(root: str, scratch_size: int, config: TrainingConfig, report: Report = _ignore) -> Comparison:
    """Load the X-rays once, split them (seeded, stratified), and score both approaches on the same test images.

    `report` hears of every step and may raise core.teaching.background.Stopped to end the work there.
    """
    samples = scan_dataset(root)
    labels = labels_of(samples)
    train, test = stratified_holdout(labels, TEST_FRACTION, config.seed)
    images = load_images(samples, TRANSFER_SIZE,
                         lambda done, total: report(f"Step 1 of {STAGES} · reading X-ray {done} of {total}", done, total))

    small = LabelledArrays("", downsample(images, scratch_size).astype(np.float32), labels, tuple(c.name for c in CLASSES))
    with training_slot():
        start = time.perf_counter()
        transfer = transfer_probabilities(images, labels, train, test, config.seed, report)
        transfer_seconds = time.perf_counter() - start
        start = time.perf_counter()
        scratch = scratch_probabilities(small, train, test, config, report)
        scratch_seconds = time.perf_counter() - start

    majority = np.bincount(labels[train]).argmax()
    return Comparison(len(train), len(test), float(np.mean(labels[test] == majority)), (
        _score(f"Small CNN from scratch ({scratch_size} px, {config.epochs} epochs)", labels[test], scratch, scratch_seconds),
        _score(f"Frozen ImageNet MobileNetV2 + logistic regression ({TRANSFER_SIZE} px)", labels[test], transfer, transfer_seconds),
    ))
