"""The shortcut-learning lesson: both models answer on the same adult films, and every figure comes from a card."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.data.samples import sample_files
from core.model.card import read_card
from core.paths import DEFAULT_MODEL_DIR
from core.teaching.shortcut_lesson import EXHIBIT_DIR, SEEN, UNSEEN, validation_table

PAGE = Path(__file__).resolve().parents[1] / "pages" / "shortcut_lesson.py"


@pytest.fixture(scope="module")
def lesson() -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=180).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_validation_table_reads_the_default_card_and_is_absent_for_the_exhibit():
    card = read_card(DEFAULT_MODEL_DIR)
    table = validation_table(card).set_index("Figure")
    validation = card.validation
    assert table.loc["Accuracy (films whose class is known)", SEEN] == card.cross_validation["accuracy"]["mean"]
    assert table.loc["Accuracy (films whose class is known)", UNSEEN] == validation["leave_one_source_out"]["accuracy"]
    called = "Adult films without COVID-19 called COVID-19"
    assert table.loc[called, SEEN] == validation["grouped_cv"]["headline"]["adult_non_covid19_called_covid19"]
    assert table.loc[called, UNSEEN] == validation["leave_one_source_out"]["headline"]["adult_non_covid19_called_covid19"]
    assert validation_table(read_card(EXHIBIT_DIR)) is None


def test_two_models_answer_side_by_side_on_the_same_adult_films(lesson):
    answers = lesson.dataframe[0].value
    assert sorted(answers["Film"]) == sorted(name for name in sample_files() if name.startswith("Adult"))  # every adult film
    assert list(answers.columns) == ["Film", "Five-source model", "Single-source exhibit"]
    exhibit = answers["Single-source exhibit"]
    named = exhibit[~exhibit.str.startswith("Not a chest X-ray")]
    assert len(named) >= 2 and named.str.startswith("COVID-19").all()  # "adult film => COVID-19" wherever it names a class
    assert (answers["Five-source model"].str[:8] != answers["Single-source exhibit"].str[:8]).any()  # two answers
    [chart] = lesson.get("plotly_chart")
    assert '"name":"Five-source model"' in chart.proto.spec and '"name":"Single-source exhibit"' in chart.proto.spec

    lesson.radio(key="lesson_film").set_value("Adult healthy").run()
    assert not lesson.exception and "The sample film 'Adult healthy'" in lesson.get("image")[0].proto.imgs[0].caption


def test_the_lesson_quotes_the_cards_figures_and_the_exhibit_text(lesson):
    default, exhibit = read_card(DEFAULT_MODEL_DIR), read_card(EXHIBIT_DIR)
    text = " ".join(m.value for m in lesson.markdown)
    assert f"**{exhibit.cross_validation['accuracy']['mean']:.1%}**" in text
    assert f"**{default.cross_validation['accuracy']['mean']:.1%}**" in text
    assert f"**{default.validation['leave_one_source_out']['accuracy']:.1%}**" in text
    assert [w.value for w in lesson.warning] == [exhibit.exhibit]
    assert len(lesson.dataframe[1].value) == 4  # accuracy and three headline figures, hospitals seen against left out


def test_the_answers_follow_the_one_probability_rule(lesson):
    answers = next(d.value for d in lesson.dataframe if "Film" in d.value)
    cells = [cell for column in answers.columns[1:] for cell in answers[column]]
    assert cells and not any("100%" in cell or "100.0" in cell or "(0%)" in cell for cell in cells)
    refused = [cell for cell in cells if cell.startswith("Not a chest X-ray")]
    assert all(cell == "Not a chest X-ray: no class named" for cell in refused)  # no class beside a refusal
    assert all(" %)" in cell for cell in cells if cell not in refused)  # "Healthy (56.8 %)", "COVID-19 (> 99.9 %)"
