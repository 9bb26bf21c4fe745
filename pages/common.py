"""What every page shares: the model (loaded once per server), the sidebar, and the disclaimer."""
import re
import sys
import unicodedata
from pathlib import Path

import keras
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from core.model import card as model_card
from core.model.card import CARD_FILE, ModelCard, ModelLoadError
from core.paths import DEFAULT_MODEL_DIR
from core.serving import answers
from core.serving.classifier import Classifier

SHELL_SHOWN = "app_shell_shown"  # session_state: app.py has drawn the sidebar in this session
BLUE, RED, PALE_BLUE = "#2f6f9f", "#d1495b", "#a9c1d6"  # the theme's primary colour, its contrast, a muted blue
DISCLAIMER = "For education and research only, not for diagnosis. A clinician must read every image."
CLASSROOM_NOTE = ("Classroom pages: they show how convolutional networks work, with small models trained for teaching. "
                  "Nothing on them is a medical answer.")
MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation mark may be backslash-escaped
# What GitHub-flavoured markdown turns into a link on its own, escaped or not: "www.", a scheme, an e-mail's "@"
AUTOLINK_START = re.compile(r"(?i)(www|https?|ftp|mailto|xmpp)(?=\\[.:])|(?<=\\@)")
WORD_JOINER = "\u2060"  # invisible, and no link starts across it


def plain(text: str) -> str:
    """Text from a user (a file or folder name) made safe inside markdown: shown as typed, never as links (bare URLs
    and e-mail addresses included), images, emphasis, colours or LaTeX; control and bidirectional-override characters
    are dropped."""
    visible = "".join(c for c in text if unicodedata.category(c) not in ("Cc", "Cf"))
    return AUTOLINK_START.sub(lambda m: m.group(0) + WORD_JOINER, MARKDOWN_PUNCTUATION.sub(r"\\\1", visible))


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
def get_classifier(model_dir: str) -> Classifier:
    """The classifier for a model folder, loaded once per server and shared by every session, already warmed up
    (Classifier.warm_up) so that the first upload does not pay for tracing. `model_dir` has no default: Streamlit keys
    the cache by the arguments as passed, so `get_classifier()` and `get_classifier(path)` would load it twice."""
    classifier = Classifier.from_dir(model_dir)
    classifier.warm_up()
    return classifier


def load_classifier_or_stop(model_dir: str = str(DEFAULT_MODEL_DIR)) -> Classifier:
    """The classifier, or a clear error on the page (never a traceback) when the model cannot be used."""
    try:
        return get_classifier(model_dir)
    except ModelLoadError as err:
        st.error(f"The model cannot be used: {err}")
        st.stop()


@st.cache_data(show_spinner=False)
def read_card(model_dir: str, modified: float | None) -> ModelCard:
    """The checked model card alone (cheap: no TensorFlow), for the sidebar; `modified` keys the cache to the file's time."""
    return model_card.read_card(model_dir)


def card_modified(model_dir: Path) -> float | None:
    path = model_dir / CARD_FILE
    return path.stat().st_mtime if path.is_file() else None


def show_unseen_figures(card: ModelCard) -> None:
    """The headline: how often each answer was right on hospitals the model never saw, with the details (and what a
    figure must beat) in each line's tooltip."""
    if not card.questions:
        cv = card.cv_accuracy
        st.markdown(f"Four-class cross-validated accuracy: **{cv:.1%}** (chance 25 %)", help="Every source was also "
                    "in training: not an estimate for a hospital it never saw. This model predates the three questions.")
        return
    st.markdown("**On hospitals it never saw** (each source left out of training in turn):")
    for name, validation in card.questions.items():
        details = "\n".join(f"- {line}" for line in answers.unseen_details(validation))
        st.markdown(f"{answers.TITLES[name]}: {answers.unseen_range(validation)}",
                    help=details or "No source could be left out: the other sources cannot teach this question.")


def render_sidebar(clinical: bool) -> None:
    """The app's name; on clinical pages the model's summary and the disclaimer, on classroom pages what they are."""
    st.session_state[SHELL_SHOWN] = True
    with st.sidebar:
        st.markdown("### :material/radiology: Chest X-ray CNN Lab")
        if not clinical:
            st.info(CLASSROOM_NOTE, icon=":material/school:")
            return
        try:
            card = read_card(str(DEFAULT_MODEL_DIR), card_modified(DEFAULT_MODEL_DIR))
        except ModelLoadError as err:
            st.error(f"No usable model: {err}")
        else:
            st.markdown(f"**Model:** {card.name} · {card.backbone} · trained {card.trained_at}")
            show_unseen_figures(card)
        st.warning(DISCLAIMER, icon="⚠️")
