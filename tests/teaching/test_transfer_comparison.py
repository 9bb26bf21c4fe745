"""Scratch versus transfer: both approaches scored on the same seeded held-out X-rays."""
from pathlib import Path

import numpy as np
import pytest

from core.classes import CLASS_NAMES
from core.data.folders import labels_of, scan_dataset, stratified_holdout
from core.teaching import transfer_comparison
from core.teaching.background import Stopped
from core.teaching.live_training import TEST_FRACTION, TrainingConfig
from core.teaching.transfer_comparison import WeightsUnavailableError, compare, folder_films
from tests.support.files import first_files, linked_dataset

PER_CLASS = 6


@pytest.fixture
def small_folder(dataset_dir: Path, tmp_path: Path) -> Path:
    """A small class-per-folder set of links to the shared X-rays."""
    return linked_dataset(tmp_path, first_files(dataset_dir, PER_CLASS))


@pytest.mark.training
def test_both_approaches_are_scored_on_the_same_test_images(small_folder: Path):
    tmp_path = small_folder
    config = TrainingConfig(epochs=2, batch_size=8, filters=(4,))
    reports = []
    result = compare(folder_films(str(tmp_path)), scratch_size=32, config=config, report=lambda *r: reports.append(r))

    texts = [text for text, _, _ in reports]
    assert texts[0] == "Step 1 of 3 · reading X-ray 1 of 24" and ("Step 1 of 3 · reading X-ray 24 of 24", 24, 24) in reports
    assert "Step 2 of 3 · MobileNetV2 turns the X-rays into features: batch 1 of 1" in texts
    assert reports[-1] == ("Step 3 of 3 · training the small CNN from scratch: epoch 2 of 2", 2, 2)
    stages = [text.split(" · ")[0] for text in texts]
    assert stages == sorted(stages)  # the bar moves through the steps in order, never back

    labels = labels_of(scan_dataset(tmp_path))
    train, test = stratified_holdout(labels, TEST_FRACTION, config.seed)
    assert (result.n_train, result.n_test) == (len(train), len(test)) == (19, 5)
    assert result.majority_accuracy == np.mean(labels[test] == np.bincount(labels[train]).argmax())
    assert [r.name.split(" ")[0] for r in result.results] == ["Small", "Frozen"]
    for r in result.results:
        assert r.confusion.sum() == len(test)
        assert r.confusion.sum(axis=1).tolist() == np.bincount(labels[test], minlength=len(CLASS_NAMES)).tolist()
        assert r.accuracy == np.trace(r.confusion) / len(test)
        assert r.accuracy_ci[0] <= r.accuracy <= r.accuracy_ci[1]


def test_missing_imagenet_weights_get_a_message_that_says_where_to_put_them(tmp_path: Path, monkeypatch):
    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: None -- [Errno -2] Name or service not known")

    monkeypatch.setattr(transfer_comparison, "build_feature_extractor", offline)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(WeightsUnavailableError, match=f"not in the Keras cache \\({tmp_path}/models\\)"):
        transfer_comparison.imagenet_extractor(224)


@pytest.mark.training
def test_a_stop_during_feature_extraction_ends_the_comparison_there(small_folder: Path):
    seen = []

    def report(text: str, done: int, total: int) -> None:
        seen.append(text)
        if "features: batch" in text:
            raise Stopped

    with pytest.raises(Stopped):
        compare(folder_films(str(small_folder)), scratch_size=32, config=TrainingConfig(epochs=2, batch_size=8, filters=(4,)),
                report=report)
    assert not any("small CNN" in text for text in seen)
