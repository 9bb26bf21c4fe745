"""The server: `streamlit run server.py` serves app.py, with the default model loaded and warmed as the server starts.

Without it (`streamlit run app.py`) the app works the same, but the first visitor waits for TensorFlow to import and
the model to load. TensorFlow 2.21's import-time lines ("oneDNN custom operations are on", "Could not find cuda
drivers") bypass TF_CPP_MIN_LOG_LEVEL; they are kept out of the terminal by muting the process's native stderr for
the length of that import only.
"""
import ctypes
import logging
import os
import sys
import threading
import time
from contextlib import asynccontextmanager, contextmanager

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow loads: no C++ notices in the terminal

import streamlit as st  # noqa: E402

WARM_UP_THREAD = "warm-up"
M_MMAP_THRESHOLD = -3  # glibc mallopt parameter


@contextmanager
def native_stderr_muted():
    """Send file descriptor 2 (where C++ libraries write) to /dev/null for the block; Python's sys.stderr is restored
    before any exception from the block propagates."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class OutsideWarmUp(logging.Filter):
    """Drops Streamlit's "missing ScriptRunContext" notice for the warm-up thread, which runs outside any session."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != WARM_UP_THREAD


def return_freed_memory_to_the_system() -> None:
    """glibc keeps freed blocks below its mmap threshold for reuse, so a server that decoded large uploads stays big
    after the sessions end; a fixed 1 MB threshold (as MALLOC_MMAP_THRESHOLD_=1048576) gives such buffers back."""
    try:
        ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, 1 << 20)
    except OSError:  # not glibc: nothing to tune
        pass


def import_the_app() -> None:
    """Import TensorFlow and the pages' shared code, so that the first page draws at once once the server answers."""
    with native_stderr_muted():
        import tensorflow  # noqa: F401
    import pages.common  # noqa: F401


def warm_up() -> None:
    """Load the default model and trace its hot path, so that the first upload is fast."""
    start = time.perf_counter()
    from pages.common import get_classifier
    try:
        get_classifier()
    except Exception as err:  # the pages show the same error to users; the server keeps running
        print(f"warm-up: the default model could not be loaded: {err}", file=sys.stderr, flush=True)
        return
    print(f"warm-up: model ready {time.perf_counter() - start:.1f} s after the server answered", flush=True)


@asynccontextmanager
async def warm_model_in_background(_app):
    """Import the code before the server answers (a few seconds), then load the model beside the first requests."""
    return_freed_memory_to_the_system()
    import_the_app()
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(OutsideWarmUp())
    threading.Thread(target=warm_up, name=WARM_UP_THREAD, daemon=True).start()
    yield


app = st.App("app.py", lifespan=warm_model_in_background)
