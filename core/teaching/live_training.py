"""Train a small CNN while a page watches: data sets, the network, a per-epoch callback, and a background run.

Data are split once, seeded and stratified: a test set that training never sees, and a validation set that the
curves show each epoch. Nothing here imports streamlit; a page polls a LiveRun for its progress, and may pause,
resume or stop it. A finished network can be tried on any image and handed out as a .keras file.
"""
import tempfile
import threading
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
from core.teaching.background import ServerBusy, training_slot

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
MAX_PAUSE_S = 30 * 60  # a run paused this long (its tab closed, say) stops by itself instead of waiting forever


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
    counts = np.bincount(labels, minlength=len(CLASSES))
    too_few = [f"{c.name} ({n})" for c, n in zip(CLASSES, counts) if 0 < n < MIN_PER_CLASS]
    if too_few:
        raise DatasetError(f"{root}: every class folder needs at least {MIN_PER_CLASS} images; too few in {', '.join(too_few)}")
    images = load_images(samples, size, progress)
    return LabelledArrays(f"Chest X-rays {size}×{size}", downsample(images, size).astype(np.float32), labels, DISPLAY_NAMES)


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


class LiveProgress(keras.callbacks.Callback):
    """Hands the history so far to `on_epoch` after every epoch, and stops training once `should_stop()` is true.

    `should_stop` is asked after every batch and may block (a paused run); `held_s` adds up the time it took.
    """

    def __init__(self, on_epoch: Callable[[History], None] | None = None, should_stop: Callable[[], bool] | None = None):
        super().__init__()
        self.on_epoch, self.should_stop = on_epoch, should_stop
        self.history: History = {}
        self.held_s = 0.0

    def _check_stop(self) -> None:
        if self.should_stop:
            start = time.perf_counter()
            if self.should_stop():
                self.model.stop_training = True  # Keras ends the epoch after this batch
            self.held_s += time.perf_counter() - start

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._check_stop()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        if self.on_epoch:
            self.on_epoch({k: list(v) for k, v in self.history.items()})
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
               should_stop: Callable[[], bool] | None = None) -> RunResult:
    """Fit a small CNN on a seeded split of `data`, reporting each epoch; test accuracy on the held-out images."""
    rest, test = stratified_holdout(data.y, TEST_FRACTION, config.seed)
    fit_part, val_part = stratified_holdout(data.y[rest], VALIDATION_FRACTION, config.seed)
    train, val = rest[fit_part], rest[val_part]
    model = build_small_cnn(data.x.shape[1:], len(data.class_names), config)
    model.compile(optimizer=make_optimizer(config), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    progress = LiveProgress(on_epoch, should_stop)
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


def _set_event() -> threading.Event:
    event = threading.Event()
    event.set()
    return event


@dataclass
class LiveRun:
    """A training run in a background thread, so the page stays responsive; poll `history` and `done`, and pause,
    resume or stop it between batches."""
    data: LabelledArrays
    config: TrainingConfig
    history: History = field(default_factory=dict)
    result: RunResult | None = None
    error: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _going: threading.Event = field(default_factory=_set_event, repr=False)  # cleared while paused
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> "LiveRun":
        self._thread = threading.Thread(target=self._run, name="live-training", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            with training_slot():
                self.result = train_live(self.data, self.config, self._record, self._should_stop)
        except ServerBusy as err:
            self.error = str(err)
        except Exception as err:  # shown on the page instead of dying silently in the thread
            self.error = f"training failed: {type(err).__name__}: {err}"

    def _record(self, history: History) -> None:
        self.history = history

    def _should_stop(self) -> bool:
        """Asked after every batch: waits here while the run is paused, then says whether to stop."""
        if not self._going.wait(MAX_PAUSE_S):
            self._stop.set()
        return self._stop.is_set()

    def pause(self) -> None:
        """Hold the run after the current batch, until `resume` or `stop`."""
        self._going.clear()

    def resume(self) -> None:
        self._going.set()

    def stop(self) -> None:
        """Ask the run to stop after the current batch (a paused run stops at once)."""
        self._stop.set()
        self._going.set()

    @property
    def paused(self) -> bool:
        return not self._going.is_set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> None:
        if self._thread:
            self._thread.join(timeout)
