"""Train a CNN as a classroom demo: slow motion, one epoch at a time, the mistakes after each epoch, the drawn phantom
task that needs no data, and X-rays from a labelled ZIP upload (core and AppTest)."""
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.data.folders import DatasetError
from core.data.zip_upload import ZipDatasetError
from core.teaching.live_training import MISTAKES_SHOWN, LabelledArrays, TrainingConfig, digits_arrays, train_live, zip_xray_arrays
from core.teaching.phantom_task import CLASS_NAMES, LUNGS, phantom_arrays, phantom_film, phantom_films
from core.teaching.transfer_comparison import compare
from tests.support.apptest import page_test
from tests.support.files import first_files, labelled_members, zip_bytes
from ui.job_view import shared_jobs

PAGE = "train_in_browser.py"
SLOW = "Slow motion: at least 1 s an epoch"
PHANTOMS = "Chest phantoms: clear or with an opacity (drawn here, no data needed)"
ZIP = "Chest X-rays from a ZIP you upload"
XRAYS = "Chest X-rays at low resolution"


def xray_zip(dataset: Path, per_class: int) -> bytes:
    """The first `per_class` X-rays of every class folder of `dataset`, as a folder-per-class ZIP built in memory."""
    return zip_bytes(labelled_members(first_files(dataset, per_class)))


