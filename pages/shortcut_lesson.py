"""Shortcut learning: two models answer on the same adult films, and their cards say why testing on hospitals a
model never saw matters."""
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.classes import DISPLAY_NAMES
from core.data.samples import read_sample
from core.imaging.decode import ImageDecodeError, decode_image
from core.imaging.viewing import display_copy
from core.model.abstention import NOT_A_CHEST_XRAY, OK, STATUS_TEXT
from core.model.card import ModelCard
from core.serving.classifier import Analysis, Classifier
from core.serving.diagnosis import upload_key
from core.serving.probability_text import probability_text
from core.serving.saliency import HEATMAP_OPACITY, overlay
from core.teaching.shortcut_lesson import (
    ADULT_SAMPLES,
    EXHIBIT_DIR,
    SEEN,
    UNSEEN,
    validation_table,
)
from ui.classroom_sidebar import page_context
from ui.common import BLUE, RED, load_classifier_or_stop, plain, route_through_app
from ui.projector import intro_with_switch, show_chart, show_table

route_through_app()

FIVE_SOURCES = "Five-source model"
EXHIBIT = "Single-source exhibit"
IMAGE_PX = 320  # images at least this wide, for a projector
COLOURS = (BLUE, RED)  # the five-source model, the exhibit
OWN_FILM = "Your own film"
OWN_RESULT = "lesson_own_film"  # session_state: (upload key, name, display pixels, {model: Analysis}) of the last upload
REFUSED_NOTE = ("it finds this film unlike every film it learned from, so it names no class and shows no "
                "probabilities or map: they would mean nothing.")


@st.cache_data(show_spinner=False)
def film_pixels() -> dict[str, np.ndarray]:
    """The adult sample films, decoded once."""
    return {name: decode_image(read_sample(name), name).pixels for name in ADULT_SAMPLES}


def answer_text(analysis: Analysis) -> str:
    """"COVID-19 (99.0 %)", with the model's own caveat when it has one; no class beside "Not a chest X-ray"."""
    if analysis.status == NOT_A_CHEST_XRAY:
        return f"{STATUS_TEXT[analysis.status]}: no class named"
    text = f"{analysis.display_label} ({probability_text(analysis.probabilities.max())})"
    return text if analysis.status == OK else f"{text} · {STATUS_TEXT[analysis.status]}"


def probabilities_figure(answers: dict[str, Analysis]) -> go.Figure:
    """The probabilities of the models that answered on one film, class by class, side by side (none for a model
    that refused the film as not a chest X-ray)."""
    fig = go.Figure([go.Bar(name=model, x=a.probabilities, y=list(DISPLAY_NAMES), orientation="h", marker_color=colour,
                            text=[probability_text(v) for v in a.probabilities], textposition="outside", textfont=dict(size=16))
                     for (model, a), colour in zip(answers.items(), COLOURS, strict=True) if a.status != NOT_A_CHEST_XRAY])
    fig.update_layout(barmode="group", height=IMAGE_PX + 20, margin=dict(l=10, r=10, t=10, b=10),
                      xaxis=dict(range=[0, 1.25], tickvals=[0, 0.2, 0.4, 0.6, 0.8, 1], tickformat=".0%", tickfont=dict(size=14)),
                      yaxis=dict(autorange="reversed", tickfont=dict(size=16)),
                      legend=dict(orientation="h", y=-0.12, font=dict(size=16)))
    return fig


@st.cache_data(show_spinner=False)
def sample_answers(film: str, _classifiers: dict[str, Classifier]) -> dict[str, Analysis]:
    """Each model's answer on one sample film, with its Grad-CAM; computed once per server."""
    pixels = film_pixels()[film]
    return {model: classifier.analyse(pixels) for model, classifier in _classifiers.items()}


def own_film(classifiers: dict[str, Classifier]) -> tuple[str, np.ndarray, dict[str, Analysis]] | None:
    """The student's film, read in memory as Analyse an X-ray reads it (never saved), and both models' answers on it;
    None until a readable file is chosen."""
    upload = st.file_uploader(  # no type filter: files are recognised by content (DICOMs often have no extension)
        f"A chest film: PNG, JPEG, BMP, TIFF, WebP or DICOM (kept in memory only, {st.get_option('server.maxUploadSize')} MB "
        "at most)", key="lesson_upload")
    if upload is None:
        st.session_state.pop(OWN_RESULT, None)
        st.info("Choose a file to see both models' answers and maps on it.")
        return None
    data = upload.getvalue()
    key = upload_key(upload.name, data)
    kept = st.session_state.get(OWN_RESULT)
    if kept is None or kept[0] != key:
        try:
            pixels = display_copy(decode_image(data, upload.name)).pixels
        except ImageDecodeError as err:
            st.error(f"**{plain(err.name)}** could not be read: {err.reason}.")
            return None
        kept = st.session_state[OWN_RESULT] = (key, upload.name, pixels,
                                               {model: c.analyse(pixels) for model, c in classifiers.items()})
    return kept[1], kept[2], kept[3]


def model_column(column, model: str, pixels: np.ndarray, analysis: Analysis) -> None:
    """One model's answer on the film and its Grad-CAM, or why it shows none."""
    column.markdown(f"**{model}:** {answer_text(analysis)}")
    if analysis.status == NOT_A_CHEST_XRAY:
        column.info(f"Not a chest X-ray for the {model.lower()}: {REFUSED_NOTE}", icon=":material/block:")
    else:
        column.image(overlay(pixels, analysis.cam, HEATMAP_OPACITY), width="stretch",
                     caption=f"Where it looked for {analysis.display_label} (Grad-CAM, red = strongest)")


