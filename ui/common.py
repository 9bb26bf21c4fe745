"""What every page shares: the model (loaded once per server), the sidebar, and the disclaimer."""
import re
import unicodedata
from pathlib import Path

import streamlit as st

from core.model import card as model_card
from core.model.card import MODEL_FILE, RETRAIN, ModelCard, ModelLoadError, model_sha256
from core.paths import DEFAULT_MODEL_DIR
from core.serving import answers
from core.serving.classifier import Classifier
from ui.streamlit_internals import leave_legacy_pages_mode

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
    if not st.session_state.get(SHELL_SHOWN) and leave_legacy_pages_mode():
        st.rerun()


def same_model(card: ModelCard, model_dir: str, sha256: str | None) -> ModelCard:
    """`card`, refused unless it vouches for the model file whose SHA-256 keyed the cache: a folder replaced while
    it was read must not pair one model's card with another's weights."""
    if sha256 is None:
        raise ModelLoadError(f"{model_dir}: missing {MODEL_FILE}; {RETRAIN}")
    if card.model_sha256 != sha256:
        raise ModelLoadError(f"{model_dir}: {MODEL_FILE} is not the file its card vouches for (it changed while being "
                             "read, or the card belongs to another model); reload the page")
    return card


@st.cache_resource(show_spinner="Loading the model and compiling its inference functions…")
def get_classifier(model_dir: str, sha256: str | None) -> Classifier:
    """The classifier for a model folder, loaded once per server and per model file (`sha256`, the key of everything
    read from a model folder) and shared by every session, already warmed up (Classifier.warm_up) so that the first
    upload does not pay for tracing. Call it through `classifier_for`, which computes the key."""
    classifier = Classifier.from_dir(model_dir)
    same_model(classifier.bundle.card, model_dir, sha256)
    classifier.warm_up()
    return classifier


def classifier_for(model_dir: str) -> Classifier:
    """The cached classifier of a model folder as it is now: a replaced model file is a new cache entry."""
    return get_classifier(model_dir, model_sha256(model_dir))


def load_classifier_or_stop(model_dir: str = str(DEFAULT_MODEL_DIR)) -> Classifier:
    """The classifier, or a clear error on the page (never a traceback) when the model cannot be used."""
    try:
        return classifier_for(model_dir)
    except ModelLoadError as err:
        st.error(f"The model cannot be used: {err}")
        st.stop()


@st.cache_resource(show_spinner=False)
def cached_card(model_dir: str, sha256: str | None) -> ModelCard:
    """The checked card under the same key as the classifier; shared as is, since a card is read-only throughout."""
    return same_model(model_card.read_card(model_dir), model_dir, sha256)


def read_card(model_dir: str | Path) -> ModelCard:
    """The checked model card alone (cheap: no TensorFlow), of the model file the folder holds now."""
    return cached_card(str(model_dir), model_sha256(model_dir))


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
            card = read_card(DEFAULT_MODEL_DIR)
        except ModelLoadError as err:
            st.error(f"No usable model: {err}")
        else:
            st.markdown(f"**Model:** {card.name} · {card.backbone} · trained {card.trained_at}")
            show_unseen_figures(card)
        st.warning(DISCLAIMER, icon="⚠️")
