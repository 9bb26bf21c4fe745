"""Train a CNN in a real browser at a projector's 1280 × 720: after Train, the bar, Pause and the curves are on the
first screen in readable type, the runs table fits the screen, and a ZIP of real X-rays trains to a test accuracy."""
import re

import pytest

from tests.support.browser import BROWSER_TIMEOUT_MS as TIMEOUT_MS
from tests.support.browser import finished, go_to
from tests.support.files import first_files, labelled_members, zip_bytes

PROJECTOR_SCREEN = {"width": 1280, "height": 720}
ZIP_PER_CLASS = 5  # the fewest a class may have: a short run


def on_screen(box: dict | None) -> bool:
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= PROJECTOR_SCREEN["height"]


def font_sizes_px(element) -> list[float]:
    """The computed font size of every text an SVG chart draws."""
    return element.locator("svg text").evaluate_all("texts => texts.map(t => parseFloat(getComputedStyle(t).fontSize))")


def fits_across(table) -> bool:
    """No part of the table scrolls sideways, and its last header cell ends inside the screen."""
    scrolls = table.evaluate("t => [t, ...t.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 1 "
                             "&& ['auto', 'scroll'].includes(getComputedStyle(e).overflowX))")
    last = table.locator("th").last.bounding_box()
    return not scrolls and last is not None and last["x"] + last["width"] <= PROJECTOR_SCREEN["width"]


@pytest.mark.training
def test_after_train_the_bar_and_curves_are_on_a_projector_screen_and_the_runs_fit_across(app_url, browser, screenshot_dir):
    from playwright.sync_api import expect
    page = browser.new_page(viewport=PROJECTOR_SCREEN)
    page.goto(app_url)
    finished(page)
    go_to(page, "Train a CNN")
    page.get_by_role("switch", name="Projector").check(force=True)
    finished(page)
    page.get_by_text("Slow motion: at least 1 s an epoch").click()
    finished(page)
    train = page.get_by_role("button", name="Train", exact=True)
    assert on_screen(train.bounding_box())  # pressed without scrolling
    train.click()
    pause = page.get_by_role("button", name="Pause")
    expect(pause).to_be_visible(timeout=TIMEOUT_MS)
    bar = page.get_by_test_id("stProgress").first
    curves = page.get_by_test_id("stPlotlyChart").filter(has_text="Accuracy").first
    expect(curves.get_by_text("validation")).to_be_visible(timeout=TIMEOUT_MS)  # legend drawn: the chart is complete
    page.screenshot(path=screenshot_dir / "train_a_cnn_projector_1280x720.png")
    for shown in (bar, pause, curves):  # the training curves too, without scrolling (retried: the view redraws each second)
        expect(shown).to_be_in_viewport(ratio=1)
    sizes = font_sizes_px(curves)
    assert sizes and min(sizes) >= 16, sizes
    page.get_by_role("button", name="■ Stop").click()

    runs = page.get_by_test_id("stTable").filter(has_text="Seconds")
    expect(runs).to_be_visible(timeout=TIMEOUT_MS)
    finished(page)
    runs.scroll_into_view_if_needed()
    page.screenshot(path=screenshot_dir / "train_a_cnn_runs_projector_1280x720.png")
    assert fits_across(runs)
    page.close()


@pytest.mark.training
def test_a_zip_of_real_xrays_trains_to_a_test_accuracy(app_url, browser, dataset_dir):
    from playwright.sync_api import expect
    archive = zip_bytes(labelled_members(first_files(dataset_dir, ZIP_PER_CLASS)))
    page = browser.new_page(viewport=PROJECTOR_SCREEN)
    page.goto(app_url)
    finished(page)
    go_to(page, "Train a CNN")
    live = page.get_by_role("tabpanel", name="Train live")
    live.get_by_text("Chest X-rays at low resolution").click()
    finished(page)
    live.get_by_text("Chest X-rays from a ZIP you upload").click()
    finished(page)
    live.locator('input[type="file"]').set_input_files(files=[{"name": "x-rays.zip", "mimeType": "application/zip",
                                                               "buffer": archive}])
    finished(page)
    live.get_by_role("button", name="Load the X-rays at 64 × 64 pixels").click()  # the default size
    train = live.get_by_role("button", name="Train", exact=True)
    expect(train).to_be_enabled(timeout=TIMEOUT_MS)
    epochs = page.get_by_role("slider", name="Epochs")
    epochs.press("Home")
    epochs.press("ArrowRight")  # 2 epochs
    expect(epochs).to_have_value("2")
    train.click()
    accuracy = page.get_by_test_id("stMetric").filter(has_text="Test accuracy")
    expect(accuracy).to_contain_text(re.compile(r"\d+\.\d%"), timeout=TIMEOUT_MS)
    expect(page.get_by_text("Last run: Chest X-rays 64×64 (your ZIP)")).to_be_visible()
    page.close()
