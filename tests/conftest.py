"""Shared test set-up: the Keras cache with ../shared's ImageNet weights, the shared X-rays as fixtures, and a real
browser against `streamlit run app.py`."""
import csv
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from core.paths import REPO_ROOT as REPO
from core.paths import SHARED_DATASETS
from core.paths import TEACHING_DATASET as DATASET
from core.paths import TRAINING_DATASET as MULTISOURCE
from scripts.local_app import CHROMIUM, CHROMIUM_ARGS, running_app

WEIGHTS = SHARED_DATASETS.parent / "keras_home" / "models"


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
    return _shared_or_skip(DATASET)


def _shared_or_skip(path: Path) -> Path:
    if not path.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing in CI")
        pytest.skip(f"{path} is not present on this machine")
    return path


@pytest.fixture(scope="session")
def multisource_dir() -> Path:
    """The shared multi-source training set (folder per label plus manifest.csv)."""
    return _shared_or_skip(MULTISOURCE)


def build_multisource_fixture(root: Path, multisource: Path, per_cell: int = 2) -> Path:
    """A small copy of the multi-source set (symbolic links): the first `per_cell` patients of every (label, source)
    cell, with their manifest rows."""
    with open(multisource / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    kept, patients = [], {}
    for row in rows:
        cell = patients.setdefault((row["label"], row["source"]), set())
        if row["patient"] in cell or len(cell) < per_cell:
            cell.add(row["patient"])
            kept.append(row)
    for row in kept:
        (root / row["file"]).parent.mkdir(parents=True, exist_ok=True)
        (root / row["file"]).symlink_to(multisource / row["file"])
    with open(root / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)
    return root


@pytest.fixture(scope="session")
def small_multisource_dir(multisource_dir: Path, tmp_path_factory) -> Path:
    """Two patients of every (label, source) cell of the multi-source set."""
    return build_multisource_fixture(tmp_path_factory.mktemp("multisource"), multisource_dir)


@pytest.fixture(scope="session")
def xray_paths(dataset_dir: Path) -> dict[str, list[Path]]:
    """A few shared X-ray files per class folder, sorted (stable across runs)."""
    return {d.name: sorted(p for p in d.iterdir() if p.is_file())[:3] for d in sorted(dataset_dir.iterdir()) if d.is_dir()}


@pytest.fixture(scope="session")
def classifier():
    """The shipped default model, loaded once for the whole test session."""
    from core.serving.classifier import Classifier
    return Classifier.from_dir(REPO / "models" / "default")


# --- a real browser (Debian's chromium, driven by Playwright) against `streamlit run app.py` ---------------

@pytest.fixture(scope="module")
def chromium() -> Path:
    """Debian's chromium; its absence fails the run in CI and skips the browser tests elsewhere."""
    if not CHROMIUM.is_file():
        reason = f"{CHROMIUM} is missing (install Debian's chromium: apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="module")
def app_url(chromium: Path, tmp_path_factory):
    """`streamlit run app.py` on a free localhost port, one per test module, stopped after its tests."""
    with running_app(tmp_path_factory.mktemp("streamlit") / "server.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser(chromium: Path):
    """One headless chromium per test module; each test opens its own page (its own Streamlit session)."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory) -> Path:
    """Where browser tests save their screenshots: $SCREENSHOT_DIR (CI keeps it as an artifact), else a temp dir."""
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
