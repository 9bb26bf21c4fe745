"""The Model performance page: honest cross-validated figures, and evaluation of an uploaded labelled ZIP."""
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix
from streamlit.testing.v1 import AppTest

from core.classes import CLASS_NAMES, DISPLAY_NAMES
from core import model_store
from core.model_store import CARD_FILE, DEFAULT_MODEL_DIR, HISTORY_FILE, MODEL_FILE, PREDICTIONS_FILE

REPO = Path(__file__).resolve().parents[1]
PAGE = "pages/model_performance.py"
NORMALISED = "Row-normalised (share of each true class)"


def open_page() -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=180)
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def heatmaps(at: AppTest) -> list[dict]:
    """The plotly heatmap traces on the page, in page order."""
    traces = [json.loads(chart.proto.spec)["data"][0] for chart in at.get("plotly_chart")]
    return [trace for trace in traces if trace["type"] == "heatmap"]


def stored_predictions() -> tuple[np.ndarray, np.ndarray, list[str]]:
    rows = json.loads((DEFAULT_MODEL_DIR / PREDICTIONS_FILE).read_text())
    y_true = np.array([CLASS_NAMES.index(r["true"]) for r in rows])
    y_pred = np.array([np.argmax([r["probabilities"][name] for name in CLASS_NAMES]) for r in rows])
    return y_true, y_pred, [r["path"] for r in rows]


def labelled_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


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
    members = {f"{folder}/{path.name}": path.read_bytes() for folder, paths in xray_paths.items() for path in paths[:2]}
    for name, data in members.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(data)
    cli = subprocess.run([sys.executable, "-m", "core.evaluate", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr

    at = open_page()
    at.file_uploader[0].upload("mine.zip", labelled_zip(members), "application/zip")
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert heatmaps(at)[1]["z"] == json.loads(cli.stdout)["confusion_matrix"]
    assert any(m.label == "Images evaluated" and m.value == str(len(members)) for m in at.metric)
    assert at.get("download_button")


@pytest.mark.parametrize("members, message", [
    ({"tuberculosis/a.png": b"x"}, "unknown class folder(s) in the ZIP: tuberculosis"),
    ({"../evil.png": b"x"}, "'../evil.png' points outside the archive"),
    ({"covid19/notes.txt": b"no image here"}, "no images found in the ZIP"),
])
def test_a_bad_zip_gets_a_clear_message(page, members, message):
    page.file_uploader[0].upload("bad.zip", labelled_zip(members), "application/zip")
    page.run()
    assert not page.exception
    assert any(message in e.value and "bad.zip" in e.value for e in page.error), [e.value for e in page.error]
    page.file_uploader[0].clear()


def test_several_models_are_compared_side_by_side_and_each_can_be_picked(tmp_path, monkeypatch):
    other = tmp_path / "small_cnn"
    other.mkdir()
    card = json.loads((DEFAULT_MODEL_DIR / CARD_FILE).read_text())
    card["cross_validation"]["accuracy"] = {"mean": 0.5, "std": 0.1, "per_fold": [0.4, 0.6]}
    (other / CARD_FILE).write_text(json.dumps({**card, "name": "small_cnn", "backbone": "small_cnn"}))
    (other / MODEL_FILE).symlink_to(DEFAULT_MODEL_DIR / MODEL_FILE)
    (other / PREDICTIONS_FILE).symlink_to(DEFAULT_MODEL_DIR / PREDICTIONS_FILE)
    monkeypatch.setattr(model_store, "list_model_dirs", lambda: [DEFAULT_MODEL_DIR, other])

    at = open_page()
    table = at.dataframe[0].value
    assert list(table["Model"]) == ["default", "small_cnn"]
    assert table.loc[1, "CV accuracy"] == "50.0% ± 10.0%"
    assert table.loc[0, "Parameters"] == model_store.load_model(DEFAULT_MODEL_DIR).model.count_params()
    at.selectbox[0].set_value(other).run()
    assert not at.exception and heatmaps(at)
    assert any(f"small_cnn has no {HISTORY_FILE}" in i.value for i in at.info)


def test_a_server_folder_is_evaluated_and_a_missing_one_named(xray_paths, tmp_path):
    for folder, paths in xray_paths.items():
        (tmp_path / folder).mkdir()
        (tmp_path / folder / paths[0].name).symlink_to(paths[0])
    at = open_page()
    at.radio(key="own_source").set_value("Folder on this server").run()
    at.text_input(key="own_folder").input(str(tmp_path / "nowhere")).run()
    at.button(key="own_evaluate").click().run()
    assert any(f"{tmp_path / 'nowhere'}: no such folder" in e.value for e in at.error), [e.value for e in at.error]
    at.text_input(key="own_folder").input(str(tmp_path)).run()
    at.button(key="own_evaluate").click().run()
    assert not at.error and any(m.label == "Images evaluated" and m.value == str(len(xray_paths)) for m in at.metric)
