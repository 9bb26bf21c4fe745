"""The app through Streamlit's AppTest: every page renders, and the Diagnose page handles real uploads."""
import io
import json
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.classes import DISPLAY_NAMES
from core.data.samples import read_sample, sample_files
from core.imaging.decode import decode_image, read_image_file
from core.model.abstention import INCONCLUSIVE, STATUS_TEXT
from core.model.card import read_card
from core.paths import DEFAULT_MODEL_DIR
from core.serving import answers
from core.serving.export import PROBABILITY_COLUMNS
from core.serving.lung_focus import OUTSIDE_WARNING, looked_outside_lungs
from core.serving.probability_text import probability_text
from tests.support.apptest import app_test
from tests.support.files import dicom_bytes
from ui.common import CLASSROOM_NOTE, DISCLAIMER, plain

TIMEOUT = 180  # the first run loads TensorFlow and the model


def open_app() -> AppTest:
    at = app_test()
    at.run()
    assert not at.exception
    return at


def upload(at: AppTest, files: list[tuple[str, bytes]]) -> AppTest:
    at.file_uploader[0].set_value([(name, data, "application/octet-stream") for name, data in files])
    at.run()
    assert not at.exception, at.exception
    return at


def shared_file(path: Path) -> tuple[str, bytes]:
    return path.name, path.read_bytes()


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def chest_dicom(pixels: np.ndarray) -> bytes:
    """An 8-bit DX DICOM of the pixels with the identity window, and patient fields that must never be shown."""
    return dicom_bytes(pixels, ViewPosition="PA", PixelSpacing=[0.14, 0.14], PatientName="Doe^Jane", PatientID="PID-884213",
                       WindowCenter=128, WindowWidth=256)


SHORT_NAMES = [name.removesuffix(" Pneumonia") for name in DISPLAY_NAMES]  # the chart's labels


def chart_bar(at: AppTest) -> dict:
    return json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]


def chart_probabilities(at: AppTest) -> dict[str, float]:
    """The four-class chart's bars by full class name."""
    bar = chart_bar(at)
    return {DISPLAY_NAMES[SHORT_NAMES.index(y)]: x for y, x in zip(bar["y"], bar["x"], strict=True)}


def answer_panel(at: AppTest) -> list[str]:
    """The answer panel's headline of each question, e.g. "Unlikely · 4.0 %" (markdown escapes and colour removed)."""
    shown = [m.value.removeprefix("#### ").replace("\\", "") for m in at.markdown if m.value.startswith("#### ")]
    return [text.removeprefix(":orange[").removesuffix("]") for text in shown]


def expected_panel(analysis) -> list[str]:
    """What the panel must say for the classifier's own analysis of the film."""
    return [f"{answers.answer_word(a).capitalize()} · {answers.probability_phrase(a)}" for a in analysis.questions.values()]


def status_alerts(at: AppTest) -> list[str]:
    """The status alerts (not the upload errors, not the sidebar's disclaimer)."""
    return [a.value for kind in (at.success, at.warning, at.error) for a in kind
            if "could not be analysed" not in a.value and a.value != DISCLAIMER]


def captions(at: AppTest) -> list[str]:
    return [caption for image in at.get("image") for caption in image.captions]


