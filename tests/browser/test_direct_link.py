"""A bookmarked page opened first on a fresh server still gets the app's shell (sidebar, navigation, disclaimer)."""


def test_a_direct_link_on_a_fresh_server_opens_the_page_inside_the_app(app_url, browser, screenshot_dir):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{app_url}/recurrent_cell")  # this module's server is fresh: no session has run app.py yet
    expect(page.get_by_role("heading", name="Recurrent cell")).to_be_visible(timeout=120_000)
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("Chest X-ray CNN Lab")).to_be_visible(timeout=60_000)
    expect(sidebar.get_by_role("link", name="Analyse an X-ray")).to_be_visible()
    expect(sidebar.get_by_role("link", name="common")).to_have_count(0)  # helper modules are not pages
    expect(page.get_by_test_id("stException")).to_have_count(0)
    page.screenshot(path=str(screenshot_dir / "direct_link.png"), full_page=True)
