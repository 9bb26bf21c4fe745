"""Shared test set-up: the Keras cache with ../shared's ImageNet weights, the shared X-rays as fixtures, one DICOM
builder, one dataset builder, a real browser against `streamlit run app.py`, and the markers and the closing line
that say which tests did not run."""
import csv
import io
import os
import shutil
import tempfile
import warnings
import zipfile
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest
from pydicom import config as dicom_config
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian, generate_uid

from core.paths import REPO_ROOT as REPO
from core.paths import SHARED_DATASETS
from core.paths import TEACHING_DATASET as DATASET
from core.paths import TRAINING_DATASET as MULTISOURCE
from scripts.local_app import CHROMIUM, CHROMIUM_ARGS, running_app

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


def first_files(dataset: Path, per_class: int) -> dict[str, list[Path]]:
    """The first `per_class` files (sorted, so stable across runs) of every class folder of a data set."""
    return {d.name: sorted(p for p in d.iterdir() if p.is_file())[:per_class] for d in sorted(dataset.iterdir()) if d.is_dir()}


def linked_dataset(root: Path, files: dict[str, Iterable[Path]]) -> Path:
    """A folder-per-class data set of symbolic links to shared images (nothing is copied, nothing lands in the repo)."""
    for label, paths in files.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        for path in paths:
            (root / label / path.name).symlink_to(path)
    return root


def labelled_members(files: dict[str, Iterable[Path]]) -> dict[str, bytes]:
    """The same images as 'class/file' ZIP members."""
    return {f"{label}/{path.name}": path.read_bytes() for label, paths in files.items() for path in paths}


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    """A ZIP archive built in memory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def linked_multisource(root: Path, multisource: Path, per_cell: int = 2) -> Path:
    """A small copy of the multi-source set (links): the first `per_cell` patients of every (label, source) cell,
    with their manifest rows."""
    with open(multisource / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    kept, patients = [], {}
    for row in rows:
        cell = patients.setdefault((row["label"], row["source"]), set())
        if row["patient"] in cell or len(cell) < per_cell:
            cell.add(row["patient"])
            kept.append(row)
    files: dict[str, list[Path]] = {}
    for row in kept:
        label, _ = row["file"].split("/")
        files.setdefault(label, []).append(multisource / row["file"])
    linked_dataset(root, files)
    with open(root / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)
    return root


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


# --- DICOM files, built at test time -----------------------------------------------------------------------

def dicom_bytes(pixels: np.ndarray, photometric: str = "MONOCHROME2", bits_stored: int = 8,
                transfer_syntax: str = ExplicitVRLittleEndian, **elements) -> bytes:
    """A DX DICOM file holding `pixels` as stored values, with extra elements by keyword (None deletes one).
    Values are written unchecked, so a test can build the broken files a scanner or an attacker might send."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = DigitalXRayImageStorageForPresentation, generate_uid(), "DX"
    ds.set_pixel_data(pixels, photometric, bits_stored)
    buffer, checking = io.BytesIO(), dicom_config.settings.writing_validation_mode
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dicom_config.settings.writing_validation_mode = dicom_config.IGNORE
        try:
            for keyword, value in elements.items():
                if value is None:
                    delattr(ds, keyword)
                else:
                    setattr(ds, keyword, value)
            ds.file_meta.TransferSyntaxUID = transfer_syntax
            ds.save_as(buffer, enforce_file_format=True)
        finally:
            dicom_config.settings.writing_validation_mode = checking
    return buffer.getvalue()


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


BROWSER_TIMEOUT_MS = 120_000  # generous: a first page waits for TensorFlow and the model to load on 2 cores


def finished(page) -> None:
    """Wait until the app's script run has finished, so everything it shows is on the page."""
    from playwright.sync_api import expect
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning", timeout=BROWSER_TIMEOUT_MS)


def go_to(page, title: str) -> None:
    """Open a page through its link in the sidebar navigation and wait for it to finish rendering."""
    from playwright.sync_api import expect
    page.get_by_test_id("stSidebarNavLink").filter(has_text=title).click()
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible(timeout=BROWSER_TIMEOUT_MS)
    finished(page)


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory) -> Path:
    """Where browser tests save their screenshots: $SCREENSHOT_DIR (CI keeps it as an artifact), else a temp dir."""
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
