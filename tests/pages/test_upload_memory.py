"""What a session keeps of an upload is bounded: a display-size copy, never the file; at most MAX_KEPT results, the
oldest let go with a message; no copy of the bytes left in Streamlit once a file is analysed. Inside the CNN and
Train a CNN read uploads by content, like Diagnose, so a file without an extension works there too."""
import time

import cv2
import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

import core.serving.diagnosis
from core.classes import DISPLAY_NAMES
from core.imaging.decode import ImageDecodeError, decode_image
from core.imaging.viewing import DISPLAY_MAX_SIDE, display_pixels
from core.serving.diagnosis import diagnose
from core.serving.saliency import GradCAM
from scripts.local_app import upload_store_bytes
from tests.support.apptest import page_test
from tests.support.files import dicom_bytes
from ui.common import plain

SIDE = 4000  # a large film: 4000 × 4000 12-bit pixels, 32 MB as stored


def open_page(name: str) -> AppTest:
    at = page_test(name).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def png_bytes(pixels: np.ndarray) -> bytes:
    return cv2.imencode(".png", pixels)[1].tobytes()


@pytest.fixture(scope="module")
def xray(xray_paths) -> np.ndarray:
    with Image.open(xray_paths["normal"][0]) as image:
        return np.asarray(image.convert("L"))


@pytest.fixture(scope="module")
def large_dicom(xray) -> bytes:
    stored = cv2.resize(xray, (SIDE, SIDE), interpolation=cv2.INTER_LINEAR).astype(np.uint16) * 16
    return dicom_bytes(stored, "MONOCHROME2", 12, WindowCenter=2048, WindowWidth=4096)


# ----------------------------------------------------------------------------- what one upload keeps

def test_a_large_dicom_keeps_a_display_size_copy_and_gives_the_answers_of_the_full_image(classifier, large_dicom):
    result = diagnose(classifier, "large.dcm", large_dicom)
    kept = result.decoded
    assert kept.pixels.shape == kept.dicom_values.shape == (DISPLAY_MAX_SIDE, DISPLAY_MAX_SIDE)
    assert result.model_pixels.shape == (classifier.input_size, classifier.input_size)
    assert kept.metadata["Image size"] == f"{SIDE} × {SIDE}"  # what the page says is the file's, not the copy's
    arrays = [kept.pixels, kept.dicom_values, result.model_pixels, *result.maps.values()]
    assert sum(a.nbytes for a in arrays) < 6 * 2**20  # the file is 32 MB; decoded in full it is 96 MB of values

    full = decode_image(large_dicom, "large.dcm")
    other = next(i for i in range(len(DISPLAY_NAMES)) if i != result.top)
    np.testing.assert_allclose(result.probabilities, classifier.analyse(full.pixels).probabilities, atol=1e-6)
    np.testing.assert_allclose(result.saliency_map(classifier, GradCAM, other),
                               classifier.explainer(GradCAM)(classifier.model_input(full.pixels)[None], other)[0], atol=1e-5)
    window = (1500.0, 1200.0)
    for aids in ({}, {"window": window}, {"window": window, "clahe": True, "inverted": True}):
        np.testing.assert_array_equal(display_pixels(kept, **aids), display_pixels(full, **aids))


# ----------------------------------------------------------------------------- what one session keeps (Diagnose)

def results(at: AppTest) -> dict:
    return at.session_state["diagnose_results"]


def notices(at: AppTest) -> list[str]:
    return [i.value for i in at.info if "per session" in i.value]


def upload(at: AppTest, files: list[tuple[str, bytes]]) -> AppTest:
    assert at.file_uploader[0].value == []  # the uploader is empty again after every batch
    at.file_uploader[0].set_value([(name, data, "application/octet-stream") for name, data in files]).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_session_keeps_at_most_the_cap_the_oldest_going_first_with_a_message(monkeypatch, xray):
    monkeypatch.setattr(core.serving.diagnosis, "MAX_KEPT", 3)
    film = png_bytes(xray)
    at = upload(open_page("diagnose.py"), [(f"{name}.png", film) for name in "abcd"])
    assert notices(at) == ["Only the first 3 of the 4 files were analysed: this page keeps at most 3 results per "
                           "session. Clear the results, then add the others."]
    assert [r.decoded.name for r in results(at).values()] == ["a.png", "b.png", "c.png"]

    upload(at, [("e.png", film), ("f.png", film)])
    assert notices(at) == ["The 2 oldest result(s) were let go to make room: this page keeps at most 3 results per "
                           "session."]
    assert [r.decoded.name for r in results(at).values()] == ["c.png", "e.png", "f.png"]
    assert list(at.dataframe[0].value["File"]) == ["c.png", "e.png", "f.png"]
    assert at.selectbox(key="detail_file").value == "e.png"  # the new batch's first is shown

    at.slider(key="threshold").set_value(0.5).run()  # any other change: no message again, the results stay
    assert not notices(at) and len(results(at)) == 3
    at.button(key="clear_results").click().run()
    assert "diagnose_results" not in at.session_state and not at.subheader and not at.exception  # no summary, no detail


