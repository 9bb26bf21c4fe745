"""The classroom pages, run headless with Streamlit's AppTest: they render, and their controls do what they say."""
import json
import os
import re
import time
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.classes import CLASS_NAMES
from core.imaging.phantom import chest_phantom
from core.paths import REPO_ROOT
from core.teaching.convolution import KERNEL_PRESETS, convolve2d
from core.teaching.recurrent import W_XH
from tests.support.apptest import app_test, page_test
from ui.common import plain

PAGES = REPO_ROOT / "pages"
SLIDE_H1 = [0.693168, 0.899554, 0.802118]  # the course slide's h_1 after reading "h"


def open_page(name: str, timeout: float = 120) -> AppTest:
    at = page_test(name).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def chart_specs(at: AppTest, title: str) -> list[str]:
    """The JSON specs of the Plotly charts whose title contains `title`."""
    return [chart.proto.spec for chart in at.get("plotly_chart") if title in chart.proto.spec]


def chart(at: AppTest, title: str) -> dict:
    """The Plotly figure whose title is `title`."""
    figures = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return next(f for f in figures if f["layout"].get("title", {}).get("text") == title)


def chart_grid(at: AppTest, title: str) -> list[list[float]]:
    """The numbers written in a grid figure's cells."""
    return [[float(v) for v in row] for row in chart(at, title)["data"][1]["text"]]


def markdown_containing(at: AppTest, text: str) -> list[str]:
    return [m.value for m in at.markdown if text in m.value]


def rerun_while(at: AppTest, state_key: str, seconds: float = 240) -> AppTest:
    """Rerun the page, as its polling does, while `state_key` (a run in progress) is in the session."""
    deadline = time.monotonic() + seconds
    while state_key in at.session_state and time.monotonic() < deadline:
        time.sleep(0.5)
        at.run()
    return at


@pytest.fixture(scope="module")
def small_xray_folder(dataset_dir: Path, tmp_path_factory) -> Path:
    """Six X-rays per class, as links to the shared set."""
    root = tmp_path_factory.mktemp("xrays")
    for name in CLASS_NAMES:
        (root / name).mkdir()
        for path in sorted((dataset_dir / name).iterdir())[:6]:
            os.symlink(path, root / name / path.name)
    return root


# ----------------------------------------------------------------------------- pages side by side in one session

def test_no_two_pages_share_a_widget_key():
    """Streamlit keeps widget values by key for the whole session: a key two pages share hands one page's value
    (e.g. Train a CNN's "relu") to the other page's widget, whose options may not hold it."""
    pages_of: dict[str, set[str]] = {}
    for path in PAGES.glob("*.py"):
        for key in re.findall(r'key="([^"{]+)"', path.read_text()):
            pages_of.setdefault(key, set()).add(path.name)
    assert {key: names for key, names in pages_of.items() if len(names) > 1} == {}


