"""A real browser (Debian's chromium, driven by Playwright) walks the app's flows on `streamlit run app.py`:
DICOM upload, a batch with a bad file and its CSV, the threshold slider, several sessions uploading at once,
the evaluate-ZIP flow and the classroom pages."""
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import BROWSER_TIMEOUT_MS, dicom_bytes, finished, go_to, labelled_members, zip_bytes
from PIL import Image

from core.classes import DISPLAY_NAMES
from core.model.abstention import INCONCLUSIVE, OK, STATUS_TEXT
from core.serving.diagnosis import diagnose
from core.serving.probability_text import probability_text
from core.serving.report import decision_text

DECISION = re.compile("^(" + "|".join(map(re.escape, (*STATUS_TEXT.values(), *DISPLAY_NAMES))) + "): ")
PATIENT_NAME = "Doe^Jane"
CLASSROOM_PAGES = {  # each page's title, and what its first lesson puts on screen
    "Convolution lab": "stPlotlyChart", "Inside the CNN": "stDataFrame", "Train a CNN": "stForm",
    "Recurrent cell": "stPlotlyChart", "Shortcut learning": "stDataFrame"}
TIMEOUT_MS = BROWSER_TIMEOUT_MS


def assert_no_exception(page) -> None:
    from playwright.sync_api import expect
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_text("Traceback")).to_have_count(0)


def decision(page):
    return page.get_by_test_id("stAlert").filter(has_text=DECISION)


def payload(path: Path) -> dict:
    """A shared X-ray as an in-memory upload."""
    return {"name": path.name, "mimeType": "image/jpeg", "buffer": path.read_bytes()}


@pytest.fixture
def page(app_url, browser):
    """A fresh browser tab (its own Streamlit session) on the Diagnose page."""
    from playwright.sync_api import expect
    tab = browser.new_page(viewport={"width": 1400, "height": 1600})
    tab.goto(app_url)
    expect(tab.get_by_role("heading", name="Diagnose", exact=True)).to_be_visible(timeout=TIMEOUT_MS)
    yield tab
    tab.close()


def chest_dicom(source: Path, destination: Path) -> Path:
    """A 12-bit MONOCHROME2 DX file of a shared X-ray, with a patient name that must never be shown."""
    with Image.open(source) as image:
        stored = np.asarray(image.convert("L").reduce(2), dtype=np.uint16) * 16
    destination.write_bytes(dicom_bytes(stored, bits_stored=12, BodyPartExamined="CHEST", ViewPosition="PA",
                                        PixelSpacing=[0.14, 0.14], PatientName=PATIENT_NAME))
    return destination


def test_dicom_upload_shows_decision_and_dicom_details(page, xray_paths, tmp_path, screenshot_dir):
    from playwright.sync_api import expect

    dicom = chest_dicom(xray_paths["normal"][0], tmp_path / "chest.dcm")
    page.locator('input[type="file"]').set_input_files(str(dicom))
    expect(decision(page)).to_be_visible(timeout=TIMEOUT_MS)
    finished(page)
    details = page.get_by_test_id("stExpander").filter(has_text="Image details").get_by_test_id("stTable")
    for field, value in (("Format", "DICOM"), ("Modality", "DX"), ("Body part", "CHEST"), ("View position", "PA")):
        expect(details.locator("tr").filter(has_text=field).first).to_contain_text(value)
    expect(page.get_by_text("DICOM window")).to_be_visible()
    shown = page.inner_text("body")
    assert not any(part in shown for part in PATIENT_NAME.split("^")), "the patient's name is on the page"
    assert_no_exception(page)
    page.screenshot(path=str(screenshot_dir / "diagnose_dicom.png"), full_page=True)


def test_files_without_an_extension_are_read_by_content(page, xray_paths, tmp_path):
    from playwright.sync_api import expect

    dicom = chest_dicom(xray_paths["normal"][0], tmp_path / "IM0001")  # scanners often write DICOMs like this
    notes = {"name": "NOTES", "mimeType": "application/octet-stream", "buffer": b"ward round notes, not an image"}
    scan = {"name": dicom.name, "mimeType": "application/octet-stream", "buffer": dicom.read_bytes()}
    page.locator('input[type="file"]').set_input_files([scan, notes])
    expect(page.get_by_role("heading", name="IM0001")).to_be_visible(timeout=TIMEOUT_MS)
    finished(page)
    expect(decision(page)).to_be_visible()
    expect(page.get_by_test_id("stAlert").filter(has_text="NOTES could not be analysed: not an image file")).to_be_visible()
    assert_no_exception(page)


