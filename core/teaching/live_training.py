"""Train a small CNN while a page watches: data sets, the network, a per-epoch callback, and a background run.

Data are split once, seeded and stratified: a test set that training never sees, and a validation set that the
curves show each epoch. Nothing here imports streamlit; a page runs LiveTraining as a background job, polls its
curves, and may pause, resume or stop it. A finished network can be tried on any image and handed out as a .keras file.
"""
import contextlib
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import keras
import numpy as np
import tensorflow as tf
from sklearn.datasets import load_digits
from sklearn.metrics import confusion_matrix

from core.classes import CLASSES, DISPLAY_NAMES
from core.data.folders import DatasetError, Progress, labels_of, load_images, scan_dataset, stratified_holdout
from core.data.zip_upload import read_labelled_zip
from core.imaging.preprocess import resize_for_model
from core.teaching.background import Report, Stopped

ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu")  # Keras activation names
OPTIMIZERS: dict[str, type[keras.optimizers.Optimizer]] = {
    "adam": keras.optimizers.Adam,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
}
TEST_FRACTION = 0.2  # of all images, never used for training or for the curves
VALIDATION_FRACTION = 0.2  # of the rest, shown as the validation curve
MIN_PER_CLASS = 5  # enough for a stratified test and validation split
PREDICT_BATCH = 256  # images per forward pass when scoring held-out images
PACE_TICK_S = 0.1  # how often a slowed-down epoch checks for Pause and Stop while it waits
MISTAKES_SHOWN = 6  # validation images the network got wrong, shown after each epoch


@dataclass(frozen=True)
class LabelledArrays:
    """Greyscale images (N, H, W, 1) in [0, 1], integer labels, and the name of every label."""
    name: str
    x: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]


