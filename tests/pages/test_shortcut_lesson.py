"""The shortcut-learning lesson: both models answer on the same adult films, and every figure comes from a card."""
import re

import cv2
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.data.samples import read_sample, sample_files
from core.imaging.phantom import chest_phantom
from core.model.abstention import NOT_A_CHEST_XRAY, STATUS_TEXT
from core.model.card import read_card
from core.paths import DEFAULT_MODEL_DIR
from core.teaching.shortcut_lesson import EXHIBIT_DIR, SEEN, UNSEEN, validation_table
from tests.support.apptest import page_test
from ui.common import plain

PAGE = "shortcut_lesson.py"


@pytest.fixture(scope="module")
def lesson() -> AppTest:
    at = page_test(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_validation_table_reads_the_default_card_and_is_absent_for_the_exhibit():
    card = read_card(DEFAULT_MODEL_DIR)
    table = validation_table(card).set_index("Figure")
    validation = card.validation
    assert table.loc["Accuracy (films whose class is known)", SEEN] == card.cv_accuracy
    assert table.loc["Accuracy (films whose class is known)", UNSEEN] == validation.leave_one_source_out.accuracy
    called = "Adult films without COVID-19 called COVID-19"
    assert table.loc[called, SEEN] == validation.grouped_cv.headline.adult_non_covid19_called_covid19
    assert table.loc[called, UNSEEN] == validation.leave_one_source_out.headline.adult_non_covid19_called_covid19
    assert validation_table(read_card(EXHIBIT_DIR)) is None


def test_two_models_answer_side_by_side_on_the_same_adult_films(lesson):
    answers = lesson.dataframe[0].value
    assert sorted(answers["Film"]) == sorted(name for name in sample_files() if name.startswith("Adult"))  # every adult film
    assert list(answers.columns) == ["Film", "Five-source model", "Single-source exhibit"]
    exhibit = answers["Single-source exhibit"]
    named = exhibit[~exhibit.str.startswith("Not a chest X-ray")]
    assert len(named) >= 2 and named.str.startswith("COVID-19").all()  # "adult film => COVID-19" wherever it names a class
    assert (answers["Five-source model"].str[:8] != answers["Single-source exhibit"].str[:8]).any()  # two answers
    for film in answers["Film"]:
        lesson.radio(key="lesson_film").set_value(film).run()
        assert not lesson.exception and f"The sample film **{film}**" in markdown_text(lesson)
        row = answers.set_index("Film").loc[film]
        assert shows_each_model_as_it_answered(lesson, {model: row[model] for model in MODELS})


MODELS = ("Five-source model", "Single-source exhibit")


def markdown_text(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown)


def shows_each_model_as_it_answered(at: AppTest, answers: dict[str, str]) -> bool:
    """Each model's answer above its map, or, where it refused the film, the reason in place of any map and bar."""
    refused = [model for model, answer in answers.items() if answer.startswith("Not a chest X-ray")]
    bars = [name for chart in at.get("plotly_chart") for name in re.findall(r'"name":"([^"]+)"', chart.proto.spec)]
    notes = [i.value for i in at.info if i.value.startswith("Not a chest X-ray for the")]
    return (all(f"**{model}:** {answer}" in markdown_text(at) for model, answer in answers.items())
            and len(at.get("image")) == 1 + len(answers) - len(refused)  # the film, and one map per model that answered
            and len(notes) == len(refused) and all(m.lower() in " ".join(notes) for m in refused)
            and sorted(bars) == sorted(set(answers) - set(refused)))


def test_a_student_uploads_a_film_and_sees_both_models_side_by_side(lesson):
    lesson.radio(key="lesson_film").set_value("Your own film").run()
    assert [i.value for i in lesson.info][-1] == "Choose a file to see both models' answers and maps on it."
    lesson.file_uploader(key="lesson_upload").set_value(("my [film].png", read_sample("Adult pneumonia"), "image/png")).run()
    assert not lesson.exception and f"Your film **{plain('my [film].png')}**" in markdown_text(lesson)  # as plain text
    table = lesson.dataframe[0].value.set_index("Film").loc["Adult pneumonia"]
    assert shows_each_model_as_it_answered(lesson, {model: table[model] for model in MODELS})  # the sample's answers

    phantom = cv2.imencode(".png", (chest_phantom(256) * 255).astype(np.uint8))[1].tobytes()
    lesson.file_uploader(key="lesson_upload").set_value(("drawing.png", phantom, "image/png")).run()
    refused = {model: f"{STATUS_TEXT[NOT_A_CHEST_XRAY]}: no class named" for model in MODELS}
    assert not lesson.exception and shows_each_model_as_it_answered(lesson, refused)  # a drawing: no map, no bars
    assert "Neither model answered on this film" in " ".join(c.value for c in lesson.caption)

    lesson.file_uploader(key="lesson_upload").set_value(("notes.png", b"not an image", "image/png")).run()
    assert not lesson.exception and lesson.error[0].value.startswith("**notes\\.png** could not be read:")
    assert not lesson.get("plotly_chart") and len(lesson.get("image")) == 0


def test_the_lesson_quotes_the_cards_figures_and_the_exhibit_text(lesson):
    default, exhibit = read_card(DEFAULT_MODEL_DIR), read_card(EXHIBIT_DIR)
    text = " ".join(m.value for m in lesson.markdown)
    assert f"**{exhibit.cv_accuracy:.1%}**" in text
    assert f"**{default.cv_accuracy:.1%}**" in text
    assert f"**{default.loso_accuracy:.1%}**" in text
    assert [w.value for w in lesson.warning] == [exhibit.exhibit]
    assert len(lesson.dataframe[1].value) == 4  # accuracy and three headline figures, hospitals seen against left out


def test_the_answers_follow_the_one_probability_rule(lesson):
    answers = next(d.value for d in lesson.dataframe if "Film" in d.value)
    cells = [cell for column in answers.columns[1:] for cell in answers[column]]
    assert cells and not any("100%" in cell or "100.0" in cell or "(0%)" in cell for cell in cells)
    refused = [cell for cell in cells if cell.startswith("Not a chest X-ray")]
    assert all(cell == "Not a chest X-ray: no class named" for cell in refused)  # no class beside a refusal
    assert all(" %)" in cell for cell in cells if cell not in refused)  # "Healthy (56.8 %)", "COVID-19 (> 99.9 %)"
