"""The classroom pages in projector mode, in a real browser at a projector's 1280 × 720: big images and numbers, each
section's controls and what they change on one screen, a click on a pixel that shows its sum, and a switch that
stays on from page to page."""
import re

import numpy as np
import pytest

from core.imaging.phantom import chest_phantom
from core.teaching.convolution import KERNEL_PRESETS
from tests.support.browser import BROWSER_TIMEOUT_MS, finished, go_to

PROJECTOR_SCREEN = {"width": 1280, "height": 720}
TIMEOUT_MS = BROWSER_TIMEOUT_MS
SIDEBAR_PX = 15 * 16  # projector mode narrows the sidebar to 15rem, so each section's controls sit beside their result


def on_screen(box: dict | None) -> bool:
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= PROJECTOR_SCREEN["height"]


def figure(page, title: str):
    """The Plotly figure titled exactly `title`."""
    return page.locator(".js-plotly-plot").filter(has=page.locator("text.gtitle", has_text=re.compile(f"^{re.escape(title)}$")))


def picture(page, title: str):
    """The drawn image inside the Plotly figure titled `title`."""
    return figure(page, title).locator(".heatmaplayer image").first


@pytest.fixture
def page(app_url, browser):
    tab = browser.new_page(viewport=PROJECTOR_SCREEN)
    tab.goto(app_url)
    finished(tab)
    yield tab
    tab.close()


def test_the_convolution_lab_on_a_projector_shows_a_clicked_pixels_sum(page, screenshot_dir):
    from playwright.sync_api import expect
    go_to(page, "Convolution lab")
    page.get_by_role("switch", name="Projector").check(force=True)  # the input is visually hidden behind its track
    expect(page.get_by_test_id("stSidebar")).to_have_css("width", f"{SIDEBAR_PX}px", timeout=TIMEOUT_MS)  # projector mode's narrow sidebar
    finished(page)
    page.get_by_role("heading", name="1 · A kernel slides over an image").evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(500)

    image = picture(page, "Input: click any pixel")
    box = image.bounding_box()
    assert box["width"] >= 320 and box["height"] >= 320
    assert picture(page, "Feature map (Sobel x), 128 × 128").bounding_box()["width"] >= 320
    sizes = figure(page, "Window (0–255)").locator("text[data-notex]").evaluate_all(
        "texts => texts.map(t => parseFloat(getComputedStyle(t).fontSize))")
    assert len(sizes) == 9 and min(sizes) >= 16  # the window's nine numbers
    controls = (page.get_by_text("Chest phantom"), page.get_by_test_id("stSelectbox").filter(has_text="Kernel"),
                page.get_by_role("group", name="Stride", exact=True), page.get_by_role("group", name="Zero padding", exact=True))
    for control in (*controls, image, page.get_by_text("Sum of the products")):
        assert on_screen(control.bounding_box()), control  # the controls and what they change, on one screen

    row, col = 80, 40  # a rib's edge: counted from 1, as the page counts
    side = 128
    page.mouse.click(box["x"] + (col - 0.5) * box["width"] / side, box["y"] + (row - 0.5) * box["height"] / side)
    finished(page)
    expect(page.get_by_role("spinbutton", name="Pixel row")).to_have_value(str(row))
    expect(page.get_by_role("spinbutton", name="Pixel column")).to_have_value(str(col))
    brightness = np.round(chest_phantom(side) * 255)
    total = (brightness[row - 2:row + 1, col - 2:col + 1] * KERNEL_PRESETS["Sobel x"]).sum()
    expect(page.get_by_text(re.compile(rf"^Sum of the products = {total:.4g}; ÷ 255"))).to_be_visible()
    page.screenshot(path=screenshot_dir / "convolution_lab_projector_1280x720.png")

    page.get_by_text("The slide's 7×7 example").evaluate("e => e.scrollIntoView({block: 'start'})")  # section 2's controls
    page.wait_for_timeout(500)
    for control in (page.get_by_role("button", name="▶ Play"), page.get_by_role("group", name="Output cell"),
                    page.get_by_text("Output cell 1 of 9"), figure(page, "Input"), figure(page, "Window × kernel")):
        assert on_screen(control.bounding_box()), control

    go_to(page, "Recurrent cell")
    expect(page.get_by_role("switch", name="Projector")).to_be_checked()  # the same session: still on
    expect(page.get_by_test_id("stSidebar")).to_have_css("width", f"{SIDEBAR_PX}px", timeout=TIMEOUT_MS)
    page.get_by_role("heading", name="A simple RNN, step by step").evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(500)
    results = page.get_by_test_id("stTable").first
    for weights_and_result in (page.get_by_text("W_xh: input"), results, page.get_by_text("the network predicts")):
        assert on_screen(weights_and_result.bounding_box())
    page.screenshot(path=screenshot_dir / "recurrent_cell_projector_1280x720.png")


