"""Scratch versus transfer on the same seeded split: a small CNN trained from nothing against frozen ImageNet features.

Transfer: MobileNetV2 (ImageNet weights, frozen) turns each X-ray into pooled features, and a logistic regression
is fitted on the training images' features. Scratch: the live-training CNN on the same training images at low
resolution, a fixed number of epochs, no early stopping. Both are scored once on the same held-out test images.
Every real step (an X-ray read, a feature batch, an epoch) is reported, and a report may stop the work (core/background);
a page runs it as a queued job, so it waits for a training slot like any other training.
"""
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import keras
import numpy as np
import tensorflow as tf
from scipy.stats import binomtest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from core.data.folders import stratified_holdout
from core.model.backbones import build_feature_extractor
from core.teaching.background import Report
from core.teaching.live_training import (
    PREDICT_BATCH,
    TEST_FRACTION,
    LabelledArrays,
    TrainingConfig,
    build_small_cnn,
    make_optimizer,
    shuffled_batches,
    xray_arrays,
    zip_xray_arrays,
)
from core.teaching.phantom_task import phantom_arrays

TRANSFER_SIZE = 224  # MobileNetV2's ImageNet input size
FEATURE_BATCH = 32
STAGES = 3  # reading, feature extraction, scratch training
FilmReader = Callable[[Report], LabelledArrays]  # the films at TRANSFER_SIZE, reporting each one read or drawn


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
    class_names: tuple[str, ...]


def folder_films(root: str) -> FilmReader:
    """The X-rays of a folder-per-class folder."""
    return lambda report: xray_arrays(root, TRANSFER_SIZE, lambda done, total: report(
        f"Step 1 of {STAGES} · reading X-ray {done} of {total}", done, total))


def zip_films(data: bytes) -> FilmReader:
    """The X-rays of a folder-per-class ZIP held in memory (core/data/zip_upload's reader and limits)."""
    return lambda report: zip_xray_arrays(data, TRANSFER_SIZE, lambda done, total: report(
        f"Step 1 of {STAGES} · reading X-ray {done} of {total} from your ZIP", done, total))


def phantom_films(seed: int = 0) -> FilmReader:
    """The generated phantom task (core/teaching/phantom_task): no data needed."""
    return lambda report: phantom_arrays(TRANSFER_SIZE, seed, lambda done, total: report(
        f"Step 1 of {STAGES} · drawing phantom film {done} of {total}", done, total))


def shrink(x: np.ndarray, size: int) -> np.ndarray:
    """(N, S, S, 1) greyscale films -> (N, size, size, 1), averaging pixels as the X-ray loaders do."""
    return np.stack([cv2.resize(im[..., 0], (size, size), interpolation=cv2.INTER_AREA) for im in x])[..., None]


def _score(name: str, y_true: np.ndarray, probabilities: np.ndarray, seconds: float) -> ApproachResult:
    labels = list(range(probabilities.shape[1]))
    predicted = probabilities.argmax(axis=1)
    accuracy = float(accuracy_score(y_true, predicted))
    ci = binomtest(int(np.sum(predicted == y_true)), len(y_true)).proportion_ci(confidence_level=0.95, method="wilson")
    return ApproachResult(name, accuracy, (float(ci.low), float(ci.high)),
                          float(f1_score(y_true, predicted, labels=labels, average="macro", zero_division=0)),
                          confusion_matrix(y_true, predicted, labels=labels), seconds)


def transfer_probabilities(films: LabelledArrays, train: np.ndarray, test: np.ndarray,
                           seed: int, report: Report = _ignore) -> np.ndarray:
    """Frozen MobileNetV2 features + logistic regression; class probabilities of the test images."""
    batches = -(-len(films.x) // FEATURE_BATCH)
    report(f"Step 2 of {STAGES} · loading MobileNetV2 and its ImageNet weights", 0, batches)
    extractor = imagenet_extractor(films.x.shape[1])
    label = f"Step 2 of {STAGES} · MobileNetV2 turns the X-rays into features: batch {{}} of {{}}"
    pixels = tf.data.Dataset.from_tensor_slices(films.x).batch(FEATURE_BATCH).map(
        lambda x: tf.repeat(x * 255.0, 3, axis=-1))  # grey in [0, 1] -> the RGB 0-255 pixels the extractor reads
    features = extractor.predict(pixels, verbose=0, callbacks=[StepReport(report, label, batches)])
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    classifier.fit(features[train], films.y[train])
    probabilities = np.zeros((len(test), len(films.class_names)))
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


def compare(read_films: FilmReader, scratch_size: int, config: TrainingConfig, report: Report = _ignore) -> Comparison:
    """Read the films once, split them (seeded, stratified), and score both approaches on the same test images.

    `report` hears of every step and may raise core.teaching.background.Stopped to end the work there.
    """
    films = read_films(report)
    labels = films.y
    train, test = stratified_holdout(labels, TEST_FRACTION, config.seed)
    small = LabelledArrays("", shrink(films.x, scratch_size), labels, films.class_names)
    start = time.perf_counter()
    transfer = transfer_probabilities(films, train, test, config.seed, report)
    transfer_seconds = time.perf_counter() - start
    start = time.perf_counter()
    scratch = scratch_probabilities(small, train, test, config, report)
    scratch_seconds = time.perf_counter() - start

    majority = np.bincount(labels[train]).argmax()
    return Comparison(len(train), len(test), float(np.mean(labels[test] == majority)), (
        _score(f"Small CNN from scratch ({scratch_size} px, {config.epochs} epochs)", labels[test], scratch, scratch_seconds),
        _score(f"Frozen ImageNet MobileNetV2 + logistic regression ({TRANSFER_SIZE} px)", labels[test], transfer, transfer_seconds),
    ), films.class_names)
