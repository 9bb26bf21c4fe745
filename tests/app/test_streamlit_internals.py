"""Canaries for the Streamlit and Keras internals the app relies on (ui/streamlit_internals.py,
core/model/keras_internals.py; UPGRADING.md says what to do when one fails). Each runs the behaviour through Streamlit
or Keras itself, so an upgrade that breaks it fails here, not as a slow, wrong or broken app."""
import logging
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.model.keras_internals import count_saved_parameters, load_model_from_bytes, producing_layer
from core.paths import REPO_ROOT as REPO
from scripts.local_app import free_port, wait_until_healthy
from ui.projector import PROJECTOR_CSS
from ui.streamlit_internals import (
    CONTEXT_LOGGER,
    MISSING_CONTEXT,
    PROJECTOR_TESTIDS,
    keep_compiled_kernels_between_runs,
    missing_context_notices_muted,
)

TIMEOUT = 60

@pytest.fixture
def clear_session_calls(monkeypatch) -> list[tuple]:
    """Every call that reaches Keras's own clear_session during the test (app.py's patch, installed for the whole
    process, is taken off first and restored after)."""
    calls = []

    def recorded(*args, **kwargs):
        calls.append(args)

    monkeypatch.setattr(keras.backend, "clear_session", recorded)
    return calls


def two_script_runs() -> None:
    at = AppTest.from_string("import streamlit as st\nst.markdown('A run')\n", default_timeout=TIMEOUT).run()
    assert not at.run().exception


def test_streamlit_still_clears_keras_after_every_script_run(clear_session_calls):
    two_script_runs()
    assert len(clear_session_calls) == 2, ("Streamlit no longer clears Keras's session after a script run: "
                                           "keep_compiled_kernels_between_runs has nothing left to do (UPGRADING.md)")


def test_the_patch_keeps_keras_state_across_runs_and_any_other_caller_still_clears_it(clear_session_calls):
    keep_compiled_kernels_between_runs()
    patched = keras.backend.clear_session
    keep_compiled_kernels_between_runs()
    assert keras.backend.clear_session is patched  # installing twice wraps once
    two_script_runs()
    assert clear_session_calls == [], "Streamlit's after-run clear_session() got through the patch (UPGRADING.md)"
    keras.backend.clear_session()
    assert len(clear_session_calls) == 1


SHELL_APP = """
import streamlit as st
st.sidebar.markdown("The app's shell")
st.navigation([st.Page("pages/home.py", title="Home", default=True), st.Page("pages/linked.py", title="Linked")]).run()
"""
LINKED_PAGE = """
import streamlit as st
from ui.streamlit_internals import leave_legacy_pages_mode
if st.session_state.get("leave") and leave_legacy_pages_mode():
    st.rerun()
st.markdown("The linked page")
"""


@pytest.mark.parametrize("leave", [True, False])
def test_a_direct_link_on_a_fresh_server_opens_inside_the_app_only_once_legacy_pages_mode_is_left(tmp_path, leave):
    (tmp_path / "pages").mkdir()
    (tmp_path / "app.py").write_text(SHELL_APP)
    (tmp_path / "pages" / "home.py").write_text("import streamlit as st\nst.markdown('Home')\n")
    (tmp_path / "pages" / "linked.py").write_text(LINKED_PAGE)
    at = AppTest.from_file(str(tmp_path / "app.py"), default_timeout=TIMEOUT)
    at.session_state["leave"] = leave
    at.switch_page("pages/linked.py").run()  # AppTest starts each run as a fresh server: legacy mode on
    assert not at.exception, at.exception
    assert [m.value for m in at.main.markdown] == ["The linked page"]
    shell = [m.value for m in at.sidebar.markdown] == ["The app's shell"]
    assert shell == leave, ("leaving legacy pages mode no longer routes a linked page through the app" if leave else
                            "Streamlit now runs a linked page through the app by itself: route_through_app may go")


UPLOAD_APP = """
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx
from ui.streamlit_internals import release_uploads
uploads = st.file_uploader("X-rays", accept_multiple_files=True)
if uploads:
    ctx = get_script_run_ctx()
    ids = [upload.file_id for upload in uploads]
    st.markdown(f"{len(ctx.uploaded_file_mgr.get_files(ctx.session_id, ids))} held")
    release_uploads(uploads)
    st.markdown(f"{len(ctx.uploaded_file_mgr.get_files(ctx.session_id, ids))} held")
"""


def test_released_uploads_leave_streamlits_upload_store():
    at = AppTest.from_string(UPLOAD_APP, default_timeout=TIMEOUT).run()
    at.file_uploader[0].set_value([("a.png", b"first", "image/png"), ("b.png", b"second", "image/png")]).run()
    assert not at.exception, at.exception
    assert [m.value for m in at.markdown] == ["2 held", "0 held"]


