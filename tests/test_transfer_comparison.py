"""Scratch versus transfer: both approaches scored on the same seeded held-out X-rays."""
import os
from pathlib import Path

import numpy as np
import pytest

from core import transfer_comparison
from core.classes import CLASS_NAMES
from core.dataset import labels_of, scan_dataset, stratified_holdout
from core.live_training import TEST_FRACTION, TrainingConfig
from core.transfer_comparison import WeightsUnavailableError, compare

PER_CLASS = 6


def test_both_approaches_are_scored_on_the_same_test_images(dataset_dir: Path, tmp_path: Path):
    for name in CLASS_NAMES:  # a small class-per-folder set of links to the shared X-rays
        (tmp_path / name).mkdir()
        for path in sorted((dataset_dir / name).iterdir())[:PER_CLASS]:
            os.symlink(path, tmp_path / name / path.name)
    config = TrainingConfig(epochs=2, batch_size=8, filters=(4,))
    result = compare(str(tmp_path), scratch_size=32, config=config)

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