@pytest.fixture(scope="module")
def app_pages() -> dict[str, str]:
    """The page files app.py declares, with their titles: its st.Page calls as Streamlit receives them in a run."""
    declared, streamlit_page = {}, st.Page

    def recorded_page(page, *args, title=None, **kwargs):
        declared[page] = title
        return streamlit_page(page, *args, title=title, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(st, "Page", recorded_page)
        open_app()
    return declared


def test_every_page_opens_under_its_navigation_title_beside_the_models_headline(app_pages):
    assert {"pages/diagnose.py", "pages/model_performance.py"} < set(app_pages)
    for page, title in app_pages.items():
        at = app_test().switch_page(page).run()  # a direct link
        assert not at.exception, f"{page}: {at.exception}"
        assert at.title[0].value == title, page
        sidebar = " ".join(m.value for m in at.sidebar.markdown)
        assert "Chest X-ray CNN Lab" in sidebar, page
        clinical = page in ("pages/diagnose.py", "pages/model_performance.py")
        assert ("On hospitals it never saw" in sidebar) == clinical, page  # the model's figures on clinical pages only
        assert [w.value for w in at.sidebar.warning] == ([DISCLAIMER] if clinical else []), page
        assert [i.value for i in at.sidebar.info] == ([] if clinical else [CLASSROOM_NOTE]), page


def test_upload_leads_with_the_three_answers_then_probabilities_and_heatmap(classifier, xray_paths):
    path = xray_paths["viral_pneumonia"][0]
    at = upload(open_app(), [shared_file(path)])
    assert answer_panel(at) == expected_panel(classifier.analyse(read_image_file(path).pixels))
    assert not at.success  # no model answer is styled as approval
    probabilities = chart_probabilities(at)
    assert list(probabilities) == list(DISPLAY_NAMES)
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    predicted = max(probabilities, key=probabilities.get)
    assert f"Grad-CAM for {predicted}" in captions(at)
    assert "Original" in captions(at)


def test_bad_file_is_named_and_the_others_still_get_results(xray_paths):
    files = [shared_file(xray_paths["covid19"][0]), ("notes.png", b"these are my notes, not an image"),
             shared_file(xray_paths["normal"][0])]
    at = upload(open_app(), files)
    assert len(at.error) >= 1 and plain("notes.png") in at.error[0].value and "not an image file" in at.error[0].value
    table = at.dataframe[0].value
    assert list(table["File"]) == [files[0][0], files[2][0]]
    assert set(table.columns) == {"File", "Status", *answers.TABLE_TITLES.values(), *PROBABILITY_COLUMNS.values()}
    assert all(table[column].dtype == float for column in PROBABILITY_COLUMNS.values())  # they sort as numbers
    assert at.get("plotly_chart") and any(c.startswith("Grad-CAM for") for c in captions(at))

    at.selectbox(key="detail_file").set_value(files[2][0]).run()
    assert at.subheader[-1].value == plain(files[2][0])


def test_dicom_gives_the_same_prediction_as_the_png(xray_paths):
    pixels = read_image_file(xray_paths["bacterial_pneumonia"][0]).pixels
    at = upload(open_app(), [("chest.png", png_bytes(pixels)), ("chest.dcm", chest_dicom(pixels))])
    table = at.dataframe[0].value.set_index("File")
    assert list(table.loc["chest.png"]) == pytest.approx(list(table.loc["chest.dcm"]), abs=0.05)

    at.selectbox(key="detail_file").set_value("chest.dcm").run()
    details = at.table[0].value
    assert details.loc["Modality", "Value"] == "DX" and details.loc["View position", "Value"] == "PA"
    assert not details.map(lambda v: "Doe" in str(v) or "PID" in str(v)).any().any()
    at.selectbox(key="window_preset").set_value("Lung fields").run()
    assert not at.exception
    assert any(c.startswith("Original (window") for c in captions(at))
    assert answer_panel(at)[0].endswith(probability_text(table.loc["chest.dcm", PROBABILITY_COLUMNS["covid19"]] / 100))


def test_an_image_that_is_no_chest_xray_gets_its_reason_and_no_probabilities_map_or_report():
    noise = (np.random.default_rng(1).random((300, 300, 3)) * 255).astype(np.uint8)
    at = upload(open_app(), [("noise.png", png_bytes(noise))])
    [alert] = status_alerts(at)
    assert alert.startswith(f"**{answers.FILM_STATUS_TEXT[answers.REFUSED]}.**")
    assert "times as far from the chest X-rays it learned from" in alert and "a lateral view" in alert  # actionable
    assert not any(name in alert for name in DISPLAY_NAMES) and "%" not in alert
    assert not answer_panel(at) and not at.get("plotly_chart")  # no probability anywhere
    assert not any("%" in m.value for m in at.main.markdown if "film" not in m.value)
    assert captions(at) == ["Original"]  # no heatmap
    assert not at.get("download_button")


def test_a_batch_row_of_a_refused_file_has_no_answer_and_no_probability(xray_paths):
    flat = np.full((300, 300), 128, dtype=np.uint8)
    at = upload(open_app(), [shared_file(xray_paths["normal"][0]), ("flat.png", png_bytes(flat))])
    refused = at.dataframe[0].value.set_index("File").loc["flat.png"]
    assert refused["Status"] == answers.FILM_STATUS_TEXT[answers.REFUSED]
    assert all(refused[title] == "–" for title in answers.TABLE_TITLES.values())
    assert refused[list(PROBABILITY_COLUMNS.values())].isna().all()


def _sample_analyses(classifier) -> dict:
    """The model's own analysis of each sample film (what the page must show)."""
    return {name: classifier.analyse(decode_image(read_sample(name), "sample.png").pixels) for name in sample_files()}


def test_no_probability_is_shown_as_certain(classifier):
    analyses = _sample_analyses(classifier)
    name = max(analyses, key=lambda n: analyses[n].probabilities.max())  # the film the model is surest of
    at = open_app()
    at.selectbox(key="sample").set_value(name).run()
    assert answer_panel(at) == expected_panel(analyses[name])
    shown = chart_bar(at)["customdata"]
    assert sorted(shown) == sorted(probability_text(p) for p in analyses[name].probabilities)
    assert not any("100.0" in text or "0.0 %" in text for text in shown + answer_panel(at))


def test_a_map_mostly_outside_the_lungs_lowers_the_status_and_gets_a_caution_beside_it(classifier):
    outside = {name: looked_outside_lungs(a.cam) for name, a in _sample_analyses(classifier).items()}
    assert set(outside.values()) == {True, False}, outside  # the samples hold both kinds of map
    at = open_app()
    for name, expected in outside.items():
        at.selectbox(key="sample").set_value(name).run()
        warnings = [w.value for w in at.main.warning]
        assert (OUTSIDE_WARNING in warnings) == expected, name
        lowered = f"**{answers.FILM_STATUS_TEXT[answers.READ_WITH_CARE]}.** {answers.OUTSIDE_LUNGS}"
        assert (lowered in warnings) == expected, name
        assert not at.success


def test_the_four_class_reading_follows_its_threshold_and_the_answers_do_not(xray_paths):
    at = upload(open_app(), [shared_file(xray_paths["viral_pneumonia"][0])])
    assert at.slider(key="threshold").value == pytest.approx(at.session_state["threshold"])
    probabilities, panel = chart_probabilities(at), answer_panel(at)
    analysis = next(iter(at.session_state["diagnose_results"].values()))

    at.slider(key="threshold").set_value(1.0).run()
    first = max(probabilities, key=probabilities.get)
    assert (f"{STATUS_TEXT[INCONCLUSIVE]}: the top class, {first}, has {probability_text(probabilities[first])}, below "
            "the chosen 100 % threshold, so no class is given.") in [c.value for c in at.caption]

    at.slider(key="threshold").set_value(0.25).run()
    assert any(c.value.startswith(f"{first}: ") for c in at.caption)
    assert chart_probabilities(at) == probabilities and answer_panel(at) == panel
    assert next(iter(at.session_state["diagnose_results"].values())) is analysis


def test_viewing_aids_and_explained_class_change_only_the_display(xray_paths):
    at = upload(open_app(), [shared_file(xray_paths["normal"][0])])
    probabilities = chart_probabilities(at)
    at.toggle(key="clahe").set_value(True)
    at.toggle(key="invert").set_value(True)
    at.run()
    assert "Original (CLAHE, inverted: display only, the model reads the unaltered image)" in captions(at)
    other = next(i for i, name in enumerate(DISPLAY_NAMES) if name != max(probabilities, key=probabilities.get))
    at.selectbox(key=next(k for k in at.session_state if k.startswith("explain_"))).set_value(other).run()
    assert f"Grad-CAM for {DISPLAY_NAMES[other]}" in captions(at)
    assert chart_probabilities(at) == probabilities


def test_the_page_says_which_populations_the_model_was_validated_on_and_what_it_has_not_seen():
    card = read_card(DEFAULT_MODEL_DIR)
    note = next(e for e in open_app().expander if e.label.startswith("Who this model was validated on"))
    populations = note.dataframe[0].value
    by_source = card.training_data.by_source
    assert list(populations["Source"]) == list(by_source)
    assert list(populations["Images"]) == [s.n for s in by_source.values()]
    for shown, groups in zip(populations["Age groups"], (s.age_groups for s in by_source.values()), strict=True):
        assert all(f"{group} {n}" in shown for group, n in groups.items())
    text = " ".join(m.value for m in note.markdown)
    assert "leaving each source out of training in turn" in text
    assert all(unseen in text for unseen in ("lateral views", "CT", "tuberculosis", "after surgery", "one to five years"))


def test_a_sample_film_can_be_tried_without_uploading_and_gets_the_models_answer(classifier):
    at = open_app()
    names = at.selectbox(key="sample").options
    assert names == list(sample_files()) and len(names) == 6
    at.selectbox(key="sample").set_value("Adult healthy").run()
    assert not at.exception and not at.error
    expected = classifier.analyse(decode_image(read_sample("Adult healthy"), "sample.png").pixels)
    shown = chart_probabilities(at)
    assert sum(shown.values()) == pytest.approx(1.0, abs=1e-3)
    assert shown[DISPLAY_NAMES[expected.top]] == pytest.approx(float(expected.probabilities[expected.top]), abs=1e-3)
    assert any(plain("Adult healthy (sample).png") in h.value for h in at.subheader)
