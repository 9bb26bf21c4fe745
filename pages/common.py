"""What every page shares: the model (loaded once per server), the sidebar, and the disclaimer."""
import sys
from pathlib import Path

import keras
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from core.inference import Classifier
from core.model_store import CARD_FILE, DEFAULT_MODEL_DIR, ModelLoadError, read_json

SHELL_SHOWN = "app_shell_shown"  # session_state: app.py has drawn the sidebar in this session
DISCLAIMER = "For education and research only, not for diagnosis. A clinician must read every image."


def route_through_app() -> None:
    """Make a direct link to a page work on a fresh server: rerun it through app.py and its navigation.

    Until some session has run app.py's st.navigation, Streamlit treats a `pages/` folder the legacy way and runs a
    linked page file on its own: no sidebar, no layout, and every module in pages/ listed as a page. Leaving
    that mode and rerunning lets app.py's navigation open the same page properly.
    """
    if PagesManager.uses_pages_directory and not st.session_state.get(SHELL_SHOWN):
        PagesManager.uses_pages_directory = False
        st.rerun()


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

    def clear_unless_streamlit_cleanup(*args, **kwargs):
        if sys._getframe(1).f_code.co_name != "_clean_problem_modules":  # streamlit/runtime/scriptrunner
            clear_session(*args, **kwargs)

    clear_unless_streamlit_cleanup.keeps_kernels = True
    keras.backend.clear_session = clear_unless_streamlit_cleanup


@st.cache_resource(show_spinner="Loading the model and compiling its inference functions…")
def get_classifier(model_dir: str = str(DEFAULT_MODEL_DIR)) -> Classifier:
    """The classifier for a model folder, loaded once per server and shared by every session."""
    keep_compiled_kernels_between_runs()
    return Classifier.from_dir(model_dir)


def load_classifier_or_stop(model_dir: str = str(DEFAULT_MODEL_DIR)) -> Classifier:
    """The classifier, or a clear error on the page (never a traceback) when the model cannot be used."""
    try:
        return get_classifier(model_dir)
    except ModelLoadError as err:
        st.error(f"The model cannot be used: {err}")
        st.stop()


@st.cache_data(show_spinner=False)
def read_card(model_dir: str = str(DEFAULT_MODEL_DIR)) -> dict | None:
    """The model card alone (cheap: no TensorFlow), for the sidebar."""
    path = Path(model_dir) / CARD_FILE
    return read_json(model_dir, CARD_FILE) if path.is_file() else None


def render_sidebar() -> None:
    """Loaded model summary and the disclaimer, on every page."""
    st.session_state[SHELL_SHOWN] = True
    card = read_card()
    with st.sidebar:
        if card is None:
            st.error("No model found in models/default. Train one with `python -m core.train`.")
        else:
            accuracy = card["cross_validation"]["accuracy"]
            st.markdown(f"**Model:** `{card['name']}` · {card['backbone']}  \n**Trained:** {card['trained_at']}")
            st.metric("Cross-validated accuracy", f"{accuracy['mean']:.1%}", help=f"± {accuracy['std']:.1%} across {len(accuracy['per_fold'])} folds of the training images; not an independent test set.")
        st.warning(DISCLAIMER, icon="⚠️")
