"""What a hospital IT reviewer checks: tampered model files are refused, the server keeps its protections,
uploads never touch the disk, and no patient-identifying DICOM field reaches the screen."""
import functools
import os
import sys
import tempfile
import tomllib
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.data.zip_upload import MAX_ZIP_BYTES
from core.imaging.decode import read_image_file
from core.model.card import CARD_FILE, HISTORY_FILE, MODEL_FILE, OOD_FILE, PREDICTIONS_FILE, ModelLoadError
from core.paths import DEFAULT_MODEL_DIR
from core.paths import REPO_ROOT as REPO
from core.serving.classifier import Classifier
from core.serving.diagnosis import diagnose
from tests.support.apptest import app_test
from tests.support.files import dicom_bytes
from ui.common import plain

PHI = {"PatientName": "Doe^Jane", "PatientID": "PID-884213", "PatientBirthDate": "19610412",
       "PatientAddress": "12 Example Road", "OtherPatientIDs": "MRN-77310", "InstitutionName": "St Example Hospital",
       "InstitutionAddress": "1 Hospital Way", "ReferringPhysicianName": "Smith^John", "OperatorsName": "Jones^Ann",
       "AccessionNumber": "ACC-55120"}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND
_recordings: list[list[str]] = []  # open recordings of the paths written


def test_tampered_ood_reference_is_refused(tmp_path):
    copy = tmp_path / "default"
    copy.mkdir()
    for name in (MODEL_FILE, CARD_FILE, PREDICTIONS_FILE, HISTORY_FILE):
        (copy / name).symlink_to(DEFAULT_MODEL_DIR / name)
    data = bytearray((DEFAULT_MODEL_DIR / OOD_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / OOD_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=f"{OOD_FILE}: SHA-256 .* differs from the model card"):
        Classifier.from_dir(copy)


def test_the_server_keeps_xsrf_protection_shows_no_traceback_and_has_one_upload_limit():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["enableXsrfProtection"] is True
    assert config["client"]["showErrorDetails"] == "none"  # Streamlit still logs the traceback on the server
    assert config["server"]["maxUploadSize"] == MAX_ZIP_BYTES // 2**20  # MB, at most Streamlit's default of 200
    assert MAX_ZIP_BYTES <= 200 * 2**20


def phi_dicom(pixels: np.ndarray) -> bytes:
    """An 8-bit DX DICOM of the pixels carrying every patient-identifying field in PHI."""
    return dicom_bytes(pixels, BodyPartExamined="CHEST", ViewPosition="PA", **PHI)


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


def upload_set(path: Path) -> list[tuple[str, bytes]]:
    """A shared X-ray, the same film as a DICOM carrying patient fields, and a file that is no image."""
    return [(path.name, path.read_bytes()), (f"{path.stem}.dcm", phi_dicom(read_image_file(path).pixels)),
            (f"{path.stem}_notes.png", b"not an image")]


@pytest.fixture(scope="module")
def uploads(xray_paths) -> list[tuple[str, bytes]]:
    return upload_set(xray_paths["normal"][0])


def upload_and_download(at: AppTest, files: list[tuple[str, bytes]], downloads: dict[str, bytes]) -> None:
    """Upload the files to the Diagnose page, open the DICOM's details and download everything the page offers."""
    at.file_uploader[0].set_value([(name, data, "application/octet-stream") for name, data in files]).run()
    at.selectbox(key="detail_file").set_value(files[1][0]).run()
    assert not at.exception, at.exception
    assert list(at.dataframe[0].value["File"])[-2:] == [files[0][0], files[1][0]]  # the newest results, after earlier ones
    assert any(e.value.startswith(f"**{plain(files[2][0])}** could not be analysed") for e in at.error)
    assert {"Download the answers (CSV)", "Overlay (PNG)", "Report (PDF)"} <= set(downloads)
    assert downloads["Report (PDF)"].startswith(b"%PDF") and downloads["Overlay (PNG)"].startswith(b"\x89PNG")


def test_the_diagnose_page_keeps_uploads_and_what_it_makes_of_them_in_memory(xray_paths, tmp_path, monkeypatch):
    watched = tmp_path / "tmp"
    watched.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(watched))  # anything using tempfile would land here
    downloads: dict[str, bytes] = {}
    offer = st.download_button

    def click(label, data, *args, **kwargs):  # the user clicks every download the page offers
        downloads[label] = data() if callable(data) else data
        return offer(label, data, *args, **kwargs)

    monkeypatch.setattr(st, "download_button", click)
    at = app_test().run()
    upload_and_download(at, upload_set(xray_paths["normal"][0]), downloads)  # first run: lazy imports and caches settle
    before = files_under(watched), files_under(REPO)
    downloads.clear()
    with files_opened_for_writing() as written:
        upload_and_download(at, upload_set(xray_paths["covid19"][0]), downloads)  # other files: analysed afresh
    assert written == []
    assert (files_under(watched), files_under(REPO)) == before


def test_no_patient_identifying_dicom_field_is_displayed(classifier, uploads):
    name, data = uploads[1]
    assert all(value.encode() in data for value in PHI.values())
    decoded = diagnose(classifier, name, data).decoded
    assert decoded.metadata["Modality"] == "DX" and decoded.metadata["Body part"] == "CHEST"
    shown = " ".join([decoded.name, decoded.source_format, *decoded.metadata, *decoded.metadata.values()]).lower()
    for keyword, value in PHI.items():
        assert keyword.lower() not in shown
        assert not any(part.lower() in shown for part in value.split("^"))
