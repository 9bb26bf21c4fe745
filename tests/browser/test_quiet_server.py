"""Normal use leaves the real server's terminal quiet: after an upload on Analyse an X-ray and a visit to Inside the
CNN, `streamlit run server.py` has printed no warning, no traceback and no progress bar (tests/serving/
test_quiet_terminal.py checks the classifier alone, in process)."""
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.data.samples import sample_files
from scripts.local_app import running_server
from tests.support.browser import BROWSER_TIMEOUT_MS, finished, go_to

NOISE = ("WARNING", "Warning:", "Traceback", "retracing", "━", "Epoch")  # "━", "Epoch": Keras progress bars


@pytest.fixture(scope="module")
def quiet_app(chromium: Path, tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """The app and the file it logs to: unbuffered, so the log holds every line by the time a test reads it, and
    without the tests' TF_CPP_MIN_LOG_LEVEL, so that server.py's own setting is the one tested."""
    log = tmp_path_factory.mktemp("quiet") / "server.log"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"} | {"PYTHONUNBUFFERED": "1"}
    with running_server(log, env=env) as (url, _):
        yield url, log


def test_an_upload_and_inside_the_cnn_leave_the_servers_terminal_quiet(quiet_app, browser):
    from playwright.sync_api import expect

    url, log = quiet_app
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(url)
    page.locator('input[type="file"]').set_input_files(str(sample_files()["Adult healthy"]))
    expect(page.get_by_role("button", name="Report (PDF)")).to_be_visible(timeout=BROWSER_TIMEOUT_MS)
    finished(page)
    go_to(page, "Inside the CNN")
    expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible(timeout=BROWSER_TIMEOUT_MS)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    printed = log.read_text()
    assert "Model ready" in printed  # the server's own output is there
    assert not [line for line in printed.splitlines() if any(word in line for word in NOISE)], printed[-3000:]
