"""A real browser (Debian's chromium, driven by Playwright) uploads an X-ray to `streamlit run server.py`."""
from pathlib import Path

from core.serving.answers import TITLES

ANSWER_HEADINGS = '[data-testid="stMain"] [data-testid="stMarkdownContainer"] h4'  # "Unlikely · 4.0 %", one a question


def test_upload_shows_the_answer_panel_in_the_first_720_px_then_the_overlay_and_downloads(app_url, browser, screenshot_dir,
                                                                                          xray_paths):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(app_url)
    page.locator('input[type="file"]').set_input_files(str(xray_paths["viral_pneumonia"][0]))
    answers = page.locator(ANSWER_HEADINGS)
    expect(answers).to_have_count(3, timeout=120_000)  # the first upload also waits for the model to load
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning", timeout=120_000)
    for title in TITLES.values():
        expect(page.get_by_text(title, exact=True)).to_be_in_viewport()
    assert all(answers.nth(i).bounding_box()["y"] + answers.nth(i).bounding_box()["height"] <= 720 for i in range(3))
    assert page.get_by_test_id("stAlertContentSuccess").count() == 0  # no model answer styled as approval
    page.screenshot(path=str(screenshot_dir / "diagnose_upload_1280x720.png"))
    page.set_viewport_size({"width": 1400, "height": 1600})
    overlay = page.get_by_test_id("stImage").filter(has_text="Grad-CAM for").locator("img")
    expect(overlay).to_be_visible(timeout=30_000)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=overlay.element_handle())
    expect(page.get_by_test_id("stPlotlyChart").locator(".main-svg").first).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    page.screenshot(path=str(screenshot_dir / "diagnose_upload.png"), full_page=True)
    for button, signature in (("Report (PDF)", b"%PDF"), ("Overlay (PNG)", b"\x89PNG")):
        with page.expect_download(timeout=30_000) as download:
            page.get_by_role("button", name=button).click()
        assert Path(download.value.path()).read_bytes().startswith(signature), button


# The labels of visible buttons in the main area that Streamlit cut with an ellipsis: the text's own width (canvas
# measureText in the label's font) is wider than the box it is drawn in.
CUT_LABELS_JS = """() => [...document.querySelectorAll('[data-testid="stMain"] button .stMarkdownEllipsis')]
    .filter(box => box.getClientRects().length > 0).filter(box => {
        const text = document.createElement("canvas").getContext("2d");
        text.font = getComputedStyle(box.querySelector("p") || box).font;
        return text.measureText(box.textContent).width > box.getBoundingClientRect().width + 0.02;
    }).map(box => box.textContent)"""


def test_every_button_label_on_a_result_is_whole_at_1280_px(app_url, browser, xray_paths):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(app_url)
    page.locator('input[type="file"]').set_input_files(str(xray_paths["normal"][0]))
    expect(page.get_by_role("button", name="Report (PDF)")).to_be_visible(timeout=120_000)
    expect(page.get_by_role("button", name="Clear the results")).to_be_visible()
    assert page.evaluate(CUT_LABELS_JS) == []
