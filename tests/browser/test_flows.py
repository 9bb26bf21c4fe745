"""A real browser (Debian's chromium, driven by Playwright) walks the app's flows on `streamlit run app.py`:
DICOM upload, a batch with a bad and a refused file, sorted and downloaded, the four-class threshold, several sessions
uploading at once, the evaluate-ZIP flow and the classroom pages."""
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from core.classes import CLASS_NAMES, DISPLAY_NAMES
from core.model.abstention import INCONCLUSIVE, OK, STATUS_TEXT
from core.model.questions import QUESTION_NAMES
from core.paths import SAMPLES_DIR
from core.serving.answers import answer_word, probability_phrase
from core.serving.diagnosis import diagnose
from core.serving.export import PROBABILITY_COLUMNS, TRIAGE_WIDTHS
from core.serving.report import png_bytes
from tests.support.browser import BROWSER_TIMEOUT_MS, finished, go_to
from tests.support.files import dicom_bytes, labelled_members, zip_bytes

PATIENT_NAME = "Doe^Jane"
CLASSROOM_PAGES = {  # each page's title, and what its first lesson puts on screen
    "Convolution lab": "stPlotlyChart", "Inside the CNN": "stDataFrame", "Train a CNN": "stForm",
    "Recurrent cell": "stPlotlyChart", "Shortcut learning": "stDataFrame"}
TIMEOUT_MS = BROWSER_TIMEOUT_MS


def assert_no_exception(page) -> None:
    from playwright.sync_api import expect
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_text("Traceback")).to_have_count(0)


def answer_panel(page):
    """The three answers' headlines, e.g. "Unlikely · 4.0 %"."""
    return page.locator('[data-testid="stMain"] [data-testid="stMarkdownContainer"] h4')


def expected_panel(result) -> list[str]:
    return [f"{answer_word(a).capitalize()} · {probability_phrase(a)}" for a in result.answers.values()]


def grid_rows(grid) -> list[list[str]]:
    """The cells of a dataframe's rows as its accessible table gives them (the canvas draws the same values)."""
    rows = grid.locator('[role="row"]')
    return [rows.nth(i).locator('[role="gridcell"]').all_inner_texts() for i in range(1, rows.count())]


def click_header(page, grid, column: str) -> None:
    """Click a column's header on the canvas (the selection checkboxes come first, about 40 px)."""
    box, widths = grid.bounding_box(), list(TRIAGE_WIDTHS.values())
    left = 40 + sum(widths[:list(TRIAGE_WIDTHS).index(column)])
    page.mouse.click(box["x"] + left + TRIAGE_WIDTHS[column] / 2, box["y"] + 18)


def payload(path: Path) -> dict:
    """A shared X-ray as an in-memory upload."""
    return {"name": path.name, "mimeType": "image/jpeg", "buffer": path.read_bytes()}


@pytest.fixture
def page(app_url, browser):
    """A fresh browser tab (its own Streamlit session) on the Diagnose page."""
    from playwright.sync_api import expect
    tab = browser.new_page(viewport={"width": 1400, "height": 1600})
    tab.goto(app_url)
    expect(tab.get_by_role("heading", name="Analyse an X-ray", exact=True)).to_be_visible(timeout=TIMEOUT_MS)
    yield tab
    tab.close()


def chest_dicom(source: Path, destination: Path) -> Path:
    """A 12-bit MONOCHROME2 DX file of a shared X-ray, with a patient name that must never be shown."""
    with Image.open(source) as image:
        stored = np.asarray(image.convert("L").reduce(2), dtype=np.uint16) * 16
    destination.write_bytes(dicom_bytes(stored, bits_stored=12, BodyPartExamined="CHEST", ViewPosition="PA",
                                        PixelSpacing=[0.14, 0.14], PatientName=PATIENT_NAME))
    return destination


def test_dicom_upload_shows_the_answers_and_dicom_details(page, xray_paths, tmp_path, screenshot_dir):
    from playwright.sync_api import expect

    dicom = chest_dicom(xray_paths["normal"][0], tmp_path / "chest.dcm")
    page.locator('input[type="file"]').set_input_files(str(dicom))
    expect(answer_panel(page)).to_have_count(3, timeout=TIMEOUT_MS)
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
    expect(answer_panel(page)).to_have_count(3)
    expect(page.get_by_test_id("stAlert").filter(has_text="NOTES could not be analysed: not an image file")).to_be_visible()
    assert_no_exception(page)


