"""The Model performance page: honest cross-validated figures, and evaluation of an uploaded labelled ZIP."""
import html
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from markdown_it import MarkdownIt
from PIL import Image
from sklearn.metrics import confusion_matrix
from streamlit.testing.v1 import AppTest

from core.classes import CLASS_NAMES, DISPLAY_NAMES, LABEL_NAMES, PNEUMONIA_UNSPECIFIED
from core.data.zip_upload import read_labelled_zip
from core.evaluation.evaluate import evaluate_images
from core.evaluation.performance import LOSO_ACCURACY
from core.model import card as model_card
from core.model.bundle import load_bundle
from core.model.card import CARD_FILE, MODEL_FILE, PREDICTIONS_FILE
from core.model.questions import QUESTIONS
from core.paths import DEFAULT_MODEL_DIR
from core.paths import REPO_ROOT as REPO
from core.serving import answers
from tests.support.apptest import app_test
from tests.support.files import labelled_members, linked_dataset, zip_bytes

PAGE = "pages/model_performance.py"
NORMALISED = "Row-normalised (share of each true class)"
SINGLE_SOURCE = REPO / "models" / "single_source"
SMALL_CNN = REPO / "models" / "small_cnn"
SOURCE_COLUMNS = {  # what the per-source tables show: column -> the card's figure (shares in percent)
    "Images": lambda f: f["n"], "Accuracy": lambda f: percent(f["accuracy"]), "COVID-19 recall": lambda f: percent(f["covid19_recall"]),
    "Non-COVID-19 films called COVID-19": lambda f: percent(f["non_covid19_called_covid19"]),
    "Healthy recall": lambda f: percent(f["recall"].get("normal", {}).get("recall")),
    "Not a chest X-ray": lambda f: percent(f["not_a_chest_xray"]),
}
QUESTION_FIGURES = {  # what a question's table shows: column -> the card's figure
    "Films": lambda f: f["n"], "AUROC": lambda f: f["auroc"], "Answered": lambda f: percent(f["coverage"]),
    "Right when answered": lambda f: percent(f["right"]),
    "Base rate": lambda f: percent(max(f["n_positive"], f["n"] - f["n_positive"]) / f["n"]),
}
PAGE_TEXT_NEVER = ("../shared", "python -m", "models/", "None", "nan")  # paths, commands, empty values written out


def percent(share: float | None) -> float | None:
    return None if share is None else 100 * share


def open_page() -> AppTest:
    at = app_test()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def heatmaps(at: AppTest) -> list[dict]:
    """The plotly heatmap traces on the page, in page order."""
    traces = [json.loads(chart.proto.spec)["data"][0] for chart in at.get("plotly_chart")]
    return [trace for trace in traces if trace["type"] == "heatmap"]


def card_of(model_dir: Path = DEFAULT_MODEL_DIR) -> dict:
    return json.loads((model_dir / CARD_FILE).read_text())


def shown_as(shown, expected: float | None) -> bool:
    """A figure on the page is the card's (an empty cell where the card has none)."""
    return pd.isna(shown) if expected is None else shown == pytest.approx(expected)


def shown(markdown: str) -> str:
    """What a viewer reads: the markdown rendered, its tags dropped."""
    return html.unescape(re.sub(r"<[^>]+>", "", MarkdownIt().render(markdown))).strip()


def tab(at: AppTest, label: str):
    return next(t for t in at.tabs if t.label == label)


def comparison(at: AppTest) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if "Model" in d.value)


def question_rows_match(table: pd.DataFrame, figures: list[dict], yes: str) -> bool:
    """Each row of a question's table shows the card's figures of one group of films."""
    return len(table) == len(figures) and all(
        row[yes] == f["n_positive"] and all(shown_as(row[column], figure(f)) for column, figure in QUESTION_FIGURES.items())
        for row, f in zip(table.to_dict("records"), figures, strict=True))


