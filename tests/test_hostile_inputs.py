"""Inputs an adversarial user tries: DICOMs with non-finite or missing values and odd transfer syntaxes get a
specific message, special files are never read, and the server shows users no traceback and one upload limit."""
import io
import json
import os
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom import config as dicom_config
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian, RLELossless, generate_uid

from core.cli import predict
from core.data.zip_upload import MAX_ZIP_BYTES
from core.imaging.decode import ImageDecodeError, decode_image, read_image_file

REPO = Path(__file__).resolve().parents[1]
PIXELS = np.tile(np.arange(256, dtype=np.uint16) * 16, (256, 1))


def dicom(**elements) -> bytes:
    """A 12-bit DX DICOM (a horizontal ramp) with extra elements by keyword, written without validation."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = DigitalXRayImageStorageForPresentation, generate_uid(), "DX"
    ds.set_pixel_data(PIXELS, "MONOCHROME2", 12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dicom_config.settings.writing_validation_mode = dicom_config.IGNORE
        try:
            for keyword, value in elements.items():
                if value is None:
                    delattr(ds, keyword)
                else:
                    setattr(ds, keyword, value)
            buffer = io.BytesIO()
            ds.save_as(buffer, enforce_file_format=True)
        finally:
            dicom_config.settings.writing_validation_mode = dicom_config.WARN
    return buffer.getvalue()


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


def test_users_see_no_traceback_and_one_upload_limit():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"  # Streamlit still logs the traceback on the server
    assert config["server"]["maxUploadSize"] == MAX_ZIP_BYTES // 2**20  # the ZIP limit is the server's