def test_batch_with_a_bad_file_names_it_and_downloads_the_other_rows(page, classifier, xray_paths, screenshot_dir):
    from playwright.sync_api import expect

    xrays = [xray_paths["bacterial_pneumonia"][0], xray_paths["covid19"][0]]
    bad = {"name": "not an x-ray.png", "mimeType": "image/png", "buffer": b"just some text, not a picture"}
    page.locator('input[type="file"]').set_input_files([payload(xrays[0]), bad, payload(xrays[1])])
    expect(page.get_by_role("heading", name="2 images")).to_be_visible(timeout=TIMEOUT_MS)
    finished(page)
    expect(page.get_by_test_id("stAlert").filter(has_text=f"{bad['name']} could not be analysed")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()  # the batch table (the second lists the training sources)
    expect(decision(page)).to_be_visible()
    expect(page.get_by_test_id("stPlotlyChart").locator(".main-svg").first).to_be_visible()
    assert_no_exception(page)
    page.screenshot(path=str(screenshot_dir / "diagnose_batch.png"), full_page=True)

    with page.expect_download(timeout=30_000) as download:
        page.get_by_role("button", name="Download the table (CSV)").click()
    assert download.value.suggested_filename.endswith(".csv")
    table = pd.read_csv(download.value.path())
    assert table["File"].tolist() == [path.name for path in xrays]
    for path, (_, row) in zip(xrays, table.iterrows()):
        expected = diagnose(classifier, path.name, path.read_bytes())
        assert row["Top class"] == DISPLAY_NAMES[expected.top]
        assert list(row[list(DISPLAY_NAMES)]) == [probability_text(p) for p in expected.probabilities]
        assert row["Model"] == classifier.card.identity and row["Time"].endswith(" UTC")


def test_threshold_slider_turns_the_decision_inconclusive(page, classifier, xray_paths, screenshot_dir):
    from playwright.sync_api import expect

    results = {path: diagnose(classifier, path.name, path.read_bytes()) for paths in xray_paths.values() for path in paths}
    confident = {path: r for path, r in results.items() if r.status(classifier.threshold) == OK}
    path = min(confident, key=lambda p: confident[p].probabilities.max())  # confident now, under the slider's top (1.0)
    assert confident[path].status(1.0) == INCONCLUSIVE

    page.locator('input[type="file"]').set_input_files(files=[payload(path)])
    expect(decision(page)).to_have_text(re.compile(f"^{re.escape(DISPLAY_NAMES[confident[path].top])}: "),
                                        timeout=TIMEOUT_MS)
    finished(page)
    slider = page.get_by_role("slider", name="Decision threshold")
    slider.focus()
    page.keyboard.press("End")  # the slider's maximum, 1.00
    expect(decision(page)).to_have_text(re.compile(f"^{STATUS_TEXT[INCONCLUSIVE]}: "), timeout=30_000)
    expect(slider).to_have_attribute("aria-valuetext", re.compile(r"^1(\.0+)?$"))
    finished(page)
    assert_no_exception(page)
    page.screenshot(path=str(screenshot_dir / "diagnose_threshold_inconclusive.png"), full_page=True)


def test_sessions_uploading_at_once_each_see_their_own_decision(app_url, browser, classifier, xray_paths,
                                                                 screenshot_dir):
    from playwright.sync_api import expect

    paths = [files[0] for files in xray_paths.values()]  # one X-ray per class folder
    threshold = round(classifier.threshold, 2)  # the slider's starting value
    expected = {}
    for path in paths:
        result = diagnose(classifier, path.name, path.read_bytes())
        expected[path] = "{}: {}".format(*decision_text(result.probabilities, result.status(threshold), threshold))
    assert len(set(expected.values())) == len(paths), "identical decisions could hide cross-talk"
    assert len({text.split(":")[0] for text in expected.values()}) >= 2

    contexts = [browser.new_context(viewport={"width": 1400, "height": 1600}) for _ in paths]  # no shared cookies
    try:
        tabs = [context.new_page() for context in contexts]
        for tab in tabs:
            tab.goto(app_url)
        for tab in tabs:
            expect(tab.get_by_role("heading", name="Diagnose", exact=True)).to_be_visible(timeout=TIMEOUT_MS)
        for tab, path in zip(tabs, paths):  # each call returns once the browser has the file: the uploads overlap
            tab.locator('input[type="file"]').set_input_files(files=[payload(path)])
        for i, (tab, path) in enumerate(zip(tabs, paths)):
            expect(decision(tab)).to_have_text(expected[path], timeout=TIMEOUT_MS)
            finished(tab)
            expect(decision(tab)).to_have_text(expected[path])
            expect(tab.get_by_role("heading", name=path.name, exact=True)).to_be_visible()
            assert_no_exception(tab)
            tab.screenshot(path=str(screenshot_dir / f"diagnose_session_{i + 1}.png"), full_page=True)
    finally:
        for context in contexts:
            context.close()


def test_evaluating_an_uploaded_zip_shows_a_confusion_matrix(page, xray_paths, screenshot_dir):
    from playwright.sync_api import expect

    go_to(page, "Model performance")
    page.get_by_role("tab", name="Evaluate your own images").click()
    own = page.get_by_role("tabpanel").filter(has_text="Upload a ZIP with one folder per class")
    archive = zip_bytes(labelled_members({label: paths[:1] for label, paths in xray_paths.items()}))
    own.locator('input[type="file"]').set_input_files(files=[{"name": "my_xrays.zip", "mimeType": "application/zip", "buffer": archive}])
    expect(own.get_by_test_id("stMetric").filter(has_text="Images evaluated")).to_contain_text(
        str(len(xray_paths)), timeout=TIMEOUT_MS)
    finished(page)
    expect(own.get_by_role("heading", name="Confusion matrix")).to_be_visible()
    matrix = own.get_by_test_id("stPlotlyChart").first
    expect(matrix.locator(".heatmaplayer")).to_be_attached()
    for text in ("True class", "Predicted class", *DISPLAY_NAMES):
        expect(matrix).to_contain_text(text)
    assert_no_exception(page)
    page.screenshot(path=str(screenshot_dir / "performance_evaluate_zip.png"), full_page=True)


@pytest.mark.parametrize("title, content", CLASSROOM_PAGES.items())
def test_classroom_page_opens_with_its_lesson_on_screen(page, title, content, screenshot_dir):
    from playwright.sync_api import expect

    go_to(page, title)
    expect(page.get_by_test_id(content).first).to_be_visible()
    expect(page.get_by_test_id("stAlert").filter(has=page.locator("[data-testid=stAlertContentError]"))).to_have_count(0)
    assert_no_exception(page)
    page.screenshot(path=str(screenshot_dir / f"classroom_{title.lower().replace(' ', '_')}.png"), full_page=True)
