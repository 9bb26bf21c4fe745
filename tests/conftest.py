"""Shared test set-up: the Keras cache with ../shared's ImageNet weights, and the shared X-rays as fixtures."""
import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATASET = SHARED / "datasets" / "chest_xray_4class"
WEIGHTS = SHARED / "keras_home" / "models"


def _expose_imagenet_weights() -> None:
    """Point KERAS_HOME at a writable cache holding the shared weights, unless CI already did (before keras loads)."""
    if os.environ.get("KERAS_HOME") or not WEIGHTS.is_dir():
        return
    home = Path(tempfile.mkdtemp(prefix="keras_home_"))
    shutil.copytree(WEIGHTS, home / "models")
    os.environ["KERAS_HOME"] = str(home)


_expose_imagenet_weights()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(scope="session")
def dataset_dir() -> Path:
    """The shared labelled X-rays; absent only off the project's machines (never in CI)."""
    if not DATASET.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{DATASET} is missing in CI")
        pytest.skip(f"{DATASET} is not present on this machine")
    return DATASET


@pytest.fixture(scope="session")
def xray_paths(dataset_dir: Path) -> dict[str, list[Path]]:
    """A few shared X-ray files per class folder, sorted (stable across runs)."""
    return {d.name: sorted(p for p in d.iterdir() if p.is_file())[:3] for d in sorted(dataset_dir.iterdir()) if d.is_dir()}


@pytest.fixture(scope="session")
def classifier():
    """The shipped default model, loaded once for the whole test session."""
    from core.inference import Classifier
    return Classifier.from_dir(REPO / "models" / "default")
