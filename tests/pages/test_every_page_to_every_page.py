"""One session goes from every page to every other page (each ordered pair at least once) without an exception: no
widget key, session value or cached object one page leaves behind breaks another. Once in AppTest, once in a browser
tab following the sidebar's links, where the sidebar must also speak to each page's audience."""


from tests.support.apptest import app_test
from ui.common import DISCLAIMER

PAGES = {"diagnose": "Analyse an X-ray", "model_performance": "Model performance", "convolution_lab": "Convolution lab",
         "inside_the_cnn": "Inside the CNN", "train_in_browser": "Train a CNN", "recurrent_cell": "Recurrent cell",
         "shortcut_lesson": "Shortcut learning"}  # file in pages/: title
CLINICAL = ("Analyse an X-ray", "Model performance")
TIMEOUT_MS = 120_000


def every_ordered_step(n: int) -> list[tuple[int, int]]:
    """The steps of one walk over pages 0..n-1 (n prime) that goes from each page to each other page exactly once:
    for each gap g, the cycle 0 -> g -> 2g -> … -> 0."""
    walk = [0]
    for gap in range(1, n):
        walk += [(walk[-1] + gap * k) % n for k in range(1, n + 1)]
    return list(zip(walk, walk[1:], strict=False))


def test_the_walk_takes_every_step_once():
    n = len(PAGES)
    assert sorted(every_ordered_step(n)) == [(i, j) for i in range(n) for j in range(n) if i != j]


def test_one_apptest_session_goes_from_every_page_to_every_other_page():
    files = list(PAGES)
    at = app_test().run()
    assert not at.exception, [e.value for e in at.exception]
    for previous, page in every_ordered_step(len(files)):
        at.switch_page(f"pages/{files[page]}.py").run()
        assert not at.exception, (files[previous], files[page], [e.value for e in at.exception])
        assert len(at.main.children) > 1  # the page drew itself, not only a message


def open_by_link(page, title: str) -> None:
    """Follow the sidebar's link to `title` and wait until the page has finished drawing."""
    from playwright.sync_api import expect
    page.get_by_test_id("stSidebarNavLink").filter(has_text=title).click()
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning", timeout=TIMEOUT_MS)


def test_one_browser_tab_follows_links_from_every_page_to_every_other_page(browser, app_url):
    from playwright.sync_api import expect
    titles = list(PAGES.values())
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(app_url)
    expect(page.get_by_role("heading", name=titles[0], exact=True)).to_be_visible(timeout=TIMEOUT_MS)
    sidebar = page.get_by_test_id("stSidebar")
    for previous, step in every_ordered_step(len(titles)):
        title = titles[step]
        open_by_link(page, title)
        assert page.get_by_test_id("stException").count() == 0, (titles[previous], title)
        clinical = title in CLINICAL
        expect(sidebar.get_by_text(DISCLAIMER)).to_have_count(1 if clinical else 0)  # the disclaimer on clinical pages
        expect(sidebar.get_by_text("This page teaches")).to_have_count(0 if clinical else 1)  # each lesson's own context
    page.close()
