"""Many sessions at once: one shared model, and every caller gets the answer for its own image."""
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from core.imaging.decode import read_image_file
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
    for (analysis, batch), rounds in zip(alone, together):
        for round_analysis, round_batch in rounds:
            assert_same(round_analysis, analysis)
            assert_same(round_batch, batch)


@pytest.fixture
def model_loads(monkeypatch) -> list[str]:
    """The folders Classifier.from_dir is asked to load from now on, with the pages' model cache emptied first."""
    from pages import common  # st.cache_resource also caches outside a running server ("bare mode")
    loads = []
    load = Classifier.from_dir

    def counted_load(directory):
        loads.append(directory)
        return load(directory)

    monkeypatch.setattr(Classifier, "from_dir", counted_load)
    common.get_classifier.clear()
    return loads


def test_the_app_loads_the_model_once_for_all_sessions(model_loads):
    from pages import common
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
    from pages import common
    server.warm_up()
    assert common.load_classifier_or_stop() is common.load_classifier_or_stop()
    assert len(model_loads) == 1
