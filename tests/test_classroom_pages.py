"""The classroom pages, run headless with Streamlit's AppTest: they render, and their controls do what they say."""
import re
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

PAGES = Path(__file__).resolve().parents[1] / "pages"
SLIDE_H1 = [0.693168, 0.899554, 0.802118]  # the course slide's h_1 after reading "h"


def open_page(name: str, timeout: float = 120) -> AppTest:
    at = AppTest.from_file(str(PAGES / name), default_timeout=timeout).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def chart_specs(at: AppTest, title: str) -> list[str]:
    """The JSON specs of the Plotly charts whose title contains `title`."""
    return [chart.proto.spec for chart in at.get("plotly_chart") if title in chart.proto.spec]


def markdown_containing(at: AppTest, text: str) -> list[str]:
    return [m.value for m in at.markdown if text in m.value]


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


def test_convolution_step_through_reaches_the_last_cell():
    at = open_page("convolution_lab.py")
    first = markdown_containing(at, "Output cell")[0]
    assert first.startswith("**Output cell 1 of 9**") and first.endswith("**91**")  # the course's stride example

    at.slider(key="step").set_value(9).run()
    last = markdown_containing(at, "Output cell")[0]
    assert last.startswith("**Output cell 9 of 9**") and last.endswith("**74**")

    at.slider(key="step").set_value(7).run()
    at.button(key="play").click().run()
    assert at.slider(key="step").value == 9
    assert markdown_containing(at, "Output cell")[0].startswith("**Output cell 9 of 9**")


def test_convolution_lab_pools_the_course_example():
    at = open_page("convolution_lab.py")
    assert markdown_containing(at, "Flatten, row by row: `[9, 2, 6, 3]`")
    at.radio(key="pool_mode").set_value("avg").run()
    assert markdown_containing(at, "Flatten, row by row: `[3.75, 1.25, 3.75, 2]`")


# ----------------------------------------------------------------------------- recurrent cell

def test_recurrent_page_shows_the_slide_hidden_state():
    at = open_page("recurrent_cell.py")
    step = markdown_containing(at, "h_1 = tanh")[0]
    shown = [float(v) for v in re.search(r"h_1 = tanh\(…\) = `\[([^\]]+)\]`", step).group(1).split(",")]
    np.testing.assert_allclose(shown, SLIDE_H1, atol=1e-5)
    assert at.dataframe[0].value.loc["h1", "h"] == pytest.approx(0.287027)  # W_xh starts at the slide's values


def test_recurrent_page_names_characters_outside_the_vocabulary():
    at = open_page("recurrent_cell.py")
    at.text_input(key="text").set_value("help").run()
    assert [e.value for e in at.error] == ["'p' not in the vocabulary: use only h, e, l, o."]


# ----------------------------------------------------------------------------- train a CNN

def test_one_epoch_on_the_digits_finishes_and_shows_a_curve():
    at = open_page("train_in_browser.py")
    at.slider(key="epochs").set_value(1)
    at.button(key="train").click().run()
    deadline = time.monotonic() + 90
    while "live_run" in at.session_state and time.monotonic() < deadline:
        time.sleep(0.5)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    runs = at.session_state["runs"]
    assert len(runs) == 1 and runs[0]["Epochs"] == "1/1" and 0 <= runs[0]["Test accuracy"] <= 1
    assert chart_specs(at, '"text":"Loss"')  # the loss and accuracy curves
    assert [m.value for m in at.metric][0].endswith("%")


def test_train_page_names_a_missing_folder():
    at = open_page("train_in_browser.py")
    at.radio(key="data_source").set_value("Chest X-rays at low resolution").run()
    at.radio(key="live_folder_choice").set_value("Chest X-rays from a folder on this server").run()
    at.text_input(key="live_folder").set_value("/no/such/folder").run()
    assert [e.value for e in at.error] == ["/no/such/folder: no such folder on the server."]


# ----------------------------------------------------------------------------- inside the CNN

def test_inside_the_cnn_renders_the_model():
    at = open_page("inside_the_cnn.py", timeout=180)
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Parameters"].replace(",", "")) > 0
    assert chart_specs(at, "#32")  # the 32 first-layer kernels of MobileNetV2's Conv1
    assert len(at.get("image")) == 2  # the model's input and its Grad-CAM overlay
    at.selectbox(key="cam_layer").set_value("Conv1_relu").run()
    assert not at.exception
