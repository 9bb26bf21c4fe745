"""Scratch versus transfer on the same seeded split: a small CNN trained from nothing against frozen ImageNet features.

Transfer: MobileNetV2 (ImageNet weights, frozen) turns each X-ray into pooled features, and a logistic regression
is fitted on the training images' features. Scratch: the live-training CNN on the same training images at low
resolution, a fixed number of epochs, no early stopping. Both are scored once on the same held-out test images.
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

from core.backbones import build_feature_extractor
from core.classes import CLASSES
from core.dataset import Progress, labels_of, load_images, scan_dataset, stratified_holdout
from core.live_training import TEST_FRACTION, LabelledArrays, TrainingConfig, build_small_cnn, downsample, make_optimizer
from core.metrics import classification_summary

TRANSFER_SIZE = 224  # MobileNetV2's ImageNet input size


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
                           seed: int) -> np.ndarray:
    """Frozen MobileNetV2 features + logistic regression; class probabilities of the test images."""
    extractor = imagenet_extractor(images.shape[1])
    features = extractor.predict(images, batch_size=32, verbose=0)
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    classifier.fit(features[train], labels[train])
    probabilities = np.zeros((len(test), len(CLASSES)))
    probabilities[:, classifier.classes_] = classifier.predict_proba(features[test])
    return probabilities


def scratch_probabilities(data: LabelledArrays, train: np.ndarray, test: np.ndarray, config: TrainingConfig) -> np.ndarray:
    """A small CNN trained from random weights on the training images; class probabilities of the test images."""
    keras.utils.set_random_seed(config.seed)
    model = build_small_cnn(data.x.shape[1:], len(data.class_names), config)
    model.compile(optimizer=make_optimizer(config), loss="sparse_categorical_crossentropy")
    model.fit(data.x[train], data.y[train], batch_size=config.batch_size, epochs=config.epochs, verbose=0)
    return model.predict(data.x[test], batch_size=256, verbose=0)


def compare(root: str, scratch_size: int, config: TrainingConfig, progress: Progress | None = None) -> Comparison:
    """Load the X-rays once, split them (seeded, stratified), and score both approaches on the same test images."""
    samples = scan_dataset(root)
    labels = labels_of(samples)
    train, test = stratified_holdout(labels, TEST_FRACTION, config.seed)
    images = load_images(samples, TRANSFER_SIZE, progress)

    start = time.perf_counter()
    transfer = transfer_probabilities(images, labels, train, test, config.seed)
    transfer_seconds = time.perf_counter() - start

    small = LabelledArrays("", downsample(images, scratch_size).astype(np.float32), labels, tuple(c.name for c in CLASSES))
    start = time.perf_counter()
    scratch = scratch_probabilities(small, train, test, config)
    scratch_seconds = time.perf_counter() - start

    majority = np.bincount(labels[train]).argmax()
    return Comparison(len(train), len(test), float(np.mean(labels[test] == majority)), (
        _score(f"Small CNN from scratch ({scratch_size} px, {config.epochs} epochs)", labels[test], scratch, scratch_seconds),
        _score(f"Frozen ImageNet MobileNetV2 + logistic regression ({TRANSFER_SIZE} px)", labels[test], transfer, transfer_seconds),
    ))
