"""Folder scanning and seeded, stratified, reproducible splits."""
import numpy as np
import pytest

from core.classes import CLASS_NAMES
from core.data.folders import DatasetError, labels_of, scan_dataset, stratified_folds, stratified_holdout


def test_scan_reads_every_shared_image_with_its_class(dataset_dir):
    samples = scan_dataset(dataset_dir)
    counts = np.bincount(labels_of(samples), minlength=len(CLASS_NAMES))
    assert len(samples) == 316 and counts.tolist() == [76, 80, 80, 80]
    assert all(s.relative_path.split("/")[0] == CLASS_NAMES[s.label] for s in samples)


def test_folds_are_reproducible_stratified_and_cover_every_image_once(dataset_dir):
    labels = labels_of(scan_dataset(dataset_dir))
    first, second = stratified_folds(labels, 5, seed=7), stratified_folds(labels, 5, seed=7)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(first, second, strict=True))
    held_out = np.concatenate([val for _, val in first])
    assert sorted(held_out.tolist()) == list(range(len(labels)))
    for _, val in first:  # each fold keeps the class balance within one image
        assert np.abs(np.bincount(labels[val]) - np.bincount(labels) / 5).max() <= 1
    assert not np.array_equal(stratified_folds(labels, 5, seed=8)[0][1], first[0][1])


def test_holdout_is_reproducible_and_disjoint(dataset_dir):
    labels = labels_of(scan_dataset(dataset_dir))
    train, val = stratified_holdout(labels, 0.25, seed=3)
    assert np.array_equal(val, stratified_holdout(labels, 0.25, seed=3)[1])
    assert not set(train) & set(val) and len(train) + len(val) == len(labels)


def test_missing_folder_unknown_class_and_empty_folder_are_refused(tmp_path):
    with pytest.raises(DatasetError, match="no such folder"):
        scan_dataset(tmp_path / "nowhere")
    (tmp_path / "normal").mkdir()
    with pytest.raises(DatasetError, match="no images found"):
        scan_dataset(tmp_path)
    (tmp_path / "tuberculosis").mkdir()
    with pytest.raises(DatasetError, match="unknown class folder.*tuberculosis"):
        scan_dataset(tmp_path)
