"""Inputs an adversarial user tries: DICOMs with non-finite or missing values and odd transfer syntaxes get a
specific message, and special files are never read (the server's settings are in tests/app/test_security.py)."""
import json
import os
from functools import partial

import numpy as np
import pytest
from PIL import Image
from pydicom.uid import ExplicitVRLittleEndian, RLELossless

from core.cli import predict
from core.imaging.decode import ImageDecodeError, decode_image, read_image_file
from tests.support.files import dicom_bytes

PIXELS = np.tile(np.arange(256, dtype=np.uint16) * 16, (256, 1))


# A 12-bit DX DICOM (a horizontal ramp) with extra elements by keyword, written without validation.
dicom = partial(dicom_bytes, PIXELS, "MONOCHROME2", 12)


@pytest.mark.parametrize("elements, reason", [
    ({"RescaleSlope": "1e38", "RescaleIntercept": "0"}, "rescale slope or intercept gives values that are not finite"),
    ({"RescaleSlope": "NaN", "RescaleIntercept": "0"}, "rescale slope or intercept gives values that are not finite"),
    ({"WindowCenter": "100", "WindowWidth": "inf"}, "window centre or width is not a finite number"),
    ({"WindowCenter": "NaN", "WindowWidth": "400"}, "window centre or width is not a finite number"),
    ({"Rows": None}, "does not say its image size (no Rows or Columns)"),
])
def test_a_broken_dicom_gets_a_specific_message(elements, reason):
    with pytest.raises(ImageDecodeError) as err:
        decode_image(dicom(**elements), "film.dcm")
    assert str(err.value).startswith("film.dcm: ") and reason in err.value.reason


@pytest.mark.parametrize("syntax, reason", [
    ("1.2.3.4.5.6.7.8.9.1", "unknown DICOM transfer syntax 1.2.3.4.5.6.7.8.9.1"),
    (RLELossless, "declares compressed pixel data (RLE Lossless) but holds uncompressed bytes"),
])
def test_a_transfer_syntax_that_does_not_fit_is_named(syntax, reason):
    data = dicom().replace(ExplicitVRLittleEndian.encode(), syntax.encode())  # both as long as the original UID
    with pytest.raises(ImageDecodeError) as err:
        decode_image(data, "film.dcm")
    assert reason in str(err.value)


def test_a_pipe_is_refused_without_being_read(tmp_path):
    fifo = tmp_path / "xray.png"
    os.mkfifo(fifo)  # opening it for reading would block until someone writes
    with pytest.raises(ImageDecodeError, match="xray.png: not a regular file"):
        read_image_file(fifo)
    with pytest.raises(ImageDecodeError, match="null: not a regular file"):
        read_image_file("/dev/null")


def test_predict_gives_no_class_to_an_image_that_is_not_a_chest_xray(classifier, tmp_path, capsys, monkeypatch):
    noise = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 300), dtype=np.uint8)).save(noise)
    monkeypatch.setattr(predict.Classifier, "from_dir", classmethod(lambda cls, directory: classifier))
    assert predict.main([str(noise), "/dev/zero"]) == 2
    answer, refused = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert answer["status"] == "not_a_chest_xray" and answer["label"] is None and answer["display_label"] is None
    assert refused == {"file": "/dev/zero", "error": "zero: not a regular file (a folder, pipe or device)"}
