"""The server: `streamlit run server.py` serves app.py once the default model is loaded and warmed.

The server answers a few seconds later than `streamlit run app.py` would (the model loads first), and then the first
page draws at once and the first upload gets its result as fast as any later one. TensorFlow 2.21's import-time lines
("oneDNN custom operations are on", "Could not find cuda drivers") bypass TF_CPP_MIN_LOG_LEVEL; they are kept out of
the terminal by muting the process's native stderr for the length of that import only.
"""
import ast
import ctypes
import gc
import importlib
import inspect
import os
import sys
import time
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow loads: no C++ notices in the terminal
# Before numpy loads: OpenBLAS's worker threads spin-wait after each call, so one upload's not-a-chest-X-ray check
# (a 1 ms product on one core) cost 40 ms of CPU; sessions already keep both cores busy.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import streamlit as st  # noqa: E402

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


def return_freed_memory_to_the_system() -> None:
    """glibc keeps freed blocks below its mmap threshold for reuse, so a server that decoded large uploads stays big
    after the sessions end; a fixed 1 MB threshold (as MALLOC_MMAP_THRESHOLD_=1048576) gives such buffers back."""
    try:
        ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, 1 << 20)
    except OSError:  # not glibc: nothing to tune
        pass


def page_imports() -> list[str]:
    """The modules the pages import at their top, read from their files (pages run as scripts, not as modules)."""
    modules = []
    for page in sorted((Path(__file__).parent / "pages").glob("*.py")):
        for node in ast.parse(page.read_text()).body:
            if isinstance(node, ast.Import):
                modules += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.append(node.module)
    return modules


def import_the_app() -> None:
    """Import TensorFlow, the shell's code and every module the pages import, so that the first page draws as soon as
    the server answers: the Diagnose page's imports alone are 0.6 s of CPU on 2 cores, and their 40,000 objects,
    imported after spare_the_collector, would be scanned again by the full collection after every script run.

    Streamlit's first element in a process calls inspect.stack() (env_util.is_repl), which indexes the file of every
    loaded module: 0.4 s once TensorFlow's 5,000 modules are in. Indexing them here keeps that off the first page.
    """
    with native_stderr_muted():
        import tensorflow  # noqa: F401
    import ui.common  # noqa: F401
    for module in page_imports():
        importlib.import_module(module)
    inspect.stack()


def warm_up() -> None:
    """Load the default model and trace its hot path, so that the first upload is fast."""
    start = time.perf_counter()
    from core.paths import DEFAULT_MODEL_DIR
    from ui.common import classifier_for
    from ui.streamlit_internals import missing_context_notices_muted
    try:
        with missing_context_notices_muted():  # the warm-up runs outside any session
            classifier_for(str(DEFAULT_MODEL_DIR))  # the very cache entry the pages read
    except Exception as err:  # the pages show the same error to users; the server keeps running
        print(f"  The default model could not be loaded: {err}", file=sys.stderr, flush=True)
        return
    print(f"  Model ready in {time.perf_counter() - start:.1f} s: the app is answering.", flush=True)


def spare_the_collector() -> None:
    """Move every object alive now (TensorFlow, the pages, the model) out of the garbage collector's sight: a full
    collection then scans only what requests create, 0.03 s instead of 0.3 s on 2 cores."""
    gc.collect()
    gc.freeze()


@asynccontextmanager
async def ready_before_answering(_app):
    """Import the code and load the model before the server answers (several seconds on 2 cores)."""
    print("  Loading TensorFlow and the model first; the page opens once the model is ready.", flush=True)
    return_freed_memory_to_the_system()
    import_the_app()
    warm_up()
    spare_the_collector()
    yield


app = st.App("app.py", lifespan=ready_before_answering)