def test_a_batch_sorts_by_probability_downloads_numbers_and_gives_a_refused_file_none(page, classifier, screenshot_dir):
    from playwright.sync_api import expect

    films = sorted(SAMPLES_DIR.glob("*.png"))
    noise = (np.random.default_rng(0).random((300, 300)) * 255).astype(np.uint8)
    refused = {"name": "noise.png", "mimeType": "image/png", "buffer": png_bytes(noise)}
    bad = {"name": "not an x-ray.png", "mimeType": "image/png", "buffer": b"just some text, not a picture"}
    page.set_viewport_size({"width": 1280, "height": 720})
    page.locator('input[type="file"]').set_input_files([*(payload(path) for path in films), refused, bad])
    expect(page.get_by_role("heading", name=f"{len(films) + 1} films")).to_be_visible(timeout=TIMEOUT_MS)
    finished(page)
    expect(page.get_by_test_id("stAlert").filter(has_text=f"{bad['name']} could not be analysed")).to_be_visible()
    expect(page.get_by_test_id("stProgress")).to_have_count(0)  # the bar goes when the batch is done
    grid = page.get_by_test_id("stDataFrame").first
    column = list(TRIAGE_WIDTHS).index(PROBABILITY_COLUMNS["covid19"])
    expect(grid.locator('[role="row"]')).to_have_count(len(films) + 2, timeout=TIMEOUT_MS)  # header + every film analysed
    rows = {cells[0]: cells for cells in grid_rows(grid)}
    assert [rows["noise.png"][list(TRIAGE_WIDTHS).index(c)] for c in PROBABILITY_COLUMNS.values()] == ["", "", ""]
    click_header(page, grid, PROBABILITY_COLUMNS["covid19"])
    click_header(page, grid, PROBABILITY_COLUMNS["covid19"])  # the second click sorts descending
    expect(grid.locator('[role="columnheader"]').nth(column)).to_contain_text("↓")
    shown = [float(cells[column]) for cells in grid_rows(grid) if cells[column]]
    assert len(shown) == len(films) and shown == sorted(shown, reverse=True)
    assert_no_exception(page)
    page.screenshot(path=str(screenshot_dir / "diagnose_batch_1280x720.png"))

    with page.expect_download(timeout=30_000) as download:
        page.get_by_role("button", name="Download the answers (CSV)").click()
    table = pd.read_csv(download.value.path())
    assert table["file"].tolist() == [path.name for path in films] + ["noise.png"]
    numeric = [f"{q}_probability" for q in QUESTION_NAMES] + [f"p_{c}" for c in CLASS_NAMES]
    assert all(pd.api.types.is_float_dtype(table[column]) for column in numeric)
    assert table.set_index("file").loc["noise.png", numeric].isna().all()
    for path, (_, row) in zip(films, table.iloc[:-1].iterrows(), strict=True):  # the last row is noise.png
        expected = diagnose(classifier, path.name, path.read_bytes())
        assert row["covid19_probability"] == pytest.approx(expected.answers["covid19"].probability, abs=1e-6)
        assert row["model"] == classifier.card.identity and row["analysed_at"].endswith(" UTC")


def test_the_four_class_threshold_turns_that_reading_inconclusive_and_leaves_the_answers(page, classifier, xray_paths,
                                                                                        screenshot_dir):
    from playwright.sync_api import expect

    results = {path: diagnose(classifier, path.name, path.read_bytes()) for paths in xray_paths.values() for path in paths}
    confident = {path: r for path, r in results.items() if r.status(classifier.threshold) == OK}
    path = min(confident, key=lambda p: confident[p].probabilities.max())  # confident now, under the slider's top (1.0)
    assert confident[path].status(1.0) == INCONCLUSIVE

    page.locator('input[type="file"]').set_input_files(files=[payload(path)])
    def reading(start: str):
        return page.get_by_test_id("stMain").get_by_text(re.compile(f"^{re.escape(start)}: .* threshold"))

    expect(reading(DISPLAY_NAMES[confident[path].top])).to_have_count(1, timeout=TIMEOUT_MS)
    finished(page)
    slider = page.get_by_role("slider", name="Four-class threshold")
    slider.focus()
    page.keyboard.press("End")  # the slider's maximum, 1.00
    expect(reading(STATUS_TEXT[INCONCLUSIVE])).to_have_count(1, timeout=30_000)
    expect(slider).to_have_attribute("aria-valuetext", re.compile(r"^1(\.0+)?$"))
    finished(page)
    assert answer_panel(page).all_inner_texts() == expected_panel(confident[path])
    assert_no_exception(page)
    page.screenshot(path=str(screenshot_dir / "diagnose_threshold_inconclusive.png"), full_page=True)


def test_sessions_uploading_at_once_each_see_their_own_decision(app_url, browser, classifier, xray_paths,
                                                                 screenshot_dir):
    from playwright.sync_api import expect

    paths = [files[0] for files in xray_paths.values()]  # one X-ray per class folder
    expected = {path: expected_panel(diagnose(classifier, path.name, path.read_bytes())) for path in paths}
    assert len({tuple(panel) for panel in expected.values()}) == len(paths), "identical answers could hide cross-talk"

    contexts = [browser.new_context(viewport={"width": 1400, "height": 1600}) for _ in paths]  # no shared cookies
    try:
        tabs = [context.new_page() for context in contexts]
        for tab in tabs:
            tab.goto(app_url)
        for tab in tabs:
            expect(tab.get_by_role("heading", name="Analyse an X-ray", exact=True)).to_be_visible(timeout=TIMEOUT_MS)
        for tab, path in zip(tabs, paths, strict=True):  # each call returns once the browser has the file: the uploads overlap
            tab.locator('input[type="file"]').set_input_files(files=[payload(path)])
        for i, (tab, path) in enumerate(zip(tabs, paths, strict=True)):
            expect(answer_panel(tab)).to_have_text(expected[path], timeout=TIMEOUT_MS)
            finished(tab)
            expect(answer_panel(tab)).to_have_text(expected[path])
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


def test_names_with_bare_urls_and_e_mail_addresses_become_no_link(page, xray_paths):
    from playwright.sync_api import expect

    films = [xray_paths["normal"][0].read_bytes(), xray_paths["covid19"][0].read_bytes()]
    files = [{"name": "www.x.invalid.png", "mimeType": "image/jpeg", "buffer": films[0]},
             {"name": "me@x.invalid.png", "mimeType": "image/jpeg", "buffer": films[1]},
             {"name": "see https:x.invalid note.png", "mimeType": "image/png", "buffer": b"not an image"}]
    page.locator('input[type="file"]').set_input_files(files)
    expect(page.get_by_role("heading", name="2 films")).to_be_visible(timeout=TIMEOUT_MS)
    finished(page)
    main = page.get_by_test_id("stMain")
    expect(main.get_by_text("could not be analysed")).to_be_visible()
    expect(main.locator("a[href*='x.invalid'], a[href^='mailto']")).to_have_count(0)
    assert "www.x.invalid.png" in main.inner_text().replace("\u2060", "")
