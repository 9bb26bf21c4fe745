"""Driving the app in a real browser (Playwright): one timeout, waiting for a script run, opening a page by its link."""
from playwright.sync_api import Page, expect

BROWSER_TIMEOUT_MS = 120_000  # generous: a first page waits for TensorFlow and the model to load on 2 cores


def finished(page: Page) -> None:
    """Wait until the app's script run has finished, so everything it shows is on the page."""
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning", timeout=BROWSER_TIMEOUT_MS)


def go_to(page: Page, title: str) -> None:
    """Open a page through its link in the sidebar navigation and wait for it to finish rendering."""
    page.get_by_test_id("stSidebarNavLink").filter(has_text=title).click()
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible(timeout=BROWSER_TIMEOUT_MS)
    finished(page)
