"""Every Streamlit internal the app relies on, in one place. None of them is public API: any Streamlit release may
rename or remove them. UPGRADING.md lists each one with its callers, the canary test in
tests/app/test_streamlit_internals.py that fails on the upgrade that breaks it, and what to do then."""
import functools
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import keras
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.typing import UploadedFile

STREAMLIT_CLEANUP = "_clean_problem_modules"  # streamlit/runtime/scriptrunner/script_runner.py: runs after every script run
CONTEXT_LOGGER = "streamlit.runtime.scriptrunner_utils.script_run_context"  # where the notice below is logged
MISSING_CONTEXT = "missing ScriptRunContext"
# The data-testid attributes of Streamlit's frontend that ui/projector.py's PROJECTOR_CSS selects
PROJECTOR_TESTIDS = ("stMainBlockContainer", "stSidebar", "stSidebarNav", "stMarkdownContainer", "stCaptionContainer",
                     "stWidgetLabel", "stTable", "stSelectbox", "stSelectboxVirtualDropdown", "stNumberInput",
                     "stTextInput")


def keep_compiled_kernels_between_runs() -> None:
    """Stop Streamlit's after-run keras.backend.clear_session() from emptying TensorFlow's kernel cache.

    Streamlit calls it after every script run to free models a script built. Here the models live in
    st.cache_resource for the server's lifetime, so the reset only forces TensorFlow to re-optimise every
    compiled function on the next run: 0.3-0.6 s per rerun on 2 cores, for each upload and slider move.
    Calls from anywhere else still clear the session as usual.
    """
    clear_session = keras.backend.clear_session
    if getattr(clear_session, "keeps_kernels", False):
        return

    @functools.wraps(clear_session)
    def clear_unless_streamlit_cleanup(*args, **kwargs):
        if sys._getframe(1).f_code.co_name != STREAMLIT_CLEANUP:
            clear_session(*args, **kwargs)

    clear_unless_streamlit_cleanup.keeps_kernels = True
    keras.backend.clear_session = clear_unless_streamlit_cleanup


def leave_legacy_pages_mode() -> bool:
    """Leave Streamlit's legacy `pages/` folder mode (PagesManager.uses_pages_directory); True if it was on.

    Until some session has run st.navigation, Streamlit treats a `pages/` folder beside the main script the legacy way
    and runs a linked page file on its own, without the main script.
    """
    if not PagesManager.uses_pages_directory:
        return False
    PagesManager.uses_pages_directory = False
    return True


def release_uploads(uploads: list[UploadedFile]) -> None:
    """Drop Streamlit's copy of the uploads' bytes. Its upload store keeps a file, even one the emptied uploader no
    longer shows, until the session ends: for a closed tab, when another session disconnects over two minutes later
    (server.disconnectedSessionTTL). Streamlit's own st.chat_input lets go of its files the same way."""
    ctx = get_script_run_ctx()
    for upload in uploads:
        ctx.uploaded_file_mgr.remove_file(ctx.session_id, upload.file_id)


def _not_a_missing_context_notice(record: logging.LogRecord) -> bool:
    return MISSING_CONTEXT not in record.getMessage()


@contextmanager
def missing_context_notices_muted() -> Iterator[None]:
    """Keep Streamlit's "missing ScriptRunContext" notice out of the terminal for the block: it is logged whenever code
    outside a session (the server's warm-up) uses the pages' cache. Its other messages still pass."""
    notices = logging.getLogger(CONTEXT_LOGGER)
    notices.addFilter(_not_a_missing_context_notice)
    try:
        yield
    finally:
        notices.removeFilter(_not_a_missing_context_notice)