# ----------------------------------------------------------------------------- readable from the back row

SMALL_CHART_TEXT = """plots => plots.flatMap(plot => [...plot.querySelectorAll('svg text')]
    .filter(t => t.textContent.trim() && parseFloat(getComputedStyle(t).fontSize) < 16)
    .map(t => `${t.textContent.trim()}: ${getComputedStyle(t).fontSize}`))"""
CLIPPED_CHART_TEXT = """plot => { const box = plot.querySelector('svg.main-svg').getBoundingClientRect();
    return [...plot.querySelectorAll('svg text')].filter(t => t.textContent.trim()).filter(t => {
        const r = t.getBoundingClientRect();
        return r.top < box.top || r.bottom > box.bottom || r.left < box.left || r.right > box.right; })
    .map(t => t.textContent.trim()); }"""


def small_chart_text(page) -> list[str]:
    """Every text drawn in the page's charts below 16 px, after each chart is scrolled into view (Streamlit draws a
    chart only when it is on screen)."""
    charts = page.get_by_test_id("stPlotlyChart")
    for i in range(charts.count()):
        charts.nth(i).scroll_into_view_if_needed()
        page.wait_for_timeout(300)
    return page.locator(".js-plotly-plot").evaluate_all(SMALL_CHART_TEXT)


def projector_page(browser, app_url, size: dict, title: str):
    """A new session at `size`, on the page titled `title`, with Projector mode on."""
    from playwright.sync_api import expect
    tab = browser.new_page(viewport=size)
    tab.goto(app_url)
    finished(tab)
    go_to(tab, title)
    tab.get_by_role("switch", name="Projector").check(force=True)
    expect(tab.get_by_test_id("stSidebar")).to_have_css("width", f"{SIDEBAR_PX}px", timeout=TIMEOUT_MS)
    finished(tab)
    return tab


def test_every_chart_text_and_dropdown_value_is_at_least_16px_in_projector_mode(browser, app_url, screenshot_dir):
    from playwright.sync_api import expect
    page = projector_page(browser, app_url, PROJECTOR_SCREEN, "Convolution lab")
    measured = {"dropdown values": 0}
    for title in ("Convolution lab", "Inside the CNN", "Recurrent cell", "Shortcut learning"):
        go_to(page, title)
        assert page.get_by_test_id("stPlotlyChart").count() > 0, title
        assert small_chart_text(page) == [], title
        values = page.get_by_test_id("stSelectbox").locator("input").evaluate_all(
            "inputs => inputs.map(i => parseFloat(getComputedStyle(i).fontSize))")
        assert min(values, default=16) >= 16, title
        measured["dropdown values"] += len(values)
        page.screenshot(path=screenshot_dir / f"{title.lower().replace(' ', '_')}_projector_fonts_1280x720.png")
    assert all(measured.values()), measured

    go_to(page, "Train a CNN")  # the live curves, once an epoch is drawn
    page.get_by_role("button", name="Train", exact=True).click()
    expect(page.locator(".js-plotly-plot").filter(has=page.locator("text", has_text="Accuracy")).first).to_be_visible(
        timeout=TIMEOUT_MS)
    assert small_chart_text(page) == []
    nav = page.get_by_test_id("stSidebarNavLink").filter(has_text="Model performance").locator("p")
    assert nav.evaluate("p => p.scrollWidth <= p.clientWidth && p.closest('a').scrollWidth <= p.closest('a').clientWidth")
    page.close()