def open_page() -> AppTest:
    at = page_test(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def rerun_until(at: AppTest, done, seconds: float = 120) -> AppTest:
    """Rerun the page, as its polling does, until `done(at)` or the deadline."""
    deadline = time.monotonic() + seconds
    while not done(at) and time.monotonic() < deadline:
        time.sleep(0.3)
        at.run()
    return at.run()  # the run that draws what the finished job left


def epochs_done(at: AppTest) -> int:
    return len(at.session_state["live_job"].work.history.get("loss", []))


# ----------------------------------------------------------------------------- core

@pytest.mark.training
def test_slow_motion_makes_every_epoch_last_a_second_without_counting_the_wait_as_training():
    checks = []
    start = time.perf_counter()
    result = train_live(digits_arrays(), TrainingConfig(epochs=2, batch_size=128, filters=(4,)), min_epoch_s=lambda: 1.0,
                        on_check=checks.append)
    wall = time.perf_counter() - start
    assert wall >= 2.0 and result.seconds < wall - 0.5  # the slowed-down wait is left out of the training time
    assert [c.epoch for c in checks] == [1, 2]
    for check in checks:  # the 288 validation images, true against predicted, and the surest mistakes
        assert check.confusion.sum() == 288 and len(check.mistakes) == min(MISTAKES_SHOWN, 288 - np.trace(check.confusion))
        confidences = [p for _, _, _, p in check.mistakes]
        assert confidences == sorted(confidences, reverse=True)
        assert all(true != said and image.shape == (8, 8, 1) for image, true, said, _ in check.mistakes)


def test_phantom_films_are_seeded_half_with_an_opacity_that_brightens_a_lung():
    films, labels = phantom_films(count=40, seed=3, size=128)
    again, same_labels = phantom_films(count=40, seed=3, size=128)
    assert films.shape == (40, 128, 128) and films.dtype == np.uint8 and labels.sum() == 20
    assert np.array_equal(films, again) and np.array_equal(labels, same_labels)
    assert not np.array_equal(films, phantom_films(count=40, seed=4, size=128)[0])
    for seed in range(5):  # the same film with and without its opacity: brighter in one place, inside a lung
        added = (phantom_film(np.random.default_rng(seed), True, 128).astype(int)
                 - phantom_film(np.random.default_rng(seed), False, 128).astype(int))
        y, x = np.unravel_index(np.argmax(added), added.shape)
        assert added.max() >= 15 and added.min() >= -1
        assert min(abs(x - cx) for cx, _ in LUNGS) <= 20 and abs(y - LUNGS[0][1]) <= 40
    data = phantom_arrays(32, seed=3)
    assert data.x.shape == (480, 32, 32, 1) and data.class_names == CLASS_NAMES and 0 <= data.x.min() <= data.x.max() <= 1


@pytest.mark.training
def test_the_comparison_runs_on_phantom_films_with_two_classes():
    films, labels = phantom_films(count=40, seed=1)
    data = LabelledArrays("phantoms", films[..., None].astype(np.float32) / 255, labels, CLASS_NAMES)
    result = compare(lambda report: data, 32, TrainingConfig(epochs=2, batch_size=8, filters=(4,)))
    assert result.class_names == CLASS_NAMES and (result.n_train, result.n_test) == (32, 8)
    for r in result.results:
        assert r.confusion.shape == (2, 2) and r.confusion.sum() == 8 and r.accuracy == np.trace(r.confusion) / 8


def test_a_zip_of_xrays_loads_small_and_grey_and_bad_ones_are_named(dataset_dir):
    data = zip_xray_arrays(xray_zip(dataset_dir, 5), size=32)
    assert data.x.shape == (20, 32, 32, 1) and list(np.bincount(data.y)) == [5, 5, 5, 5] and data.x.max() <= 1
    with pytest.raises(DatasetError, match=r"too few in covid19 \(2\)"):
        zip_xray_arrays(xray_zip(dataset_dir, 2))
    with pytest.raises(ZipDatasetError, match="not a readable ZIP"):
        zip_xray_arrays(b"PK but not a zip")


# ----------------------------------------------------------------------------- the page

@pytest.mark.training
def test_one_epoch_steps_a_paused_run_and_the_live_view_shows_its_mistakes():
    at = open_page()
    at.slider(key="epochs").set_value(30)
    at.radio(key="train_pace").set_value(SLOW)
    at.button(key="train").click().run()
    job = at.session_state["live_job"]
    assert job.work.min_epoch_s == 1.0
    rerun_until(at, lambda at: epochs_done(at) >= 1)
    at.button(key="live_pause").click().run()
    time.sleep(1.5)  # the epoch under way reaches its next step and holds there
    before = epochs_done(at)
    at.button(key="train_step").click().run()
    rerun_until(at, lambda at: epochs_done(at) > before, 60)
    time.sleep(2.5)  # longer than a slow-motion epoch: a run that went on would have trained another
    at.run()
    assert epochs_done(at) == before + 1 and job.paused
    assert at.button(key="live_pause").label == "Resume"
    confusion = [c for c in at.get("plotly_chart") if f"Validation images after epoch {before + 1}" in c.proto.spec]
    assert confusion and any("gets wrong, surest first" in c.value or "every validation image right" in c.value
                             for c in at.caption)
    at.radio(key="train_pace").set_value("Real time").run()
    assert job.work.min_epoch_s == 0.0  # the pace changes for the run under way
    at.button(key="live_stop").click().run()
    rerun_until(at, lambda at: "live_job" not in at.session_state)
    assert not at.exception and at.session_state["runs"][0]["Stopped early"]
    shown = at.dataframe[0].value
    assert list(shown.columns) == ["Run", "Data", "Epochs", "Network", "Training", "Validation", "Test", "Seconds"]
    assert shown["Epochs"][0].endswith("/30 stopped")


@pytest.mark.training
def test_the_phantom_task_trains_with_no_data_at_all(tmp_path, monkeypatch):
    monkeypatch.setattr("core.paths.TEACHING_DATASET", tmp_path / "no_such_folder")  # a fresh install: no X-rays
    monkeypatch.delenv("CXR_DATA_ROOTS", raising=False)
    at = open_page()
    at.radio(key="data_source").set_value(PHANTOMS).run()
    at.select_slider(key="xray_size").set_value(32).run()
    assert at.button(key="train").disabled  # nothing to train on until the films are drawn
    load_and_train(at, epochs=1)
    assert not at.exception and not at.error
    result = at.session_state["last_result"]
    assert result.class_names == CLASS_NAMES and result.n_test == 96 and result.data_name == "Phantom films 32×32"

    compare_choice = at.radio(key="compare_folder_choice")
    assert compare_choice.options == [PHANTOMS, ZIP] and compare_choice.value == PHANTOMS
    assert not at.button(key="compare").disabled  # the comparison works out of the box too
    compare_choice.set_value(ZIP).run()
    assert at.button(key="compare").disabled and any("Upload a ZIP" in i.value for i in at.info)


def load_and_train(at: AppTest, epochs: int) -> None:
    """Load the chosen films, then train for `epochs` and wait until the run has finished."""
    at.button(key="load_xrays").click().run()
    rerun_until(at, lambda at: "xrays_job" not in at.session_state)
    at.slider(key="epochs").set_value(epochs)
    at.button(key="train").click().run()
    rerun_until(at, lambda at: "live_job" not in at.session_state)


def test_without_an_upload_train_is_off_and_a_bad_zip_is_named(monkeypatch, tmp_path):
    monkeypatch.setattr("core.paths.TEACHING_DATASET", tmp_path / "no_such_folder")
    monkeypatch.delenv("CXR_DATA_ROOTS", raising=False)
    at = open_page()
    at.radio(key="data_source").set_value(XRAYS).run()
    assert at.radio(key="live_folder_choice").options == [ZIP]
    assert at.button(key="train").disabled and any("Upload a ZIP" in i.value for i in at.info)
    at.file_uploader(key="live_zip").set_value(("x-rays.zip", b"not a zip", "application/zip")).run()
    at.button(key="load_xrays").click().run()
    rerun_until(at, lambda at: "xrays_job" not in at.session_state)
    assert [e.value for e in at.error] == ["the file is not a readable ZIP archive"]
    assert at.button(key="train").disabled and not at.exception


@pytest.mark.training
def test_xrays_from_an_uploaded_zip_train_to_a_test_accuracy(dataset_dir):
    at = open_page()
    at.radio(key="data_source").set_value(XRAYS).run()
    at.radio(key="live_folder_choice").set_value(ZIP).run()
    at.file_uploader(key="live_zip").set_value(("my x-rays.zip", xray_zip(dataset_dir, 5), "application/zip")).run()
    at.select_slider(key="xray_size").set_value(32).run()
    held = shared_jobs().count()
    load_and_train(at, epochs=2)
    assert not at.exception and not at.error
    assert shared_jobs().count() == held  # films from an upload are this session's alone: nothing kept for others
    assert at.session_state["last_result"].n_test == 4 and at.metric[0].label == "Test accuracy"
    assert at.metric[0].value.endswith("%")
