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


def test_the_app_loads_the_model_once_for_all_sessions(monkeypatch):
    from pages import common  # st.cache_resource also caches outside a running server ("bare mode")
    loads = []
    load = Classifier.from_dir

    def counted_load(directory):
        loads.append(directory)
        return load(directory)

    monkeypatch.setattr(Classifier, "from_dir", counted_load)
    common.get_classifier.clear()
    start = threading.Barrier(SESSIONS)

    def session(_: int) -> Classifier:
        start.wait()
        return common.get_classifier()

    with ThreadPoolExecutor(SESSIONS) as pool:
        classifiers = list(pool.map(session, range(SESSIONS)))
    assert len(loads) == 1 and isinstance(classifiers[0], Classifier)
    assert all(c is classifiers[0] for c in classifiers) and common.get_classifier() is classifiers[0]
