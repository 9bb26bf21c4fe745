"""Live training: the bundled digits, low-resolution X-ray folders, the small CNN, per-epoch reports and stopping."""
import os
import tempfile
import time

import keras
import numpy as np
import pytest

from core.data.folders import DatasetError
from core.teaching.background import Job
from core.teaching.live_training import (
    LiveProgress,
    LiveTraining,
    TrainingConfig,
    build_small_cnn,
    digits_arrays,
    image_for_network,
    keras_file,
    probabilities,
    train_live,
    xray_arrays,
)
from tests.support.files import first_files, linked_dataset

TINY = TrainingConfig(epochs=1, batch_size=64, filters=(4,), dropout=0.0)


@pytest.fixture(scope="module")
def digits():
    return digits_arrays()


def test_digits_are_the_bundled_8x8_set_scaled_to_one(digits):
    assert digits.x.shape == (1797, 8, 8, 1) and digits.x.dtype == np.float32
    assert digits.x.min() == 0 and digits.x.max() == 1
    assert digits.class_names == tuple("0123456789") and set(digits.y) == set(range(10))


def test_small_cnn_has_one_conv_per_filter_count_and_stops_pooling_at_one_pixel():
    model = build_small_cnn((8, 8, 1), 10, TrainingConfig(filters=(4, 8, 16, 32)))
    convs = [layer for layer in model.layers if layer.name.startswith("conv")]
    assert [layer.filters for layer in convs] == [4, 8, 16, 32]
    assert [layer.name for layer in model.layers if layer.name.startswith("pool")] == ["pool1", "pool2", "pool3"]  # 8 -> 4 -> 2 -> 1
    assert model.output.shape == (None, 10)


def test_unknown_activation_or_optimizer_is_named():
    with pytest.raises(ValueError, match="activation must be one of"):
        build_small_cnn((8, 8, 1), 10, TrainingConfig(activation="swishy"))
    with pytest.raises(ValueError, match="optimizer must be one of"):
        train_live(digits_arrays(), TrainingConfig(optimizer="adagrad"))


@pytest.mark.training
def test_one_epoch_reports_once_and_scores_the_held_out_fifth(digits):
    reports = []
    result = train_live(digits, TINY, on_epoch=reports.append)
    assert len(reports) == 1 and set(reports[0]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert result.epochs_run == 1 and not result.stopped
    assert result.n_test == 360 and result.confusion.sum() == 360  # 20 % of 1,797, stratified
    assert result.n_train == 1149  # 80 % of the rest; the other 20 % draw the validation curve
    assert result.test_accuracy == pytest.approx(np.trace(result.confusion) / 360)


@pytest.mark.training
def test_should_stop_ends_training_early(digits):
    result = train_live(digits, TrainingConfig(epochs=20, batch_size=64, filters=(4,)), should_stop=lambda: True)
    assert result.stopped and result.epochs_run == 1


def test_live_progress_sets_stop_training():
    class Model:
        stop_training = False

    progress = LiveProgress(should_stop=lambda: True)
    progress.set_model(Model())
    progress.on_train_batch_end(0)
    assert progress.model.stop_training


@pytest.mark.training
def test_live_training_runs_as_a_background_job_and_a_stop_keeps_the_network_so_far(digits):
    run = Job(LiveTraining(digits, TrainingConfig(epochs=200, batch_size=64, filters=(4,)))).start()
    assert not run.done
    run.stop()
    run.wait(60)
    assert run.succeeded and run.error is None
    assert run.result.stopped and run.result.epochs_run < 200


@pytest.mark.training
def test_a_paused_run_waits_for_resume_then_trains_every_epoch(digits):
    run = Job(LiveTraining(digits, TrainingConfig(epochs=2, batch_size=64, filters=(4,))))
    run.pause()  # before the first batch ends
    run.start()
    assert run.paused and not run.done
    run.resume()
    run.wait(60)
    assert run.succeeded and not run.paused
    assert run.result.epochs_run == 2 and not run.result.stopped and len(run.work.history["loss"]) == 2


@pytest.mark.training
def test_a_one_epoch_step_pauses_with_the_bar_saying_that_epoch_is_done(digits):
    run = Job(LiveTraining(digits, TrainingConfig(epochs=3, batch_size=64, filters=(4,))))
    run.work.step(run.pause)  # what "One epoch" does
    run.start()
    deadline = time.monotonic() + 60
    while not run.paused and time.monotonic() < deadline:
        time.sleep(0.05)
    assert run.paused and len(run.work.history["loss"]) == 1
    assert run.progress[1:] == (1, 3) and "epoch 1 of 3 done" in run.progress[0]  # not the epoch before it
    run.stop()
    run.wait(60)


@pytest.mark.training
def test_a_paused_run_can_still_be_stopped(digits):
    run = Job(LiveTraining(digits, TrainingConfig(epochs=50, batch_size=64, filters=(4,))))
    run.pause()
    run.start()
    run.stop()
    run.wait(60)
    assert run.succeeded and run.error is None
    assert run.result.stopped and run.result.epochs_run == 1  # the epoch of the batch it was held after


@pytest.mark.training
def test_the_trained_network_downloads_as_a_keras_file_that_gives_the_same_answers(digits, tmp_path):
    result = train_live(digits, TINY)
    before = set(os.listdir(tempfile.gettempdir()))
    data = keras_file(result.model)
    assert set(os.listdir(tempfile.gettempdir())) == before  # nothing left on disk
    (tmp_path / "small_cnn.keras").write_bytes(data)
    loaded = keras.saving.load_model(tmp_path / "small_cnn.keras")
    image = result.test_x[0]
    assert loaded.predict(image[None], verbose=0)[0] == pytest.approx(probabilities(result.model, image), abs=1e-6)


@pytest.mark.training
def test_the_network_answers_on_a_held_out_image_with_one_probability_per_class(digits):
    result = train_live(digits, TINY)
    answer = probabilities(result.model, result.test_x[0])
    assert answer.shape == (10,) and answer.sum() == pytest.approx(1, abs=1e-5)
    assert len(result.test_x) == result.n_test == len(result.test_y)


def test_an_image_is_shrunk_to_the_network_input_and_inverted_on_request():
    dark_ink = np.full((80, 60), 255, np.uint8)
    dark_ink[20:60, 25:35] = 0  # a dark "1" on white paper
    x = image_for_network(dark_ink, (8, 8), invert=True)
    assert x.shape == (8, 8, 1) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert x[4, 3:5, 0].mean() > 0.5 and x[0, 0, 0] == 0  # the stroke is light, the paper dark, as in the digits
    assert image_for_network(dark_ink, (8, 8))[0, 0, 0] == 1


def test_xray_folder_loads_small_and_grey(dataset_dir, tmp_path):
    data = xray_arrays(linked_dataset(tmp_path / "xrays", first_files(dataset_dir, 5)), size=32)
    assert data.x.shape == (20, 32, 32, 1) and 0 <= data.x.min() and data.x.max() <= 1
    assert list(np.bincount(data.y)) == [5, 5, 5, 5]


def test_xray_folder_with_too_few_images_names_the_class(dataset_dir, tmp_path):
    root = linked_dataset(tmp_path / "xrays", first_files(dataset_dir, 5))
    for path in sorted((root / "covid19").iterdir())[2:]:
        path.unlink()
    with pytest.raises(DatasetError, match=r"too few in covid19 \(2\)"):
        xray_arrays(root)
