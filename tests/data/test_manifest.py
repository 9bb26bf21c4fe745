"""Multi-source datasets: the manifest is read with every column, folds never split a patient, and each source is
left out once."""
import numpy as np
import pytest

from core.classes import LABEL_NAMES, PNEUMONIA_UNSPECIFIED, target_sets
from core.data.folders import DatasetError
from core.data.manifest import grouped_folds, read_manifest, source_splits


def test_the_shared_manifest_is_read_with_sources_patients_and_the_coarse_label(multisource_dir):
    samples = read_manifest(multisource_dir)
    assert len(samples) == 1566
    assert {s.source for s in samples} == {"kermany", "ieee8023", "nih", "hannover", "figure1"}
    coarse = [s for s in samples if LABEL_NAMES[s.label] == PNEUMONIA_UNSPECIFIED]
    assert len(coarse) == 278 and {s.source for s in coarse} == {"nih"}
    assert all(s.path.is_file() and len(s.sha256) == 64 and s.patient.startswith(s.source + ":") for s in samples)


def test_grouped_folds_never_put_one_patient_on_both_sides(multisource_dir):
    samples = read_manifest(multisource_dir)
    labels, patients = np.array([s.label for s in samples]), np.array([s.patient for s in samples])
    folds = grouped_folds(labels, list(patients), k=5, seed=42)
    seen = np.concatenate([val for _, val in folds])
    assert sorted(seen) == list(range(len(samples)))  # every image validated exactly once
    for train, val in folds:
        assert not set(patients[train]) & set(patients[val])
    assert max(np.bincount(labels[val], minlength=len(LABEL_NAMES)).min() for _, val in folds) > 0


def test_each_source_is_left_out_once():
    splits = source_splits(["a", "b", "a", "c"])
    assert list(splits) == ["a", "b", "c"]
    train, test = splits["a"]
    assert test.tolist() == [0, 2] and train.tolist() == [1, 3]


def test_a_coarse_label_allows_bacterial_or_viral_pneumonia():
    rows = target_sets(np.array([0, LABEL_NAMES.index(PNEUMONIA_UNSPECIFIED)]))
    assert rows.tolist() == [[1, 0, 0, 0], [0, 0, 1, 1]]


def test_a_manifest_with_an_unknown_label_or_a_missing_file_is_refused(tmp_path):
    (tmp_path / "manifest.csv").write_text("file,label,source,patient,age_group\nx/a.png,tumour,s,s:1,adult\n")
    with pytest.raises(DatasetError, match="unknown label"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.csv").write_text("file,label,source,patient,age_group\nnormal/a.png,normal,s,s:1,adult\n")
    with pytest.raises(DatasetError, match="missing"):
        read_manifest(tmp_path)