def page_text(at: AppTest) -> list[str]:
    """Everything the main area says in words: markdown, captions, headings, alerts, metric labels and help, tab labels."""
    elements = [*at.main.markdown, *at.main.caption, *at.main.subheader, *at.main.info, *at.main.warning, *at.main.error]
    metrics = [text for m in at.main.metric for text in (m.label, m.value, m.proto.help)]
    return [e.value for e in elements] + metrics + [t.label for t in at.tabs]


def stored_predictions() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The stored predictions of the images with a class label (the 4-class views leave coarse labels out)."""
    rows = [r for r in json.loads((DEFAULT_MODEL_DIR / PREDICTIONS_FILE).read_text()) if r["true"] in CLASS_NAMES]
    y_true = np.array([CLASS_NAMES.index(r["true"]) for r in rows])
    y_pred = np.array([np.argmax([r["probabilities"][name] for name in CLASS_NAMES]) for r in rows])
    return y_true, y_pred, [r["path"] for r in rows]


@pytest.fixture(scope="module")
def page() -> AppTest:
    return open_page()


def test_the_page_renders_the_default_models_cross_validated_figures(page):
    assert page.title[0].value == "Model performance"
    assert page.selectbox[0].value == DEFAULT_MODEL_DIR
    assert {m.label for m in page.metric} >= {"CV accuracy", "Macro-F1"}
    titles = [json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "") for c in page.get("plotly_chart")]
    assert any(t.startswith("ROC") for t in titles) and any(t.startswith("Precision-recall") for t in titles)
    assert any(t.startswith("Reliability") for t in titles)
    report = next(d.value for d in page.dataframe if DISPLAY_NAMES[0] in d.value.index)  # after any comparison table
    assert list(report.index[:len(DISPLAY_NAMES)]) == list(DISPLAY_NAMES)
    assert "±" in report.loc[DISPLAY_NAMES[0], "Recall"]


def test_the_page_leads_with_each_questions_figures_on_sources_left_out(page):
    questions = card_of()["questions"]
    assert page.tabs[0].label == "Three questions"
    headings = [h.value for h in page.subheader]
    assert headings.index("On sources it never saw") == 0 < headings.index("Grouped cross-validation") < headings.index("Confusion matrix")
    assert any("0.5 = chance" in c.value for c in page.caption)
    tables = [d.value for d in page.dataframe if "Scored against" in d.value]
    scored = [q for q in QUESTIONS if questions[q.name]["left_out"]]
    assert len(tables) == len(scored) and page.dataframe[0].value.equals(tables[0])  # the first table on the page
    for table, q in zip(tables, scored, strict=True):
        left_out = questions[q.name]["left_out"]
        assert list(table["Source"]) == [r["source"] for r in left_out]
        assert list(table["Scored against"]) == [r["paired"] for r in left_out]
        assert question_rows_match(table, [r["figures"] for r in left_out], q.yes.capitalize())
    never = [q for q in QUESTIONS if not questions[q.name]["left_out"]]
    assert [q.name for q in never] == ["pneumonia_type"]
    assert any(i.value.startswith("Pneumonia type was never validated on a source left out") for i in page.info)
    said = " ".join(m.value for m in page.markdown)
    assert all(note in said for q in QUESTIONS for note in questions[q.name]["never_validated_on"])


def test_grouped_cross_validation_shows_each_question_on_all_films_then_each_source(page):
    questions = card_of()["questions"]
    for q in QUESTIONS:
        table = next(d.value for d in tab(page, q.title).dataframe)
        figures = questions[q.name]
        assert list(table["Films from"]) == ["All sources", *figures["grouped_cv_by_source"]]
        assert question_rows_match(table, [figures["grouped_cv"], *figures["grouped_cv_by_source"].values()], q.yes.capitalize())


@pytest.mark.parametrize("model_dir", [DEFAULT_MODEL_DIR, SINGLE_SOURCE], ids=lambda d: d.name)
def test_no_cell_or_text_reads_none_nan_a_path_or_a_command(page, model_dir):
    page.selectbox[0].set_value(model_dir).run()
    for frame in page.dataframe:
        cells = frame.value.to_numpy().ravel().tolist() + list(frame.value.index)
        assert frame.proto.placeholder == "–" or not frame.value.isna().any().any(), frame.value
        assert not any(isinstance(c, str) and c.strip() in ("None", "nan", "NaN", "") for c in cells), frame.value
    for text in page_text(page):
        assert not any(word in shown(text) for word in PAGE_TEXT_NEVER), text
    page.selectbox[0].set_value(DEFAULT_MODEL_DIR).run()


def test_images_come_from_a_zip_without_a_choice_when_no_server_folder_is_allowed(page, monkeypatch):
    monkeypatch.delenv("CXR_DATA_ROOTS", raising=False)
    page.run()
    assert not [r for r in page.radio if r.key == "own_source"] and page.file_uploader


def test_a_zip_with_pneumonia_of_unknown_type_is_scored_on_the_three_questions(multisource_dir, classifier):
    members = labelled_members({label: sorted((multisource_dir / label).iterdir())[:2] for label in LABEL_NAMES})
    assert sum(name.startswith(f"{PNEUMONIA_UNSPECIFIED}/") for name in members) == 2
    summary, _ = evaluate_images(classifier, read_labelled_zip(zip_bytes(members), LABEL_NAMES))
    at = open_page()
    at.file_uploader[0].upload("mine.zip", zip_bytes(members), "application/zip")
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    table = next(d.value for d in at.dataframe if "Question" in d.value)
    assert list(table["Question"]) == [q.title for q in QUESTIONS]
    figures = [summary["questions"][q.name] for q in QUESTIONS]
    assert question_rows_match(table, figures, "Yes")
    kept = len(members) - summary["not_a_chest_xray"]
    assert figures[1]["n"] == kept and figures[2]["n"] <= 4  # the typed pneumonias only: bacterial and viral, two each
    assert list(table["95 % interval"]) == [f"{f['right_ci'][0]:.1%} to {f['right_ci'][1]:.1%}" if f["right_ci"] else "–"
                                            for f in figures]
    assert any(c.value.startswith("2 film(s) labelled pneumonia of unknown type") for c in at.caption)
    matrix = heatmaps(at)[-1]
    assert matrix["y"] == list(DISPLAY_NAMES) and sum(map(sum, matrix["z"])) == len(members) - 2
    assert at.get("download_button")


def test_the_matrix_shown_is_sklearns_confusion_matrix_of_the_stored_predictions(page):
    y_true, y_pred, files = stored_predictions()
    matrix = heatmaps(page)[0]
    assert matrix["x"] == list(DISPLAY_NAMES) and matrix["y"] == list(DISPLAY_NAMES)
    assert matrix["z"] == confusion_matrix(y_true, y_pred, labels=range(len(CLASS_NAMES))).tolist()
    wrong = int(np.flatnonzero(y_true != y_pred)[0])
    assert files[wrong] in matrix["customdata"][y_true[wrong]][y_pred[wrong]]  # hover lists the files in the cell


def test_row_normalised_rows_sum_to_one(page):
    page.radio(key="cv_matrix_mode").set_value(NORMALISED).run()
    matrix = np.array(heatmaps(page)[0]["z"])
    assert np.allclose(matrix.sum(axis=1), 1.0)
    y_true, y_pred, _ = stored_predictions()
    assert np.allclose(matrix, confusion_matrix(y_true, y_pred, labels=range(len(CLASS_NAMES)), normalize="true"))


def test_an_uploaded_zip_gives_the_matrix_that_core_evaluate_gives_on_the_same_files(xray_paths, tmp_path):
    files = {label: paths[:2] for label, paths in xray_paths.items()}
    members = labelled_members(files)
    linked_dataset(tmp_path, files)
    cli = subprocess.run([sys.executable, "-m", "core.cli.evaluate", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr

    at = open_page()
    at.file_uploader[0].upload("mine.zip", zip_bytes(members), "application/zip")
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert heatmaps(at)[-1]["z"] == json.loads(cli.stdout)["confusion_matrix"]
    assert any(m.label == "Images evaluated" and m.value == str(len(members)) for m in at.metric)
    assert at.get("download_button")


@pytest.mark.parametrize("members, message", [
    ({"tuberculosis/a.png": b"x"}, "unknown class folder(s) in the ZIP: tuberculosis"),
    ({"../evil.png": b"x"}, "'../evil.png' points outside the archive"),
    ({"covid19/notes.txt": b"no image here"}, "no images found in the ZIP"),
])
def test_a_bad_zip_gets_a_clear_message(page, members, message):
    page.file_uploader[0].upload("bad.zip", zip_bytes(members), "application/zip")
    page.run()
    assert not page.exception
    assert any(message in shown(e.value) and "bad.zip" in shown(e.value) for e in page.error), [e.value for e in page.error]
    page.file_uploader[0].clear()


def test_several_models_are_compared_side_by_side_and_each_can_be_picked(tmp_path, monkeypatch):
    other = tmp_path / "small_cnn"
    other.mkdir()
    card = json.loads((DEFAULT_MODEL_DIR / CARD_FILE).read_text())
    card["cross_validation"]["accuracy"] = {"mean": 0.5, "std": 0.1, "per_fold": [0.4, 0.6]}
    (other / CARD_FILE).write_text(json.dumps({**card, "name": "small_cnn", "backbone": "small_cnn"}))
    (other / MODEL_FILE).symlink_to(DEFAULT_MODEL_DIR / MODEL_FILE)
    (other / PREDICTIONS_FILE).symlink_to(DEFAULT_MODEL_DIR / PREDICTIONS_FILE)
    monkeypatch.setattr(model_card, "list_model_dirs", lambda: [DEFAULT_MODEL_DIR, other])

    at = open_page()
    table = comparison(at)
    assert list(table["Model"]) == ["default", "small_cnn"]
    assert table.loc[1, "CV accuracy"] == "50.0% ± 10.0%"
    loso = card.get("validation", {}).get("leave_one_source_out", {}).get("accuracy")
    assert shown_as(table.loc[0, LOSO_ACCURACY], percent(loso))
    assert table.loc[0, "Parameters"] == load_bundle(DEFAULT_MODEL_DIR).model.count_params()
    at.selectbox[0].set_value(other).run()
    assert not at.exception and heatmaps(at)
    assert any("small_cnn has no training history" in i.value for i in at.info)


def test_a_server_folder_is_evaluated_and_a_missing_one_named(xray_paths, tmp_path, monkeypatch):
    linked_dataset(tmp_path, {label: paths[:1] for label, paths in xray_paths.items()})
    monkeypatch.setenv("CXR_DATA_ROOTS", str(tmp_path))
    at = open_page()
    at.radio(key="own_source").set_value("Folder on this server").run()
    at.text_input(key="own_folder").input(str(tmp_path / "nowhere")).run()
    at.button(key="own_evaluate").click().run()
    assert [shown(e.value) for e in at.error] == ["Cannot evaluate that folder: no such folder inside the allowed folders."]
    at.text_input(key="own_folder").input(str(tmp_path)).run()
    at.button(key="own_evaluate").click().run()
    assert not at.error and any(m.label == "Images evaluated" and m.value == str(len(xray_paths)) for m in at.metric)


def test_the_by_source_view_shows_one_row_per_source_with_the_cards_figures(page):
    validation = card_of()["validation"]
    view = tab(page, "By source")
    tables = [d.value for d in view.dataframe if "Source" in d.value and "Accuracy" in d.value]
    assert len(tables) == 2
    assert any(m.value.startswith("**Grouped folds**") for m in view.markdown)
    assert any(m.value.startswith("**Left out**") and "never saw that source" in m.value for m in view.markdown)
    for table, run in zip(tables, ("grouped_cv", "leave_one_source_out"), strict=True):
        per_source = validation[run]["per_source"]
        assert list(table["Source"]) == list(per_source)
        for row, figures in zip(table.to_dict("records"), per_source.values(), strict=True):
            assert all(shown_as(row[column], figure(figures)) for column, figure in SOURCE_COLUMNS.items()), (run, row)


def test_one_sources_matrix_left_out_has_a_row_for_pneumonia_of_unknown_type(page):
    rows = json.loads((DEFAULT_MODEL_DIR / PREDICTIONS_FILE).read_text())
    source = rows[-1]["source"]
    page.selectbox(key="source_pick").set_value(source).run()
    page.radio(key="source_run").set_value("Left out").run()
    mine = [r for r in rows if r["source"] == source]
    y_true = [LABEL_NAMES.index(r["true"]) for r in mine]
    y_pred = [int(np.argmax([r["left_out_probabilities"][name] for name in CLASS_NAMES])) for r in mine]
    matrix = heatmaps(page)[1]
    assert matrix["y"] == [*DISPLAY_NAMES, "Pneumonia (type unknown)"] and matrix["x"] == list(DISPLAY_NAMES)
    assert matrix["z"] == confusion_matrix(y_true, y_pred, labels=range(len(LABEL_NAMES)))[:, :len(CLASS_NAMES)].tolist()


def test_the_shortcut_audit_and_the_aims_are_the_cards(page):
    validation = card_of()["validation"]
    audit, view = validation["source_audit"], tab(page, "By source")
    metrics = {m.label: m for m in view.metric}
    assert metrics["Source told from the features"].value == f"{audit['source_balanced_accuracy']:.1%}"
    assert metrics["Source told from the features"].delta == f"chance {audit['source_chance']:.1%}"
    assert metrics["Class told from the features"].value == f"{audit['class_balanced_accuracy']:.1%}"
    aims = next(d.value for d in view.dataframe if "Met" in d.value)
    assert list(aims["Where"]) == [a["where"] for a in validation["aims"]]
    three_decimals = {"covid19_auroc", "ece"}  # not shares: the rest are in percent, like every share on the page
    assert list(aims["Value"]) == [f"{a['value']:.3f}" if a["figure"] in three_decimals else f"{a['value']:.1%}"
                                   for a in validation["aims"]]
    for shown_aim, a in zip(aims["Aim"], validation["aims"], strict=True):
        bound = float(a["aim"].split()[-1])
        assert shown_aim.endswith(f"{bound:.3f}" if a["figure"] in three_decimals else f" {bound:.1%}"), (shown_aim, a)
    assert list(aims["Met"]) == [{True: "yes", False: "no", None: "not measured"}[a["met"]] for a in validation["aims"]]


def test_the_sidebar_gives_each_questions_figures_on_sources_it_never_saw_with_details_in_tooltips():
    card = model_card.read_card(DEFAULT_MODEL_DIR)
    lines = {m.value.split(":")[0]: m for m in open_page().sidebar.markdown}  # AppTest keeps a page's first run's sidebar
    for name, validation in card.questions.items():
        line = lines[answers.TITLES[name]]
        assert answers.unseen_text(validation).removeprefix("on hospitals it never saw, ") in line.value
        for detail in answers.unseen_details(validation):  # each source's figure beside the base rate it must beat
            assert detail in line.help
    assert "never tested on a hospital it never saw" in lines[answers.TITLES["pneumonia_type"]].value


def test_the_sidebar_of_a_model_without_questions_names_four_class_cross_validation_and_chance(monkeypatch):
    from ui import common
    monkeypatch.setattr(common, "DEFAULT_MODEL_DIR", SINGLE_SOURCE)
    shown = " ".join(m.value for m in open_page().sidebar.markdown)
    cv = card_of(SINGLE_SOURCE)["cross_validation"]["accuracy"]["mean"]
    assert f"Four-class cross-validated accuracy: **{cv:.1%}** (chance 25 %)" in shown


@pytest.mark.parametrize("exhibit", [SINGLE_SOURCE, SMALL_CNN], ids=lambda d: d.name)
def test_models_trained_on_the_4class_set_are_flagged_and_not_validated_across_sources(page, exhibit):
    page.selectbox[0].set_value(exhibit).run()
    assert not page.exception
    assert card_of(exhibit)["exhibit"] in [w.value for w in page.warning]
    assert any(f"{exhibit.name} was not validated across sources" in i.value for i in tab(page, "By source").info)
    assert any(f"{exhibit.name} predates the three questions" in i.value for i in page.info)
    assert "Three questions" not in [t.label for t in page.tabs]
    table = comparison(page).set_index("Model")
    assert pd.isna(table.loc[exhibit.name, LOSO_ACCURACY])
    assert table.loc[exhibit.name, "Trained on"] == "chest_xray_4class"
    assert table.loc["default", "Trained on"] == "chest_xray_multisource"
    page.selectbox[0].set_value(DEFAULT_MODEL_DIR).run()


def test_an_evaluation_on_the_models_own_training_images_is_flagged_with_intervals(multisource_dir):
    training = card_of()["training_files"][:8]
    members = {entry["file"]: (multisource_dir / entry["file"]).read_bytes() for entry in training}
    at = open_page()
    at.file_uploader[0].upload("mine.zip", zip_bytes(members), "application/zip")
    at.run()
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert any(w.startswith("Only 8 images") for w in warnings)
    assert any(w.startswith("8 of 8 images are in this model's training set") for w in warnings)
    accuracy = next(m for m in at.metric if m.label == "Four-class accuracy")
    assert any(c.value.startswith("95 % interval: ") and " to " in c.value for c in at.caption)
    recall = next(d.value for d in at.dataframe if "Class" in d.value)
    assert list(recall["Class"]) == list(DISPLAY_NAMES)
    assert accuracy.value.endswith("%")


def test_a_few_images_not_in_the_training_files_get_the_small_set_warning_but_no_training_flag(xray_paths):
    """Training films saved again as PNG are other files: only a byte-identical training file is flagged."""
    members = {}
    for folder, paths in xray_paths.items():
        buffer = io.BytesIO()
        Image.open(paths[0]).save(buffer, "PNG")
        members[f"{folder}/{paths[0].stem}.png"] = buffer.getvalue()
    at = open_page()
    at.file_uploader[0].upload("mine.zip", zip_bytes(members), "application/zip")
    at.run()
    warnings = [w.value for w in at.warning]
    assert any(w.startswith(f"Only {len(members)} images") for w in warnings)
    assert not any("in this model's training set" in w for w in warnings)


def test_after_switching_model_the_page_says_diagnose_and_the_sidebar_still_use_the_default(page):
    assert not any("Analyse an X-ray always uses" in i.value for i in page.info)
    page.selectbox[0].set_value(SINGLE_SOURCE).run()
    note = next(i.value for i in page.info if "Analyse an X-ray always uses" in i.value)
    assert "**single_source**" in note and "**default**" in note and "sidebar" in note
    page.selectbox[0].set_value(DEFAULT_MODEL_DIR).run()


def test_curves_hover_with_class_threshold_and_rates_in_percent_and_keep_legends_off_the_data(page):
    layouts = {json.loads(c.proto.spec)["layout"].get("title", {}).get("text", ""): json.loads(c.proto.spec)
               for c in page.get("plotly_chart")}
    for title in ("ROC, one class against the rest", "Precision-recall, one class against the rest"):
        spec = layouts[title]
        assert spec["layout"]["legend"]["y"] < 0 and spec["layout"]["legend"]["orientation"] == "h"
        curve = next(trace for trace in spec["data"] if trace["name"].startswith(DISPLAY_NAMES[0]))
        assert curve["hovertemplate"].startswith(f"<b>{DISPLAY_NAMES[0]}</b><br>threshold %{{customdata}}")
        assert "%{x:.1%}" in curve["hovertemplate"] and "%{y:.1%}" in curve["hovertemplate"]
        assert all(text.endswith("%") or text == "above every probability" for text in curve["customdata"])
    assert "Accuracy and coverage at each confidence threshold" in layouts


def test_the_misclassified_table_shows_probabilities_by_the_one_rule_in_columns_that_fit(page):
    table = next(d for d in tab(page, "Misclassified").dataframe)
    assert "Confidence" not in table.value
    probabilities = table.value[[f"P({name})" for name in DISPLAY_NAMES]]
    assert probabilities.map(lambda v: v.endswith(" %")).all().all()
    assert not probabilities.map(lambda v: v in ("100.0 %", "0.0 %")).any().any()