def test_train_a_cnn_then_the_convolution_lab_in_one_session():
    at = app_test().switch_page("pages/train_in_browser.py").run()
    at.selectbox(key="train_activation").set_value("relu").run()
    at.switch_page("pages/convolution_lab.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert markdown_containing(at, "Sum of the products")  # the lab's first lesson is on the page


# ----------------------------------------------------------------------------- convolution lab

def test_convolution_lab_a_preset_changes_the_feature_map():
    at = open_page("convolution_lab.py")
    assert markdown_containing(at, "feature map **128 × 128**")  # phantom 128 px, 3×3 kernel, padding 1, stride 1
    before = chart_specs(at, "Feature map (Sobel x)")
    at.selectbox(key="kernel").set_value("Sharpen").run()
    after = chart_specs(at, "Feature map (Sharpen)")
    assert before and after and before != after

    at.slider(key="stride").set_value(2).run()
    at.slider(key="padding").set_value(0).run()
    assert markdown_containing(at, "feature map **63 × 63**")  # floor((128 - 3) / 2) + 1
    assert not at.exception


def output_cell(at: AppTest) -> str:
    return markdown_containing(at, "Output cell")[0]


def test_convolution_step_through_reaches_the_last_cell():
    at = open_page("convolution_lab.py")
    assert output_cell(at).startswith("**Output cell 1 of 9**") and output_cell(at).endswith("**91**")  # the course's stride example

    at.slider(key="step").set_value(9).run()
    assert output_cell(at).startswith("**Output cell 9 of 9**") and output_cell(at).endswith("**74**")


def test_play_moves_the_slider_and_can_be_paused_and_stepped():
    at = open_page("convolution_lab.py")
    at.slider(key="step").set_value(2).run()
    at.button(key="play").click().run()  # each redraw while playing moves on one cell
    assert at.slider(key="step").value == 3 and at.button(key="play").label == "⏸ Pause"
    at.run()
    assert at.slider(key="step").value == 4 and output_cell(at).startswith("**Output cell 4 of 9**")
    at.button(key="play").click().run()  # pause
    at.run()
    assert at.slider(key="step").value == 4 and at.button(key="play").label == "▶ Play"
    at.button(key="step_forward").click().run()
    assert at.slider(key="step").value == 5
    at.button(key="step_back").click().run()
    at.button(key="step_back").click().run()
    assert at.slider(key="step").value == 3

    at.slider(key="step").set_value(8).run()
    at.button(key="play").click().run()
    assert at.slider(key="step").value == 9 and at.button(key="play").label == "▶ Play"  # stops at the last cell
    assert output_cell(at).endswith("**74**")


def test_the_course_example_says_it_is_fixed_and_why_the_slide_differs():
    at = open_page("convolution_lab.py")
    assert [c.value for c in at.caption if "the layer chosen above does not change it" in c.value]
    note = [i.value for i in at.info if "course slide prints" in i.value]
    assert note and "83 for output cell 3 and 127 for output cell 6" in note[0] and "gets 88 and 117" in note[0]
    at.slider(key="step").set_value(3).run()
    assert output_cell(at).endswith("**88**")

    at.radio(key="grid").set_value(at.radio(key="grid").options[1]).run()  # the same input with the chosen layer
    at.slider(key="stride").set_value(1).run()
    assert output_cell(at).startswith("**Output cell 1 of 49**")  # 7×7 input, Sobel x, padding 1, stride 1
    assert not [i.value for i in at.info if "course slide prints" in i.value]


def test_a_typed_pixel_shows_its_window_products_and_sum_as_in_the_feature_map():
    at = open_page("convolution_lab.py")  # the chest phantom and Sobel x with padding 1
    at.number_input(key="pixel_row").set_value(80)
    at.number_input(key="pixel_col").set_value(40).run()
    brightness = np.round(chest_phantom(128) * 255)
    window = brightness[78:81, 38:41]  # rows and columns 79–81 and 39–41, counted from 1
    products = window * KERNEL_PRESETS["Sobel x"]
    assert chart_grid(at, "Window (0–255)") == window.tolist()
    assert chart_grid(at, "= products") == products.tolist()
    total = products.sum()
    feature_map = convolve2d(brightness / 255, KERNEL_PRESETS["Sobel x"], padding=1)
    assert total != 0 and total / 255 == pytest.approx(feature_map[79, 39])
    assert markdown_containing(at, f"Sum of the products = **{total:.4g}**; ÷ 255 (brightness runs from 0 to 1) = "
                                   f"**{total / 255:.4g}**, the feature map's row 80, column 40. After ReLU (section 3): "
                                   f"**{max(total, 0) / 255 + 0.0:.4g}**.")


def test_a_pixel_no_window_is_centred_on_gets_the_nearest_window():
    at = open_page("convolution_lab.py")
    at.slider(key="stride").set_value(2)
    at.slider(key="padding").set_value(0)
    at.number_input(key="pixel_row").set_value(1)
    at.number_input(key="pixel_col").set_value(128).run()
    assert [c.value for c in at.caption if c.value.startswith("No window is centred on this pixel")] == [
        "No window is centred on this pixel with this stride and padding: the nearest is centred on row 2, column 126."]
    assert markdown_containing(at, "the feature map's row 1, column 63.")  # the last of floor((128 - 3) / 2) + 1 = 63


def page_text(at: AppTest) -> list[str]:
    """Everything a student reads on the page: text, widget labels and options, and chart titles."""
    texts = [e.value for kind in ("markdown", "caption", "info", "warning", "error", "header", "latex") for e in at.get(kind)]
    for kind in ("radio", "selectbox", "slider", "number_input", "toggle", "button", "text_input", "select_slider"):
        for widget in at.get(kind):
            texts += [widget.label, *map(str, getattr(widget, "options", []))]
    texts += [json.loads(chart.proto.spec)["layout"].get("title", {}).get("text", "") for chart in at.get("plotly_chart")]
    return texts


# Code names (pixel_arithmetic, convolve2d), file paths and library names; maths such as h_t, x_1 or W_xh is allowed.
DEVELOPER_WORDS = re.compile(r"\b[a-z]{2,}(_[a-z0-9]+)+\b|\b\w+2d\b|\.py\b|\bcore/|\breturned\b|\bnumpy\b|\bstreamlit\b|\bscikit",
                             re.IGNORECASE)


@pytest.mark.parametrize("name", ["convolution_lab.py", "recurrent_cell.py"])
@pytest.mark.parametrize("projector", [False, True])
def test_no_developer_words_on_the_classroom_pages(name, projector):
    at = page_test(name)
    at.session_state["projector"] = projector
    at.run()
    assert [m.group(0) for text in page_text(at) for m in DEVELOPER_WORDS.finditer(text)] == [] and len(page_text(at)) > 20


def test_the_projector_switch_enlarges_images_and_numbers_and_stays_on_for_the_session():
    at = open_page("convolution_lab.py")
    assert at.toggle(key="projector_switch").value is False
    laptop_image, laptop_grid = chart(at, "Input: click any pixel"), chart(at, "Window (0–255)")
    at.toggle(key="projector_switch").set_value(True).run()
    assert at.session_state["projector"] is True
    image, grid = chart(at, "Input: click any pixel"), chart(at, "Window (0–255)")
    assert image["layout"]["height"] > laptop_image["layout"]["height"]  # drawn at least 320 px: tests/browser/test_projector.py
    assert grid["data"][1]["textfont"]["size"] >= 16 and grid["data"][1]["textfont"]["size"] > laptop_grid["data"][1]["textfont"]["size"]
    assert len(at.get("html")) == 1  # the page's projector styling

    recurrent = page_test("recurrent_cell.py")
    recurrent.session_state["projector"] = True  # as the lab left it in this session
    recurrent.run()
    assert recurrent.toggle(key="projector_switch").value is True and len(recurrent.get("html")) == 1
    bars = next_character_chart(recurrent)
    assert bars["layout"]["xaxis"]["tickfont"]["size"] >= 16
    recurrent.toggle(key="projector_switch").set_value(False).run()
    assert recurrent.session_state["projector"] is False and not recurrent.get("html")


def font_sizes(spec, inside_font: bool = False) -> list[float]:
    """Every font size a chart's JSON sets, outside its template (Streamlit's theme replaces the template)."""
    if isinstance(spec, dict):
        found = [spec["size"]] if inside_font and "size" in spec else []
        return found + [size for key, value in spec.items() if key != "template"
                        for size in font_sizes(value, "font" in key.lower())]
    if isinstance(spec, list):
        return [size for item in spec for size in font_sizes(item, inside_font)]
    return []


@pytest.mark.parametrize("name", ["convolution_lab.py", "inside_the_cnn.py", "recurrent_cell.py", "shortcut_lesson.py"])
def test_in_projector_mode_every_chart_sets_every_font_to_at_least_16px(name):
    at = page_test(name)
    at.session_state["projector"] = True
    at.run()
    figures = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    assert not at.exception and figures
    for figure in figures:
        sizes = [size for size in font_sizes(figure) if size is not None]
        layout = figure["layout"]
        assert sizes and min(sizes) >= 16 and layout["font"]["size"] >= 16, layout.get("title")


def test_convolution_lab_pools_the_course_example():
    at = open_page("convolution_lab.py")
    assert markdown_containing(at, "Flatten, row by row: `[9, 2, 6, 3]`")
    at.radio(key="pool_mode").set_value("avg").run()
    assert markdown_containing(at, "Flatten, row by row: `[3.75, 1.25, 3.75, 2]`")


# ----------------------------------------------------------------------------- recurrent cell

def next_character_chart(at: AppTest) -> dict:
    """The Recurrent cell's bar chart of the next character's probabilities (titled by the text above it)."""
    return next(f for f in map(json.loads, (c.proto.spec for c in at.get("plotly_chart"))) if f["data"][0]["type"] == "bar")


def shown_h1(at: AppTest) -> list[float]:
    step = markdown_containing(at, "h_1 = tanh")[0]
    return [float(v) for v in re.search(r"h_1 = tanh\(…\) = `\[([^\]]+)\]`", step).group(1).split(",")]


def test_recurrent_page_shows_the_slide_hidden_state_to_three_decimals_or_six_when_asked():
    at = open_page("recurrent_cell.py")
    assert markdown_containing(at, "h_1 = tanh(…) = `[0.693, 0.900, 0.802]`")
    at.toggle(key="all_decimals").set_value(True).run()
    np.testing.assert_allclose(shown_h1(at), SLIDE_H1, atol=1e-6)
    assert at.dataframe[0].value.loc["h1", "h"] == pytest.approx(0.287027)  # W_xh starts at the slide's values
    assert markdown_containing(at, "**After reading 'h':** how likely is each character to come next?")
    assert list(next_character_chart(at)["data"][0]["x"]) == ["h", "e", "l", "o"]


def test_recurrent_caption_follows_the_text_and_the_weights_reset_to_the_slide():
    at = open_page("recurrent_cell.py")
    caption = markdown_containing(at, "the network predicts")[0]
    assert caption.startswith("Reading 'hell', the network predicts") and "match the course's answer 'e, l, l, o'" in caption
    at.text_input(key="text").set_value("hello").run()
    caption = markdown_containing(at, "the network predicts")[0]
    assert caption.startswith("Reading 'hello'") and "'e, l, l, o' (the last step has nothing to match)" in caption
    assert "'e, l, l, o' for 'hell'" not in caption

    at.number_input(key="b_0").set_value(5.0).run()
    assert shown_h1(at) != pytest.approx([0.693, 0.900, 0.802], abs=1e-3)
    at.button(key="reset_weights").click().run()
    assert shown_h1(at) == pytest.approx([0.693, 0.900, 0.802], abs=1e-3)


def test_recurrent_page_names_characters_outside_the_vocabulary():
    at = open_page("recurrent_cell.py")
    at.text_input(key="text").set_value("help").run()
    assert [e.value for e in at.error] == ["'p' not in the vocabulary: use only h, e, l, o."]


def test_in_projector_mode_the_weights_are_number_boxes_and_an_edit_outlasts_the_switch():
    """No canvas grid in projector mode (its 13 px text is out of the styling's reach: tests/browser/test_projector.py)."""
    at = open_page("recurrent_cell.py")
    at.toggle(key="projector_switch").set_value(True).run()
    assert not at.dataframe and len(at.table) == 2  # the results and the LSTM's gates, as HTML tables
    weight = at.number_input(key="w_xh_0_0_1")  # W_xh from 'e' to h1
    assert weight.value == pytest.approx(W_XH[0][1])
    weight.set_value(2.0).run()
    at.toggle(key="projector_switch").set_value(False).run()
    assert at.dataframe[0].value.loc["h1", "e"] == 2.0  # the laptop's editor starts from the edit


# ----------------------------------------------------------------------------- train a CNN

def train_digits(epochs: int) -> AppTest:
    at = open_page("train_in_browser.py")
    at.slider(key="epochs").set_value(epochs)
    return at.button(key="train").click().run()


def network_says(at: AppTest) -> str:
    return markdown_containing(at, "The network says")[0]


def png(pixels: np.ndarray) -> bytes:
    return cv2.imencode(".png", pixels)[1].tobytes()


@pytest.mark.training
def test_one_epoch_on_the_digits_shows_its_curves_then_downloads_and_answers_on_an_image_of_your_choice(tmp_path):
    at = rerun_while(train_digits(1), "live_job", 90)
    assert not at.exception, [e.value for e in at.exception]
    runs = at.session_state["runs"]
    assert len(runs) == 1 and runs[0]["Epochs"] == "1/1" and 0 <= runs[0]["Test accuracy"] <= 1
    assert chart_specs(at, '"text":"Loss"')  # the loss and accuracy curves
    assert [m.value for m in at.metric][0].endswith("%")
    assert [b.proto.label for b in at.get("download_button")] == ["Download the trained network (.keras)"]
    (tmp_path / "small_cnn.keras").write_bytes(at.session_state["last_model_file"])
    assert keras.saving.load_model(tmp_path / "small_cnn.keras").input_shape == (None, 8, 8, 1)

    assert network_says(at).startswith("Test image 1, really ")  # a held-out digit by default
    at.slider(key="try_index").set_value(7).run()
    assert network_says(at).startswith("Test image 7, really ") and chart_specs(at, "The network's probabilities")

    at.radio(key="try_source").set_value("Your image").run()
    assert [i.value for i in at.info][-1] == "Choose an image file."
    seven = np.full((64, 64), 255, np.uint8)
    cv2.line(seven, (12, 12), (52, 12), 0, 6)
    cv2.line(seven, (52, 12), (24, 56), 0, 6)
    at.file_uploader(key="try_upload").set_value(("my *seven*.png", png(seven), "image/png")).run()
    assert network_says(at).startswith(plain("my *seven*.png") + ". The network says **")  # as typed, not emphasis
    at.file_uploader(key="try_upload").set_value(("notes.png", b"not an image", "image/png")).run()
    assert [e.value for e in at.error][0].startswith(plain("notes.png") + " cannot be used: ")
    assert not at.exception


@pytest.mark.training
def test_training_can_be_paused_resumed_and_stopped():
    at = train_digits(50)
    run = at.session_state["live_job"]
    run.wait(0.5)  # a free training slot is taken at once; the bar with Pause shows from then
    at.run()
    at.button(key="live_pause").click().run()
    assert run.paused and at.get("progress")[0].proto.text.endswith("— paused")
    epochs = len(run.work.history.get("loss", []))
    assert at.button(key="live_pause").label == "Resume"
    at.button(key="live_pause").click().run()
    assert not run.paused and at.button(key="live_pause").label == "Pause"
    at.button(key="live_stop").click().run()
    rerun_while(at, "live_job", 90)
    assert not at.exception
    runs = at.session_state["runs"]
    assert runs[0]["Stopped early"] and epochs <= at.session_state["last_result"].epochs_run < 50


def choose_server_xrays(at: AppTest, folder: Path, size: int) -> AppTest:
    at.radio(key="data_source").set_value("Chest X-rays at low resolution").run()
    at.radio(key="live_folder_choice").set_value("Chest X-rays from a folder on this server").run()
    at.text_input(key="live_folder").set_value(str(folder)).run()
    return at.select_slider(key="xray_size").set_value(size).run()


@pytest.mark.training
def test_xrays_load_with_a_bar_then_the_network_trains_and_reads_a_sample_film(small_xray_folder, monkeypatch):
    monkeypatch.setenv("CXR_DATA_ROOTS", str(small_xray_folder))
    at = choose_server_xrays(open_page("train_in_browser.py"), small_xray_folder, 32)
    at.slider(key="epochs").set_value(1)
    assert at.button(key="train").disabled  # until the X-rays are loaded

    at.button(key="load_xrays").click().run()
    assert at.get("progress") or "xrays_result" in at.session_state  # the bar, unless it was already done
    rerun_while(at, "xrays_job")
    assert not at.error and at.session_state["xrays_result"].x.shape == (24, 32, 32, 1)

    at.button(key="train").click().run()
    rerun_while(at, "live_job", 90)
    at.radio(key="try_source").set_value("A sample film").run()
    at.selectbox(key="try_sample").set_value("Child healthy").run()
    assert network_says(at).startswith("The sample film 'Child healthy'. The network says **")
    assert not at.exception


def test_loading_the_xrays_can_be_stopped(dataset_dir):
    at = open_page("train_in_browser.py")
    at.radio(key="data_source").set_value("Chest X-rays at low resolution").run()
    at.select_slider(key="xray_size").set_value(96).run()  # the shared set (316 X-rays), at a size no other test loads
    at.button(key="load_xrays").click().run()
    job = at.session_state["xrays_job"]
    at.button(key="xrays_stop").click().run()
    assert [i.value for i in at.info][-1].startswith("Stopped.") and at.button(key="load_xrays")
    job.wait(120)
    assert job.stopped and job.progress[1] < 316  # the reading really ended early


def test_train_page_names_a_missing_folder_inside_the_allowed_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("CXR_DATA_ROOTS", str(tmp_path))
    at = open_page("train_in_browser.py")
    at.radio(key="data_source").set_value("Chest X-rays at low resolution").run()
    at.radio(key="live_folder_choice").set_value("Chest X-rays from a folder on this server").run()
    at.text_input(key="live_folder").set_value("no_such_folder").run()
    assert [e.value for e in at.error] == ["Cannot use that folder: no such folder inside the allowed folders."]


def press_run_the_comparison(folder: Path, epochs: int = 5) -> AppTest:
    """A new session that runs the comparison on `folder` with 32-pixel X-rays."""
    at = open_page("train_in_browser.py")
    at.radio(key="compare_folder_choice").set_value("Chest X-rays from a folder on this server").run()
    at.text_input(key="compare_folder").set_value(str(folder)).run()
    at.select_slider(key="compare_size").set_value(32)
    at.slider(key="compare_epochs").set_value(epochs)
    return at.button(key="compare").click().run()


@pytest.mark.training
def test_two_sessions_running_the_same_comparison_share_one_run_without_error(small_xray_folder, monkeypatch):
    monkeypatch.setenv("CXR_DATA_ROOTS", str(small_xray_folder))
    first = press_run_the_comparison(small_xray_folder)
    second = press_run_the_comparison(small_xray_folder)  # same settings while (or after) the first runs
    for at in (first, second):
        rerun_while(at, "comparison_job")
        assert not at.exception, [e.value for e in at.exception]
        assert not at.error, [e.value for e in at.error]
    result = first.session_state["comparison_result"]
    assert second.session_state["comparison_result"] is result  # one run on the server, not one per session
    third = press_run_the_comparison(small_xray_folder)  # a later session gets the finished result at once
    assert not third.exception and third.session_state["comparison_result"] is result
    assert third.dataframe[0].value["Approach"].str.split(" ").str[0].tolist() == ["Small", "Frozen"]


def test_a_comparison_can_be_stopped(small_xray_folder, monkeypatch):
    monkeypatch.setenv("CXR_DATA_ROOTS", str(small_xray_folder))
    at = press_run_the_comparison(small_xray_folder, epochs=6)
    job = at.session_state["comparison_job"]
    assert at.get("progress")  # the bar and its Stop button, from the first moment
    at.button(key="comparison_stop").click().run()
    assert "comparison_job" not in at.session_state and "comparison_result" not in at.session_state
    assert [i.value for i in at.info][-1].startswith("Stopped.")
    job.wait(120)
    assert job.done and not at.exception


# ----------------------------------------------------------------------------- inside the CNN

def test_inside_the_cnn_renders_the_model():
    at = open_page("inside_the_cnn.py", timeout=180)
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Parameters"].replace(",", "")) > 0
    assert chart_specs(at, "#32")  # the 32 first-layer kernels of MobileNetV2's Conv1
    assert [c.value for c in at.caption if "Red weights are negative" in c.value]  # as the RdBu colour bar shows
    assert len(at.get("image")) == 2  # the model's input and its Grad-CAM overlay
    blocks = at.selectbox(key="cam_layer_block")
    assert blocks.options[0] == "Start" and blocks.options[-1] == "End" and len(blocks.options) == 19  # not ~150 layers
    assert at.selectbox(key="cam_layer_in_End").value == "out_relu"
    blocks.set_value("Start").run()
    convolution = at.selectbox(key="cam_layer_in_Start")
    assert convolution.value == "Conv1_relu" and convolution.options == ["3×3 convolution, stride 2: 32 maps of 112 × 112"]
    assert not at.exception and "at Start, 3×3 convolution" in at.get("image")[1].proto.imgs[0].caption


def test_inside_the_cnn_opens_on_a_sample_film_the_model_accepts_as_a_chest_xray(classifier):
    from core.data.samples import read_sample
    from core.imaging.decode import decode_image
    at = open_page("inside_the_cnn.py", timeout=180)
    assert at.radio(key="image_source").value.startswith("A sample") and at.selectbox(key="inside_sample").value == "Adult COVID-19"
    pixels = decode_image(read_sample("Adult COVID-19"), "sample.png").pixels
    assert classifier.analyse(pixels).status != "not_a_chest_xray"  # unlike the drawn phantom
    answers = [m.value for m in [*at.markdown, *at.warning] if "The model's answer for" in m.value]
    assert answers and "Adult COVID" in answers[0]


def test_inside_the_cnn_names_no_class_for_the_phantom_and_says_why_its_map_means_nothing():
    at = open_page("inside_the_cnn.py", timeout=180)
    at.radio(key="image_source").set_value("Chest phantom (a drawing, not an X-ray)").run()
    answer = next(w.value for w in at.warning if "The model's answer for" in w.value)
    assert "Not a chest X-ray" in answer and "no class is named" in answer and "shows no map" in answer
    assert not any(name in answer for name in ("COVID-19", "Healthy", "Bacterial", "Viral")) and "%" not in answer
    maps = [i for i in at.get("image") if "Grad-CAM for" in i.proto.imgs[0].caption]
    assert not at.exception and not maps and "cam_class_the chest phantom" not in at.session_state  # no class selector

    at.toggle(key="cam_refused").set_value(True).run()  # the teacher asks for the demonstration
    assert not at.exception and [i for i in at.get("image") if "Grad-CAM for" in i.proto.imgs[0].caption]
    assert any(c.value.startswith("A demonstration only") and "says nothing about disease" in c.value for c in at.caption)


def test_inside_the_cnn_offers_the_xrays_uploaded_on_diagnose(classifier, xray_paths):
    from core.serving.diagnosis import diagnose
    at = open_page("inside_the_cnn.py", timeout=180)
    assert "An X-ray you analysed" not in at.radio(key="image_source").options  # nothing uploaded yet
    uploaded = diagnose(classifier, "my *chest*.png", xray_paths["covid19"][0].read_bytes())
    at.session_state["diagnose_results"] = {uploaded.key: uploaded}  # as the Diagnose page leaves it
    at.run()
    at.radio(key="image_source").set_value("An X-ray you analysed").run()
    assert at.selectbox(key="inside_diagnosed").options == ["my *chest*.png"]
    answers = [m.value for m in [*at.markdown, *at.warning] if "The model's answer for" in m.value]
    assert answers and plain("my *chest*.png") in answers[0] and not at.exception


def test_filter_pictures_show_their_steps_and_can_be_stopped():
    at = open_page("inside_the_cnn.py", timeout=180)
    at.slider(key="am_steps").set_value(10)
    at.button(key="visualise").click().run()
    assert at.get("progress")  # the bar and its Stop button, from the first moment
    at.button(key="filters_stop").click().run()
    assert [i.value for i in at.info][-1].startswith("Stopped.") and "filters_result" not in at.session_state

    at.button(key="visualise").click().run()
    rerun_while(at, "filters_job")
    assert not at.exception and not at.error
    assert chart_specs(at, "filter 3")  # four filters by default: 0, 1, 2, 3
