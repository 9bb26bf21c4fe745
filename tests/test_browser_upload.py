"""A real browser (Debian's chromium, driven by Playwright) uploads an X-ray to `streamlit run app.py`."""
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from core.abstention import STATUS_TEXT
from core.classes import DISPLAY_NAMES

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DECISION = re.compile("^(" + "|".join(map(re.escape, (*STATUS_TEXT.values(), *DISPLAY_NAMES))) + "): ")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_healthy(url: str, server: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"streamlit exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"streamlit did not answer within {timeout} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.is_file():
        reason = f"{CHROMIUM} is missing (install Debian's chromium: apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="module")
def app_url(chromium: Path, tmp_path_factory):
    """`streamlit run app.py` on a free localhost port, stopped after the tests."""
    port = free_port()
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    with open(log, "w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true"],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, server, log)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def test_upload_shows_prediction_overlay_and_downloads(app_url, chromium, xray_paths):
    from playwright.sync_api import expect, sync_playwright

    screenshots = Path(os.environ.get("SCREENSHOT_DIR") or tempfile.mkdtemp(prefix="screenshots_"))
    screenshots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.goto(app_url)
            page.locator('input[type="file"]').set_input_files(str(xray_paths["viral_pneumonia"][0]))
            decision = page.get_by_test_id("stAlert").filter(has_text=DECISION)
            expect(decision).to_be_visible(timeout=120_000)  # the first upload also waits for the model to load
            overlay = page.get_by_test_id("stImage").filter(has_text="Grad-CAM for").locator("img")
            expect(overlay).to_be_visible(timeout=30_000)
            page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=overlay.element_handle())
            expect(page.get_by_test_id("stPlotlyChart").locator(".main-svg").first).to_be_visible(timeout=30_000)
            expect(page.get_by_test_id("stException")).to_have_count(0)
            page.screenshot(path=str(screenshots / "diagnose_upload.png"), full_page=True)
            for button, signature in (("Report (PDF)", b"%PDF"), ("Overlay (PNG)", b"\x89PNG")):
                with page.expect_download(timeout=30_000) as download:
                    page.get_by_role("button", name=button).click()
                assert Path(download.value.path()).read_bytes().startswith(signature), button
        finally:
            browser.close()
