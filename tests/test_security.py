"""What a hospital IT reviewer checks: tampered model files are refused, the server keeps its protections,
uploads never touch the disk, and no patient-identifying DICOM field reaches the screen."""
import functools
import io
import os
import sys
import tempfile
import tomllib
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian, generate_uid

from core.imaging.decode import ImageDecodeError
from core.model.bundle import CARD_FILE, DEFAULT_MODEL_DIR, MODEL_FILE, ModelLoadError, model_identity
from core.model.ood import OOD_FILE
from core.serving.classifier import Classifier
from core.serving.diagnosis import Diagnosis, diagnose
from core.serving.report import ReportContent, limits_text, pdf_report, png_bytes
from core.serving.saliency import overlay

REPO = Path(__file__).resolve().parents[1]
PHI = {"PatientName": "Doe^Jane", "PatientID": "PID-884213", "PatientBirthDate": "19610412",
       "PatientAddress": "12 Example Road", "OtherPatientIDs": "MRN-77310", "InstitutionName": "St Example Hospital",
       "InstitutionAddress": "1 Hospital Way", "ReferringPhysicianName": "Smith^John", "OperatorsName": "Jones^Ann",
       "AccessionNumber": "ACC-55120"}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND
_recordings: list[list[str]] = []  # open recordings of the paths written


def test_tampered_ood_reference_is_refused(tmp_path):
    copy = tmp_path / "default"
    copy.mkdir()
    for name in (MODEL_FILE, CARD_FILE):
        (copy / name).symlink_to(DEFAULT_MODEL_DIR / name)
    data = bytearray((DEFAULT_MODEL_DIR / OOD_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / OOD_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=f"{OOD_FILE}: SHA-256 differs from the model card"):
        Classifier.from_dir(copy)


def test_server_keeps_xsrf_protection_and_an_upload_limit():
    server = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())["server"]
    assert server["enableXsrfProtection"] is True
    assert 0 < server["maxUploadSize"] <= 200  # MB; Streamlit's own default is 200


def phi_dicom(pixels: np.ndarray) -> bytes:
    """An 8-bit DX DICOM of the pixels carrying every patient-identifying field in PHI."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = DigitalXRayImageStorageForPresentation, generate_uid()
    ds.Modality, ds.BodyPartExamined, ds.ViewPosition = "DX", "CHEST", "PA"
    ds.set_pixel_data(pixels, "MONOCHROME2", 8)
    for keyword, value in PHI.items():
        setattr(ds, keyword, value)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _note_writes(event: str, args: tuple) -> None:
    """Audit hook: while a recording is open, note every file opened for writing, by any code in this process."""
    if event == "open" and _recordings:
        path, mode, flags = args
        if (mode and set(mode) & set("wax+")) or (mode is None and flags & WRITE_FLAGS):
            for written in _recordings:
                written.append(str(path))


@functools.cache
def _install_audit_hook() -> None:
    sys.addaudithook(_note_writes)  # audit hooks cannot be removed, so it is installed once and idles


@contextmanager
def files_opened_for_writing():
    _install_audit_hook()
    written: list[str] = []
    _recordings.append(written)
    try:
        yield written
    finally:
        _recordings.remove(written)


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if ".git" not in p.parts and "__pycache__" not in p.parts}


def process_uploads(classifier: Classifier, uploads: list[tuple[str, bytes]]) -> list[Diagnosis | ImageDecodeError]:
    """What the Diagnose page does with each upload: analyse it, then build the overlay PNG and the PDF report."""
    outcomes = []
    for name, data in uploads:
        try:
            result = diagnose(classifier, name, data)
        except ImageDecodeError as err:
            outcomes.append(err)
            continue
        status = result.status(classifier.threshold)
        blended = overlay(result.decoded.pixels, result.saliency_map(classifier, "gradcam", result.top), 0.4)
        content = ReportContent(name, result.decoded.pixels, blended, "Grad-CAM", result.probabilities, status,
                                classifier.threshold, model_identity(classifier.card), limits_text(classifier.card),
                                "disclaimer", datetime.now(UTC))
        assert png_bytes(blended).startswith(b"\x89PNG") and pdf_report(content).startswith(b"%PDF")
        outcomes.append(result)
    return outcomes


@pytest.fixture(scope="module")
def uploads(xray_paths) -> list[tuple[str, bytes]]:
    xray = xray_paths["normal"][0]
    with Image.open(xray) as image:
        pixels = np.asarray(image.convert("L"))
    return [(xray.name, xray.read_bytes()), ("chest.dcm", phi_dicom(pixels)), ("notes.png", b"not an image")]


def test_uploads_stay_in_memory(classifier, uploads, tmp_path, monkeypatch):
    watched = tmp_path / "tmp"
    watched.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(watched))  # anything using tempfile would land here
    process_uploads(classifier, uploads)  # first run: lazy imports and caches settle
    before = files_under(Path(tempfile.gettempdir())), files_under(REPO)
    with files_opened_for_writing() as written:
        outcomes = process_uploads(classifier, uploads)
    assert [type(o) for o in outcomes] == [Diagnosis, Diagnosis, ImageDecodeError]
    assert written == []
    assert (files_under(Path(tempfile.gettempdir())), files_under(REPO)) == before


def test_no_patient_identifying_dicom_field_is_displayed(classifier, uploads):
    name, data = uploads[1]
    assert all(value.encode() in data for value in PHI.values())
    decoded = diagnose(classifier, name, data).decoded
    assert decoded.metadata["Modality"] == "DX" and decoded.metadata["Body part"] == "CHEST"
    shown = " ".join([decoded.name, decoded.source_format, *decoded.metadata, *decoded.metadata.values()]).lower()
    for keyword, value in PHI.items():
        assert keyword.lower() not in shown
        assert not any(part.lower() in shown for part in value.split("^"))
