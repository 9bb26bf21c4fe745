"""Train a CNN on a projector, in a real browser at 1280 × 720: after Train, the bar and Pause are on the screen."""
import pytest

PROJECTOR_SCREEN = {"width": 1280, "height": 720}
TIMEOUT_MS = 120_000  # a first page waits for TensorFlow and the model on 2 cores


def finished(page) -> None:
    from playwright.sync_api import expect
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning", timeout=TIMEOUT_MS)


def on_screen(box: dict | None) -> bool:
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= PROJECTOR_SCREEN["height"]


@pytest.mark.training
def test_after_train_the_bar_and_pause_are_on_a_projector_screen(app_url, browser, screenshot_dir):
    from playwright.sync_api import expect
    page = browser.new_page(viewport=PROJECTOR_SCREEN)
    page.goto(app_url)
    finished(page)
    page.get_by_test_id("stSidebarNavLink").filter(has_text="Train a CNN").click()
    expect(page.get_by_role("button", name="Train", exact=True)).to_be_visible(timeout=TIMEOUT_MS)
    finished(page)
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
    page.screenshot(path=screenshot_dir / "train_a_cnn_projector_1280x720.png")
    assert on_screen(bar.bounding_box()) and on_screen(pause.bounding_box())
    page.get_by_role("button", name="■ Stop").click()
    page.close()