def side_by_side(name: str, pixels: np.ndarray, answers: dict[str, Analysis]) -> None:
    """The film (`name` in markdown), each model's answer and map beside it, and the probabilities of the models
    that answered."""
    film, *models = st.columns(3)
    film.markdown(name)
    film.image(pixels, width="stretch")
    for column, (model, analysis) in zip(models, answers.items(), strict=True):
        model_column(column, model, pixels, analysis)
    if all(a.status == NOT_A_CHEST_XRAY for a in answers.values()):
        st.caption("Neither model answered on this film, so there are no probabilities to compare.")
        return
    show_chart(probabilities_figure(answers), key="lesson_probabilities")


def answers_section(classifiers: dict[str, Classifier]) -> None:
    films = film_pixels()
    answers = {model: c.classify_batch(list(films.values())) for model, c in classifiers.items()}
    st.markdown(
        f"**{FIVE_SOURCES}** (the one Analyse an X-ray uses) learned from five collections: children from one hospital, "
        f"and adults from publications and three more sources, healthy and ill. **{EXHIBIT}** learned from a set "
        "where every child came from one hospital and every COVID-19 film was an adult's, from publications: it "
        "never saw an adult without COVID-19. Both read the same three adult films.")
    show_table(pd.DataFrame({"Film": list(films), **{model: [answer_text(a) for a in found]
                                                     for model, found in answers.items()}}))
    st.caption(f"The three films are among the {FIVE_SOURCES.lower()}'s training images, so its answers on them are "
               f"not a test of it; the {EXHIBIT.lower()} never saw them. A status after an answer is the model's own "
               "caveat: its top probability was below its threshold, or the film looked unlike its training images.")
    film = st.radio("Look closer at", [*films, OWN_FILM], horizontal=True, key="lesson_film")
    if film != OWN_FILM:
        side_by_side(f"The sample film **{film}**", films[film], sample_answers(film, classifiers))
    elif own := own_film(classifiers):
        name, pixels, found = own
        side_by_side(f"Your film **{plain(name)}**", pixels, found)


def exhibit_section(card: ModelCard) -> None:
    st.markdown(
        f"Checked the usual way, by cross-validation on its own {card.training_data.n} images, "
        f"the {EXHIBIT.lower()} was right **{card.cv_accuracy:.1%}** of the time. But every test fold came "
        "from the same two collections as its training images, where an adult film always meant COVID-19, so the "
        "shortcut scored well in the test too. It was never tested on a hospital it had not seen. Its model card says:")
    st.warning(card.exhibit, icon=":material/warning:")


def validation_section(card: ModelCard) -> None:
    table = validation_table(card)
    if table is None:
        st.info(f"The {FIVE_SOURCES.lower()}'s card has no validation on hospitals left out.")
        return
    loso = table.loc[0, UNSEEN]
    st.markdown(
        "Films from one hospital share much that is not disease: the scanner, the patients' ages, how films are "
        "exposed, markers burned into the corner. A model can score well by recognising the hospital instead of "
        "the illness, and a test drawn from the same hospitals will not notice. The honest check leaves each "
        "hospital out in turn: train on the others, test on the one left out.\n\n"
        f"The {FIVE_SOURCES.lower()} was checked both ways. With every hospital in training (folds grouped by "
        f"patient) it was right **{card.cv_accuracy:.1%}** of the time; on a hospital left out, "
        f"**{loso:.1%}**. Its card's figures:")
    show_table(table, {SEEN: "{:.1%}", UNSEEN: "{:.1%}"})
    st.markdown("So it, too, has learned hospitals as well as diseases, and the figures say so. A high score on test "
                "images from the training hospitals says little about a new one: ask for results on hospitals left "
                "out, and check on your own patients, before trusting any model. Neither model here has been "
                "validated on a hospital's own patients.")


intro_with_switch("Two models, the same adult films, two answers: why a model must be tested on hospitals it never saw.")
classifiers: dict[str, Classifier] = {FIVE_SOURCES: load_classifier_or_stop(), EXHIBIT: load_classifier_or_stop(str(EXHIBIT_DIR))}
five, exhibit = classifiers[FIVE_SOURCES].card, classifiers[EXHIBIT].card
page_context("shortcut learning: a model can score well by recognising the hospital a film came from instead of the "
             "illness, and only a test on hospitals it never saw shows it.", [
    f"{EXHIBIT}: right {exhibit.cv_accuracy:.1%} of the time in cross-validation, never tested on a hospital it did not see",
    f"{FIVE_SOURCES}: four-class accuracy {five.cv_accuracy:.1%} with every hospital in training, "
    + (f"{five.loso_accuracy:.1%} on a hospital left out (a left-out hospital often lacks classes the rest must "
       "teach; Analyse an X-ray gives the per-question figures)" if five.loso_accuracy is not None else "no hospital left out")])
st.header("1 · The same films, two answers")
answers_section(classifiers)
st.header("2 · What the exhibit learned")
exhibit_section(classifiers[EXHIBIT].card)
st.header("3 · Why validation across hospitals matters")
validation_section(classifiers[FIVE_SOURCES].card)