FONT_SIZES = "cells => cells.map(c => parseFloat(getComputedStyle(c).fontSize))"
WIDER_THAN_SHOWN = """tables => tables.filter(t =>
    t.querySelector('table').getBoundingClientRect().width > t.getBoundingClientRect().width + 1).length"""


def test_every_classroom_table_is_html_with_every_cell_at_least_16px_in_projector_mode(browser, app_url, screenshot_dir):
    """No canvas grid (st.dataframe, st.data_editor: 13 px text no styling reaches): tables and editable weights and
    kernels are drawn in HTML, every cell at 16 px or more, and no table is wider than the page."""
    from playwright.sync_api import expect
    page = projector_page(browser, app_url, PROJECTOR_SCREEN, "Convolution lab")
    page.get_by_test_id("stSelectbox").filter(has_text="Kernel").click()
    page.get_by_role("option", name="Custom 3×3").click()
    kernel = page.get_by_role("spinbutton", name=re.compile(r"^Row \d, column \d$"))
    expect(kernel).to_have_count(9, timeout=TIMEOUT_MS)  # the kernel's cells
    finished(page)
    for title in ("Convolution lab", "Inside the CNN", "Recurrent cell", "Shortcut learning"):
        if title != "Convolution lab":
            go_to(page, title)
        assert page.get_by_test_id("stDataFrame").count() == 0, title
        tables = page.get_by_test_id("stTable")
        cells = tables.locator("td, th").evaluate_all(FONT_SIZES)
        boxes = page.get_by_test_id("stNumberInput").locator("input").evaluate_all(FONT_SIZES)
        assert (cells or title == "Convolution lab") and min(cells + boxes) >= 16, title  # the lab's only table: its kernel
        assert tables.evaluate_all(WIDER_THAN_SHOWN) == 0, title
        page.screenshot(path=screenshot_dir / f"{title.lower().replace(' ', '_')}_projector_tables_1280x720.png")
    page.close()


@pytest.mark.parametrize("size", [PROJECTOR_SCREEN, {"width": 1920, "height": 1080}], ids=["1280x720", "1920x1080"])
def test_no_text_in_the_recurrent_cells_chart_is_clipped(browser, app_url, size, screenshot_dir):
    from playwright.sync_api import expect
    page = projector_page(browser, app_url, size, "Recurrent cell")
    heading = page.get_by_test_id("stMainBlockContainer").get_by_text("After reading 'h':")
    heading.scroll_into_view_if_needed()
    chart = page.get_by_test_id("stPlotlyChart").first
    chart.scroll_into_view_if_needed()
    expect(chart.locator("svg text").first).to_be_visible()
    heading_box, chart_box = heading.bounding_box(), chart.bounding_box()
    assert heading_box["y"] + heading_box["height"] <= chart_box["y"] + 1  # the chart's title, above it as text
    assert chart.locator(".js-plotly-plot").evaluate(CLIPPED_CHART_TEXT) == []
    assert chart.locator(".xtick text").evaluate_all("ts => ts.map(t => t.textContent)") == ["h", "e", "l", "o"]
    page.screenshot(path=screenshot_dir / f"recurrent_chart_projector_{size['width']}x{size['height']}.png")
    page.close()


def test_the_filter_pictures_progress_stop_and_first_picture_fit_one_projector_screen(browser, app_url, screenshot_dir):
    from playwright.sync_api import expect
    page = projector_page(browser, app_url, PROJECTOR_SCREEN, "Inside the CNN")
    page.get_by_role("heading", name="5 · What a filter looks for").evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(500)
    page.get_by_role("button", name="Visualise these filters").click()
    progress = page.get_by_test_id("stProgress")
    expect(progress).to_be_visible(timeout=TIMEOUT_MS)
    assert on_screen(progress.bounding_box()) and on_screen(page.get_by_role("button", name="■ Stop").bounding_box())
    page.screenshot(path=screenshot_dir / "filter_progress_projector_1280x720.png")
    pictures = page.locator(".js-plotly-plot").filter(has=page.locator("text", has_text="filter 0"))
    expect(pictures).to_be_visible(timeout=TIMEOUT_MS)
    page.wait_for_timeout(500)
    assert on_screen(pictures.bounding_box())
    page.screenshot(path=screenshot_dir / "filter_pictures_projector_1280x720.png")
    page.close()
