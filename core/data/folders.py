"""Folder-per-class datasets: scanning, loading, and seeded stratified splits."""
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

from core.classes import CLASS_NAMES
from core.imaging.decode import SUPPORTED_EXTENSIONS, ImageDecodeError, read_image_file
from core.imaging.preprocess import NO_NORMALISATION, to_model_input

Progress = Callable[[int, int], None]  # (done, total)


class DatasetError(ValueError):
    """A dataset folder that cannot be used; the message says why."""


@dataclass(frozen=True)
class Sample:
    path: Path
    relative_path: str  # "covid19/abc.jpeg": stable across machines
    label: int  # index into CLASS_NAMES, or into LABEL_NAMES for a coarse label (manifest datasets)
    source: str = ""  # hospital or collection, from a manifest
    patient: str = ""
    age_group: str = ""  # adult / paediatric / unknown
    sha256: str = ""


def scan_dataset(root: str | Path, names: tuple[str, ...] = CLASS_NAMES) -> list[Sample]:
    """List the images of a folder with one subfolder per label (registry names: the classes, or with
    names=LABEL_NAMES the coarse labels too), sorted for reproducibility."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder")
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    unknown = [f for f in folders if f not in names]
    if unknown:
        raise DatasetError(f"{root}: unknown class folder(s) {', '.join(unknown)}; expected {', '.join(names)}")
    samples = [
        Sample(path, f"{name}/{path.name}", label)
        for label, name in enumerate(names)
        if (root / name).is_dir()
        for path in sorted((root / name).iterdir())
        if path.suffix.lower() in SUPPORTED_EXTENSIONS
    ]
    if not samples:
        raise DatasetError(f"{root}: no images found (looked for {', '.join(SUPPORTED_EXTENSIONS)} in {', '.join(names)})")
    return samples


def load_images(samples: list[Sample], img_size: int, progress: Progress | None = None,
                intensity: str = NO_NORMALISATION) -> np.ndarray:
    """Decode, resize and normalise every sample to (N, size, size, 3) float32; one unreadable file fails the load,
    naming it."""
    images, errors = [], []
    for i, sample in enumerate(samples):
        try:
            images.append(to_model_input(read_image_file(sample.path).pixels, img_size, intensity))
        except ImageDecodeError as err:
            errors.append(f"{sample.relative_path}: {err}")
        if progress:
            progress(i + 1, len(samples))
    if errors:
        raise DatasetError("some images could not be read:\n" + "\n".join(errors))
    return np.stack(images)


def labels_of(samples: list[Sample]) -> np.ndarray:
    return np.array([s.label for s in samples])


def stratified_holdout(labels: np.ndarray, fraction: float = 0.2, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified (train_indices, validation_indices)."""
    indices = np.arange(len(labels))
    train, val = train_test_split(indices, test_size=fraction, stratify=labels, random_state=seed)
    return np.sort(train), np.sort(val)


def stratified_folds(labels: np.ndarray, k: int = 5, seed: int = 42) -> list[tuple[np.ndarray, np.ndarray]]:
    """Seeded stratified k-fold: a list of (train_indices, validation_indices)."""
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(train, val) for train, val in splitter.split(np.zeros(len(labels)), labels)]
