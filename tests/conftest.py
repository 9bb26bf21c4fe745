"""Shared fixtures: the Keras cache with ../shared's ImageNet weights, the shared X-rays, the shipped model, a real
browser against `streamlit run server.py`, and the markers and the closing line that say which tests did not run.
The helpers tests import live in tests/support/."""
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import pytest

from core.paths import REPO_ROOT as REPO
from core.paths import SHARED_DATASETS
from core.paths import TEACHING_DATASET as DATASET
from core.paths import TRAINING_DATASET as MULTISOURCE
from scripts.local_app import CHROMIUM, CHROMIUM_ARGS, running_app
from tests.support.files import first_files, linked_multisource

WEIGHTS = SHARED_DATASETS.parent / "keras_home" / "models"
BROWSER_FIXTURES = {"browser", "app_url"}


def _expose_imagenet_weights() -> None:
    """Point KERAS_HOME at a writable cache holding the shared weights, unless CI already did (before keras loads)."""
    if os.environ.get("KERAS_HOME") or not WEIGHTS.is_dir():
        return
    home = Path(tempfile.mkdtemp(prefix="keras_home_"))
    shutil.copytree(WEIGHTS, home / "models")
    os.environ["KERAS_HOME"] = str(home)


_expose_imagenet_weights()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


# --- markers, and one loud line for the tests that did not run ----------------------------------------------

def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that drives the browser is marked `browser`, so `-m "not browser"` leaves them out."""
    for item in items:
        if BROWSER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.browser)


def _skip_reason(report: pytest.TestReport) -> str:
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    return reason.removeprefix("Skipped: ")


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """Outside CI a skipped test still lets the run succeed: say loudly how many did not run and why."""
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped or os.environ.get("CI"):
        return
    ran = sum(len(terminalreporter.stats.get(kind, [])) for kind in ("passed", "failed", "error"))
    reasons = "; ".join(f"{n} × {reason}" for reason, n in Counter(map(_skip_reason, skipped)).most_common())
    terminalreporter.write_sep("!", f"{len(skipped)} of {len(skipped) + ran} tests did not run: {reasons}", red=True, bold=True)


# --- the shared data -----------------------------------------------------------------------------------------

def _shared_or_skip(path: Path) -> Path:
    if not path.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing in CI")
        pytest.skip(f"{path} is not present on this machine")
    return path


@pytest.fixture(scope="session")
def dataset_dir() -> Path:
    """The shared labelled X-rays; absent only off the project's machines (never in CI)."""
    return _shared_or_skip(DATASET)


@pytest.fixture(scope="session")
def multisource_dir() -> Path:
    """The shared multi-source training set (folder per label plus manifest.csv)."""
    return _shared_or_skip(MULTISOURCE)







@pytest.fixture(scope="session")
def small_multisource_dir(multisource_dir: Path, tmp_path_factory) -> Path:
    """Two patients of every (label, source) cell of the multi-source set."""
    return linked_multisource(tmp_path_factory.mktemp("multisource"), multisource_dir)


@pytest.fixture(scope="session")
def xray_paths(dataset_dir: Path) -> dict[str, list[Path]]:
    """Three shared X-ray files per class folder."""
    return first_files(dataset_dir, 3)


@pytest.fixture(scope="session")
def classifier():
    """The shipped default model, loaded once for the whole test session."""
    from core.serving.classifier import Classifier
    return Classifier.from_dir(REPO / "models" / "default")



# --- a real browser (Debian's chromium, driven by Playwright) against `streamlit run server.py` ---------------

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
    """`streamlit run server.py` on a free localhost port, one per test module, stopped after its tests."""
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
