"""Shortcut learning: two models answer on the same adult films, and their cards say why testing on hospitals a
model never saw matters."""
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.classes import DISPLAY_NAMES
from core.data.samples import read_sample
from core.imaging.decode import decode_image
from core.model.abstention import NOT_A_CHEST_XRAY, OK, STATUS_TEXT
from core.model.card import ModelCard
from core.serving.classifier import Analysis, Classifier
from core.serving.probability_text import probability_text
from core.teaching.shortcut_lesson import (
    ADULT_SAMPLES,
    EXHIBIT_DIR,
    SEEN,
    UNSEEN,
    validation_table,
)
from pages.common import BLUE, RED, load_classifier_or_stop, route_through_app
from pages.projector import intro_with_switch

route_through_app()

FIVE_SOURCES = "Five-source model"
EXHIBIT = "Single-source exhibit"
IMAGE_PX = 320  # images at least this wide, for a projector
COLOURS = (BLUE, RED)  # the five-source model, the exhibit


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
    """Both models' probabilities for one film, class by class, side by side."""
    fig = go.Figure([go.Bar(name=model, x=a.probabilities, y=list(DISPLAY_NAMES), orientation="h", marker_color=colour,
                            text=[probability_text(v) for v in a.probabilities], textposition="outside", textfont=dict(size=16))
                     for (model, a), colour in zip(answers.items(), COLOURS)])
    fig.update_layout(barmode="group", height=IMAGE_PX + 20, margin=dict(l=10, r=10, t=10, b=10),
                      xaxis=dict(range=[0, 1.25], tickformat=".0%", tickfont=dict(size=14)),
                      yaxis=dict(autorange="reversed", tickfont=dict(size=16)),
                      legend=dict(orientation="h", y=-0.12, font=dict(size=16)))
    return fig


def answers_section(films: dict[str, np.ndarray], answers: dict[str, list[Analysis]]) -> None:
    st.markdown(
        f"**{FIVE_SOURCES}** (the one Analyse an X-ray uses) learned from five collections: children from one hospital, "
        f"and adults from publications and three more sources, healthy and ill. **{EXHIBIT}** learned from a set "
        "where every child came from one hospital and every COVID-19 film was an adult's, from publications: it "
        "never saw an adult without COVID-19. Both read the same three adult films.")
    st.dataframe(pd.DataFrame({"Film": list(films), **{model: [answer_text(a) for a in found]
                                                       for model, found in answers.items()}}), hide_index=True)
    film = st.radio("Look closer at", list(films), horizontal=True, key="lesson_film")
    i = list(films).index(film)
    picture, chart = st.columns([2, 3])
    picture.image(films[film], caption=f"The sample film '{film}'", width=IMAGE_PX)
    chart.plotly_chart(probabilities_figure({model: found[i] for model, found in answers.items()}), key="lesson_probabilities",
                       config={"displayModeBar": False})
    st.caption(f"The three films are among the {FIVE_SOURCES.lower()}'s training images, so its answers on them are "
               f"not a test of it; the {EXHIBIT.lower()} never saw them. A status after an answer is the model's own "
               "caveat: its top probability was below its threshold, or the film looked unlike its training images.")


def exhibit_section(card: ModelCard) -> None:
    st.markdown(
        f"Checked the usual way, by cross-validation on its own {card.training_data['n']} images, "
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
    st.dataframe(table, hide_index=True, column_config={
        SEEN: st.column_config.NumberColumn(format="percent"), UNSEEN: st.column_config.NumberColumn(format="percent")})
    st.markdown("So it, too, has learned hospitals as well as diseases, and the figures say so. A high score on test "
                "images from the training hospitals says little about a new one: ask for results on hospitals left "
                "out, and check on your own patients, before trusting any model. Neither model here has been "
                "validated on a hospital's own patients.")


intro_with_switch("Two models, the same adult films, two answers: why a model must be tested on hospitals it never saw.")
classifiers: dict[str, Classifier] = {FIVE_SOURCES: load_classifier_or_stop(), EXHIBIT: load_classifier_or_stop(str(EXHIBIT_DIR))}
films = film_pixels()
st.header("1 · The same films, two answers")
answers_section(films, {model: c.classify_batch(list(films.values())) for model, c in classifiers.items()})
st.header("2 · What the exhibit learned")
exhibit_section(classifiers[EXHIBIT].card)
st.header("3 · Why validation across hospitals matters")
validation_section(classifiers[FIVE_SOURCES].card)