def digits_arrays() -> LabelledArrays:
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, values 0-16)."""
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]
    return LabelledArrays("Digits 8×8", x, digits.target.astype(int), tuple(str(d) for d in range(10)))


def downsample(images: np.ndarray, size: int) -> np.ndarray:
    """(N, S, S, 3) 0-255 model inputs -> (N, size, size, 1) greyscale in [0, 1]."""
    return np.stack([cv2.resize(im[..., 0], (size, size), interpolation=cv2.INTER_AREA) for im in images])[..., None] / 255.0


def xray_arrays(root: str | Path, size: int = 64, progress: Progress | None = None) -> LabelledArrays:
    """A folder-per-class X-ray set at low resolution; DatasetError says what is wrong with the folder."""
    samples = scan_dataset(root)
    labels = labels_of(samples)
    _check_counts(labels, str(root))
    images = load_images(samples, size, progress)
    return LabelledArrays(f"Chest X-rays {size}×{size}", downsample(images, size).astype(np.float32), labels, DISPLAY_NAMES)


def _check_counts(labels: np.ndarray, where: str) -> None:
    counts = np.bincount(labels, minlength=len(CLASSES))
    too_few = [f"{c.name} ({n})" for c, n in zip(CLASSES, counts, strict=True) if 0 < n < MIN_PER_CLASS]
    if too_few:
        raise DatasetError(f"{where}: every class folder needs at least {MIN_PER_CLASS} images; too few in {', '.join(too_few)}")
    if np.count_nonzero(counts) < 2:
        raise DatasetError(f"{where}: a network needs images of at least two classes to learn from")


def zip_xray_arrays(data: bytes, size: int = 64, progress: Progress | None = None) -> LabelledArrays:
    """A folder-per-class ZIP of X-rays, read in memory by the same reader and limits as Model performance, at low
    resolution as xray_arrays reads a folder; DatasetError names what is wrong (a ZipDatasetError for the archive)."""
    files = read_labelled_zip(data)
    images, labels, unreadable = [], [], []
    for i, item in enumerate(files):
        if item.pixels is None:
            unreadable.append(item.error)
        else:
            images.append(resize_for_model(item.pixels, size).astype(np.float32) / 255.0)
            labels.append(item.label)
        if progress:
            progress(i + 1, len(files))
    if unreadable:
        raise DatasetError("some images in the ZIP could not be read:\n" + "\n".join(unreadable))
    _check_counts(np.array(labels, dtype=int), "the ZIP")
    return LabelledArrays(f"Chest X-rays {size}×{size} (your ZIP)", np.stack(images)[..., None], np.array(labels), DISPLAY_NAMES)


@dataclass(frozen=True)
class TrainingConfig:
    """What a student chooses before pressing Train."""
    epochs: int = 10
    batch_size: int = 32
    filters: tuple[int, ...] = (8, 16)  # one conv layer per entry
    activation: str = "relu"
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    dropout: float = 0.25
    seed: int = 42


def build_small_cnn(input_shape: tuple[int, ...], num_classes: int, config: TrainingConfig) -> keras.Model:
    """Conv -> 2x2 max pool per entry of config.filters, then Flatten, Dropout and a softmax Dense layer.

    Every random layer draws from its own seed, derived from config.seed: two runs with the same seed start from the
    same weights, and no run reseeds the process (several sessions train at once on one server)."""
    if config.activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {config.activation!r}")
    seeds = iter(np.random.default_rng(config.seed).integers(0, 2**31, size=len(config.filters) + 2).tolist())
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for i, filters in enumerate(config.filters):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation=config.activation, name=f"conv{i + 1}",
                                kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)))(x)
        if x.shape[1] >= 2 and x.shape[2] >= 2:
            x = keras.layers.MaxPooling2D(name=f"pool{i + 1}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dropout(config.dropout, seed=next(seeds), name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities",
                                 kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)))(x)
    return keras.Model(inputs, outputs, name="small_cnn")


def make_optimizer(config: TrainingConfig) -> keras.optimizers.Optimizer:
    if config.optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {config.optimizer!r}")
    return OPTIMIZERS[config.optimizer](learning_rate=config.learning_rate)


History = dict[str, list[float]]


def shuffled_batches(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int) -> tf.data.Dataset:
    """Training batches in an order drawn afresh each epoch from this run's own seed (not the process's)."""
    return tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(batch_size)


@dataclass(frozen=True)
class EpochCheck:
    """The validation images after an epoch: true against predicted, and the mistakes the network was surest of."""
    epoch: int
    confusion: np.ndarray  # rows: true class, columns: predicted
    mistakes: tuple[tuple[np.ndarray, int, int, float], ...]  # (image, true class, predicted class, its probability)


def epoch_check(model: keras.Model, x: np.ndarray, y: np.ndarray, epoch: int) -> EpochCheck:
    """How `model` does on the images `x` with labels `y` now; at most MISTAKES_SHOWN of its surest mistakes."""
    probabilities = model.predict(x, batch_size=PREDICT_BATCH, verbose=0)
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != y)
    surest = wrong[np.argsort(-probabilities[wrong, predicted[wrong]], kind="stable")][:MISTAKES_SHOWN]
    return EpochCheck(epoch, confusion_matrix(y, predicted, labels=list(range(probabilities.shape[1]))),
                      tuple((x[i], int(y[i]), int(predicted[i]), float(probabilities[i, predicted[i]])) for i in surest))


class LiveProgress(keras.callbacks.Callback):
    """Hands the history so far to `on_epoch` after every epoch, and stops training once `should_stop()` is true.

    `should_stop` is asked after every batch and may block (a paused run); `held_s` adds up the time it took. An epoch
    that ends sooner than `min_epoch_s()` waits out the rest (slow motion, still answering Pause and Stop), and with
    `validation` images `on_check` hears how the network does on them after each epoch.
    """

    def __init__(self, on_epoch: Callable[[History], None] | None = None, should_stop: Callable[[], bool] | None = None,
                 min_epoch_s: Callable[[], float] = lambda: 0.0, validation: tuple[np.ndarray, np.ndarray] | None = None,
                 on_check: Callable[[EpochCheck], None] | None = None):
        super().__init__()
        self.on_epoch, self.should_stop, self.min_epoch_s = on_epoch, should_stop, min_epoch_s
        self.validation, self.on_check = validation, on_check
        self.history: History = {}
        self.held_s = 0.0
        self._epoch_start = time.perf_counter()

    def _check_stop(self) -> None:
        if self.should_stop:
            start = time.perf_counter()
            if self.should_stop():
                self.model.stop_training = True  # Keras ends the epoch after this batch
            self.held_s += time.perf_counter() - start

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._check_stop()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        if self.on_check and self.validation is not None:
            self.on_check(epoch_check(self.model, *self.validation, epoch + 1))
        if self.on_epoch:
            self.on_epoch({k: list(v) for k, v in self.history.items()})
        self._hold_for_pace()
        self._check_stop()

    def _hold_for_pace(self) -> None:
        """Slow motion: wait until the epoch has lasted `min_epoch_s()`, checking for Pause and Stop as it waits."""
        while not self.model.stop_training and (left := self._epoch_start + self.min_epoch_s() - time.perf_counter()) > 0:
            start = time.perf_counter()
            time.sleep(min(PACE_TICK_S, left))
            self.held_s += time.perf_counter() - start
            self._check_stop()


@dataclass
class RunResult:
    """One finished (or stopped) training run and how it did on the untouched test images."""
    data_name: str
    config: TrainingConfig
    history: History
    test_accuracy: float
    confusion: np.ndarray  # rows: true class, columns: predicted
    class_names: tuple[str, ...]
    parameters: int
    seconds: float  # training time, pauses left out
    stopped: bool
    n_train: int
    n_test: int
    model: keras.Model = field(repr=False, compare=False)
    test_x: np.ndarray = field(repr=False, compare=False)  # the held-out images, to try the network on
    test_y: np.ndarray = field(repr=False, compare=False)

    @property
    def epochs_run(self) -> int:
        return len(self.history.get("loss", []))


def train_live(data: LabelledArrays, config: TrainingConfig, on_epoch: Callable[[History], None] | None = None,
               should_stop: Callable[[], bool] | None = None, min_epoch_s: Callable[[], float] = lambda: 0.0,
               on_check: Callable[[EpochCheck], None] | None = None) -> RunResult:
    """Fit a small CNN on a seeded split of `data`, reporting each epoch (and, to `on_check`, the validation images'
    confusion and mistakes), no epoch shorter than `min_epoch_s()`; test accuracy on the held-out images."""
    rest, test = stratified_holdout(data.y, TEST_FRACTION, config.seed)
    fit_part, val_part = stratified_holdout(data.y[rest], VALIDATION_FRACTION, config.seed)
    train, val = rest[fit_part], rest[val_part]
    model = build_small_cnn(data.x.shape[1:], len(data.class_names), config)
    model.compile(optimizer=make_optimizer(config), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    progress = LiveProgress(on_epoch, should_stop, min_epoch_s, (data.x[val], data.y[val]), on_check)
    start = time.perf_counter()
    model.fit(shuffled_batches(data.x[train], data.y[train], config.batch_size, config.seed), epochs=config.epochs, shuffle=False,
              validation_data=(data.x[val], data.y[val]), verbose=0, callbacks=[progress])
    seconds = time.perf_counter() - start - progress.held_s
    predicted = model.predict(data.x[test], batch_size=PREDICT_BATCH, verbose=0).argmax(axis=1)
    labels = list(range(len(data.class_names)))
    return RunResult(
        data.name, config, progress.history, float(np.mean(predicted == data.y[test])),
        confusion_matrix(data.y[test], predicted, labels=labels), data.class_names, model.count_params(),
        seconds, len(progress.history.get("loss", [])) < config.epochs, len(train), len(test),
        model, data.x[test], data.y[test],
    )


def image_for_network(pixels: np.ndarray, shape: tuple[int, int], invert: bool = False) -> np.ndarray:
    """A decoded uint8 (H, W) greyscale image as a live network reads it: (h, w, 1) in [0, 1], resized as the
    training X-rays were, and inverted on request (the digits are light ink on a dark ground)."""
    x = cv2.resize(pixels, (shape[1], shape[0]), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    return (1.0 - x if invert else x)[..., None]


def probabilities(model: keras.Model, image: np.ndarray) -> np.ndarray:
    """The network's probability for each class, for one (h, w, 1) image."""
    return keras.ops.convert_to_numpy(model(image[None].astype(np.float32), training=False))[0]