class Recorder(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_the_warm_ups_missing_context_notice_is_muted_and_nothing_else():
    @st.cache_resource
    def cached(value: int) -> int:
        return value

    recorder, logger = Recorder(), logging.getLogger(CONTEXT_LOGGER)
    logger.addHandler(recorder)
    try:
        cached(1)  # outside a session, as server.py's warm-up
        assert any(MISSING_CONTEXT in m for m in recorder.messages), \
            f"Streamlit no longer logs its notice under {CONTEXT_LOGGER}: the server's terminal may show it again"
        recorder.messages.clear()
        with missing_context_notices_muted():
            cached(2)
            logger.warning("another message")
        cached(3)
    finally:
        logger.removeHandler(recorder)
    assert recorder.messages[0] == "another message"
    assert len(recorder.messages) == 2 and MISSING_CONTEXT in recorder.messages[1]  # muted only inside the block


def test_the_projector_css_selects_exactly_the_listed_testids():
    assert "data-baseweb" not in PROJECTOR_CSS  # Streamlit 1.67 draws no BaseWeb widgets: such a rule matches nothing
    assert set(re.findall(r'\[data-testid="([^"]+)"\]', PROJECTOR_CSS)) == set(PROJECTOR_TESTIDS)


PROBE_APP = """
import streamlit as st
from ui.projector import PROJECTOR_CSS

def probe():
    st.markdown("A paragraph")
    st.caption("A caption")
    st.table({"column": [1]})
    st.selectbox("A choice", ["one", "two"])
    st.number_input("A number")
    st.text_input("A text")
    st.html(PROJECTOR_CSS)

def other():
    st.markdown("Another page")

st.navigation([st.Page(probe, title="Probe"), st.Page(other, title="Other")]).run()
"""


@pytest.fixture(scope="module")
def probe_url(chromium, tmp_path_factory):
    """A bare Streamlit server (no TensorFlow) drawing each element the projector CSS restyles, with that CSS on."""
    folder = tmp_path_factory.mktemp("probe")
    (folder / "probe.py").write_text(PROBE_APP)
    url, log = f"http://127.0.0.1:{free_port()}", folder / "server.log"
    with open(log, "w") as out:
        server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "probe.py", "--server.port", url.rsplit(":", 1)[1],
                                   "--server.address", "127.0.0.1", "--server.headless", "true"],
                                  cwd=folder, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        wait_until_healthy(url, server, log, timeout=60)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_projector_css_still_finds_and_restyles_what_it_selects(probe_url, browser):
    from playwright.sync_api import expect
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    try:
        page.goto(probe_url)
        expect(page.get_by_text("A paragraph")).to_be_visible(timeout=60_000)
        page.get_by_test_id("stSelectbox").get_by_role("button", name="Open").click()  # opens the dropdown
        expect(page.get_by_role("option", name="two")).to_be_visible()
        missing = [name for name in PROJECTOR_TESTIDS if page.get_by_test_id(name).count() == 0]
        assert not missing, f"Streamlit's frontend no longer draws {missing}: update PROJECTOR_CSS (UPGRADING.md)"
        expect(page.get_by_test_id("stSidebar")).to_have_css("width", f"{15 * 16}px")
        expect(page.get_by_test_id("stMarkdownContainer").get_by_text("A paragraph")).to_have_css("font-size", "18.4px")
        expect(page.get_by_role("option", name="two")).to_have_css("font-size", "16.8px")
    finally:
        page.close()


def test_a_saved_models_parameter_count_is_keras_own_without_the_optimizer_state_saved_beside_it(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.zeros((2, 4)), np.zeros((2, 2)), verbose=0)  # Adam's moments are saved in the file too
    model.save(tmp_path / "model.keras")
    assert count_saved_parameters(tmp_path / "model.keras") == model.count_params() == (4 * 3 + 3) + (3 * 2 + 2)


def test_each_layer_of_a_functional_model_knows_the_layer_that_made_its_input():
    inputs = keras.Input((8, 8, 1))
    convolution = keras.layers.Conv2D(2, 3)
    norm, relu = keras.layers.BatchNormalization(), keras.layers.ReLU()
    model = keras.Model(inputs, relu(norm(convolution(inputs))))
    assert [producing_layer(layer.input) for layer in (convolution, norm, relu)] == [model.layers[0], convolution, norm]


def test_a_model_loads_from_its_bytes_in_memory_with_its_weights(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, kernel_initializer="random_normal")])
    model.save(tmp_path / "model.keras")
    loaded = load_model_from_bytes((tmp_path / "model.keras").read_bytes())
    rows = np.arange(8, dtype="float32").reshape(2, 4)
    np.testing.assert_array_equal(loaded.predict(rows, verbose=0), model.predict(rows, verbose=0))