def test_a_refused_upload_is_kept_as_its_message_without_the_file(xray):
    at = upload(open_page("diagnose.py"), [("notes.png", b"Chest clear.\n" * 100_000), ("chest.png", png_bytes(xray))])
    refused = next(r for r in results(at).values() if isinstance(r, ImageDecodeError))
    assert str(refused) == "notes.png: not an image file (unrecognised format)"
    assert refused.__traceback__ is None and refused.__cause__ is None and refused.__context__ is None  # they held the bytes
    assert any(e.value.startswith(f"**{plain('notes.png')}** could not be analysed") for e in at.error)


def test_once_an_upload_is_analysed_the_server_keeps_no_copy_of_the_file(app_url, browser, large_dicom, tmp_path):
    from playwright.sync_api import expect
    scan = tmp_path / "scan"  # no extension, as DICOMs from a PACS often come
    scan.write_bytes(large_dicom)
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    try:
        page.goto(app_url)
        expect(page.get_by_text("Who this model was validated on")).to_be_visible(timeout=120_000)
        page.locator('input[type="file"]').set_input_files(str(scan))
        expect(page.get_by_role("heading", name="scan", exact=True)).to_be_visible(timeout=120_000)
        expect(page.get_by_test_id("stFileUploaderFile")).to_have_count(0)  # the uploader is ready for the next files
        deadline = time.monotonic() + 10
        while upload_store_bytes(app_url) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert upload_store_bytes(app_url) == 0
    finally:
        page.close()


# ----------------------------------------------------------------------------- the other uploaders read by content

def test_inside_the_cnn_reads_an_upload_without_an_extension_and_names_one_that_is_no_image(xray):
    at = open_page("inside_the_cnn.py")
    at.radio(key="image_source").set_value("Your X-ray").run()
    at.file_uploader(key="xray").set_value(("scan", dicom_bytes(xray), "application/octet-stream")).run()
    assert not at.exception and not at.error
    assert any("The model's answer for scan" in m.value for m in [*at.markdown, *at.warning])
    at.file_uploader(key="xray").set_value(("notes", b"Chest clear.", "application/octet-stream")).run()
    assert [e.value for e in at.error] == [f"**{plain('notes')}** could not be read: not an image file (unrecognised "
                                           "format). Showing the chest phantom instead."]


def test_train_a_cnn_tries_an_image_without_an_extension_and_names_one_that_is_no_image():
    at = open_page("train_in_browser.py")
    at.slider(key="epochs").set_value(1)
    at.button(key="train").click().run()
    deadline = time.monotonic() + 120
    while "live_job" in at.session_state and time.monotonic() < deadline:  # the page polls while it trains
        time.sleep(0.5)
        at.run()
    at.radio(key="try_source").set_value("Your image").run()
    seven = np.full((64, 64), 255, np.uint8)
    cv2.line(seven, (12, 12), (52, 12), 0, 6)
    cv2.line(seven, (52, 12), (24, 56), 0, 6)
    at.file_uploader(key="try_upload").set_value(("seven", png_bytes(seven), "application/octet-stream")).run()
    assert not at.exception and not at.error
    assert any(m.value.startswith("seven. The network says **") for m in at.markdown)
    at.file_uploader(key="try_upload").set_value(("notes", b"Chest clear.", "application/octet-stream")).run()
    assert [e.value for e in at.error] == ["notes cannot be used: not an image file (unrecognised format)."]


def test_the_convolution_lab_reads_an_upload_without_an_extension_and_names_one_that_is_no_image(xray):
    at = open_page("convolution_lab.py")
    at.radio(key="source").set_value("Your own image").run()
    at.file_uploader(key="lab_upload").set_value(("scan", dicom_bytes(xray), "application/octet-stream")).run()
    assert not at.exception and not at.error
    assert not any("until then the lab shows the chest phantom" in i.value for i in at.info)  # the scan is shown
    at.file_uploader(key="lab_upload").set_value(("notes", b"Chest clear.", "application/octet-stream")).run()
    assert len(at.error) == 1 and "not an image file" in at.error[0].value and "chest phantom instead" in at.error[0].value


def test_the_convolution_lab_decodes_an_upload_once_however_often_the_page_reruns(xray, monkeypatch):
    import core.imaging.decode
    decodes = []
    decode = core.imaging.decode.decode_image
    monkeypatch.setattr(core.imaging.decode, "decode_image", lambda data, name: decodes.append(name) or decode(data, name))
    at = open_page("convolution_lab.py")
    at.radio(key="source").set_value("Your own image").run()
    at.file_uploader(key="lab_upload").set_value(("scan", dicom_bytes(xray), "application/octet-stream")).run()
    shown = at.session_state["lab_upload_image"][1]
    at.slider(key="stride").set_value(2).run()
    at.number_input(key="pixel_row").set_value(3).run()
    assert not at.exception and decodes == ["scan"] and at.session_state["lab_upload_image"][1] is shown
    at.file_uploader(key="lab_upload").set_value(("other", dicom_bytes(255 - xray), "application/octet-stream")).run()
    assert decodes == ["scan", "other"] and at.session_state["lab_upload_image"][1] is not shown