def keras_file(model: keras.Model) -> bytes:
    """The network as the bytes of a .keras file, to download."""
    # Keras's public saving API takes only a path ending in .keras, so the file is written in a private temporary
    # folder that is deleted, with the file, as soon as its bytes are read: nothing is left on disk.
    with tempfile.TemporaryDirectory(prefix="live_cnn_") as folder:
        path = Path(folder) / "small_cnn.keras"
        model.save(path)
        return path.read_bytes()


@dataclass
class LiveTraining:
    """The work of one live run, for a background job (core/teaching/background): the curves so far stay readable
    while it trains, the job's pause holds it between batches, and its stop ends it with the network trained so far."""
    data: LabelledArrays
    config: TrainingConfig
    history: History = field(default_factory=dict)
    check: EpochCheck | None = None  # the validation images after the latest epoch
    min_epoch_s: float = 0.0  # slow motion: the page may change it while the run trains
    hold: Callable[[], None] | None = None  # pauses the job: called when a one-epoch step ends
    step_until: int | None = None  # epochs done at which `hold` is called

    def step(self, hold: Callable[[], None]) -> None:
        """Train one more epoch, then `hold` (the job's pause); call the job's resume after this."""
        self.hold, self.step_until = hold, len(self.history.get("loss", [])) + 1

    def __call__(self, report: Report) -> RunResult:
        def progress() -> None:
            done = len(self.history.get("loss", []))
            report(f"Training on {self.data.name}: epoch {done} of {self.config.epochs} done", done, self.config.epochs)

        def should_stop() -> bool:
            try:
                progress()
            except Stopped:
                return True
            return False

        def record(history: History) -> None:
            self.history = history
            with contextlib.suppress(Stopped):  # a stop is seen at the next batch; the bar counts the epoch now
                progress()
            self._record(history)

        return train_live(self.data, self.config, record, should_stop, lambda: self.min_epoch_s, self._check)

    def _check(self, check: EpochCheck) -> None:
        self.check = check

    def _record(self, history: History) -> None:
        self.history = history
        done = len(history.get("loss", []))
        if self.step_until is not None and self.step_until <= done < self.config.epochs and self.hold:
            self.step_until = None
            self.hold()
