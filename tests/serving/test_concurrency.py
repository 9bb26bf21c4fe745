"""Many sessions at once: one shared model, and every caller gets the answer for its own image."""
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from core.imaging.decode import read_image_file
from core.serving.batching import InferenceQueue
from core.serving.classifier import Analysis, Classifier

SESSIONS = 16
ROUNDS = 2  # each session asks this many times, so the calls overlap


@pytest.fixture(scope="module")
def xrays(dataset_dir: Path) -> list[np.ndarray]:
    """SESSIONS different shared X-rays, four per class."""
    paths = [path for folder in sorted(dataset_dir.iterdir()) if folder.is_dir()
             for path in sorted(folder.iterdir())[:SESSIONS // 4]]
    assert len(paths) == SESSIONS
    return [read_image_file(path).pixels for path in paths]


def assert_same(result: Analysis, expected: Analysis) -> None:
    np.testing.assert_allclose(result.probabilities, expected.probabilities, atol=1e-5)
    assert (result.status, result.top) == (expected.status, expected.top)
    if expected.cam is not None:
        np.testing.assert_allclose(result.cam, expected.cam, atol=1e-4)


def test_sixteen_threads_get_their_own_answers(classifier, xrays):
    alone = [(classifier.analyse(pixels), classifier.classify_batch([pixels])[0]) for pixels in xrays]
    assert len({a.label for a, _ in alone}) > 1  # different answers, so cross-talk would show
    start = threading.Barrier(SESSIONS)

    def session(index: int) -> list[tuple[Analysis, Analysis]]:
        start.wait()
        pixels = xrays[index]
        return [(classifier.analyse(pixels), classifier.classify_batch([pixels])[0]) for _ in range(ROUNDS)]

    with ThreadPoolExecutor(SESSIONS) as pool:
        together = list(pool.map(session, range(SESSIONS)))
    for (analysis, batch), rounds in zip(alone, together, strict=True):
        for round_analysis, round_batch in rounds:
            assert_same(round_analysis, analysis)
            assert_same(round_batch, batch)
    assert max(classifier.queue.batch_sizes[-SESSIONS * ROUNDS:]) > 1  # films of several sessions shared a pass


def test_the_queue_batches_callers_and_gives_each_its_own_rows_or_its_own_error():
    def run(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if (x < 0).any():
            raise ValueError("negative input")
        return x * 2, x.sum(axis=1)

    queue = InferenceQueue(run, window_s=0.02, max_batch=4)
    start = threading.Barrier(SESSIONS)

    def caller(index: int) -> tuple[np.ndarray, ...] | str:
        start.wait()
        try:
            return queue.submit(np.full(3, index - 1.0))  # caller 0 sends a bad input
        except ValueError as err:
            return str(err)

    with ThreadPoolExecutor(SESSIONS) as pool:
        answers = list(pool.map(caller, range(SESSIONS)))
    assert answers[0] == "negative input"
    for index, answer in enumerate(answers[1:], start=1):  # the bad input's batch-mates still get their own rows
        np.testing.assert_array_equal(answer[0], np.full(3, 2.0 * (index - 1)))
        assert answer[1] == 3.0 * (index - 1)
    assert max(queue.batch_sizes) == 4 and sum(queue.batch_sizes) == SESSIONS  # batched, bounded, nobody twice
    np.testing.assert_array_equal(queue.submit(np.ones(3))[0], np.full(3, 2.0))  # still serving after the failure


@pytest.fixture
def model_loads(monkeypatch) -> list[str]:
    """The folders Classifier.from_dir is asked to load from now on, with the pages' model cache emptied first."""
    from ui import common  # st.cache_resource also caches outside a running server ("bare mode")
    loads = []
    load = Classifier.from_dir

    def counted_load(directory):
        loads.append(directory)
        return load(directory)

    monkeypatch.setattr(Classifier, "from_dir", counted_load)
    common.get_classifier.clear()
    return loads


def test_the_app_loads_the_model_once_for_all_sessions(model_loads):
    from ui import common
    start = threading.Barrier(SESSIONS)

    def session(_: int) -> Classifier:
        start.wait()
        return common.load_classifier_or_stop()

    with ThreadPoolExecutor(SESSIONS) as pool:
        classifiers = list(pool.map(session, range(SESSIONS)))
    assert len(model_loads) == 1 and isinstance(classifiers[0], Classifier)
    assert all(c is classifiers[0] for c in classifiers)


def test_the_server_warms_the_very_model_the_pages_use(model_loads):
    """server.py loads the model before answering; a first page must find it there, not load a second copy."""
    import server
    from ui import common
    server.warm_up()
    assert common.load_classifier_or_stop() is common.load_classifier_or_stop()
    assert len(model_loads) == 1
