"""Test data built at test time: data sets of links to the shared X-rays, ZIPs in memory, and DICOM files (the broken
ones a scanner or an attacker might send included). Nothing is copied into the repository."""
import csv
import io
import warnings
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from pydicom import config as dicom_config
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian, generate_uid


def first_files(dataset: Path, per_class: int) -> dict[str, list[Path]]:
    """The first `per_class` files (sorted, so stable across runs) of every class folder of a data set."""
    return {d.name: sorted(p for p in d.iterdir() if p.is_file())[:per_class] for d in sorted(dataset.iterdir()) if d.is_dir()}


def linked_dataset(root: Path, files: dict[str, Iterable[Path]]) -> Path:
    """A folder-per-class data set of symbolic links to shared images (nothing is copied, nothing lands in the repo)."""
    for label, paths in files.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        for path in paths:
            (root / label / path.name).symlink_to(path)
    return root


def labelled_members(files: dict[str, Iterable[Path]]) -> dict[str, bytes]:
    """The same images as 'class/file' ZIP members."""
    return {f"{label}/{path.name}": path.read_bytes() for label, paths in files.items() for path in paths}


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    """A ZIP archive built in memory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def linked_multisource(root: Path, multisource: Path, per_cell: int = 2) -> Path:
    """A small copy of the multi-source set (links): the first `per_cell` patients of every (label, source) cell,
    with their manifest rows."""
    with open(multisource / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    kept, patients = [], {}
    for row in rows:
        cell = patients.setdefault((row["label"], row["source"]), set())
        if row["patient"] in cell or len(cell) < per_cell:
            cell.add(row["patient"])
            kept.append(row)
    files: dict[str, list[Path]] = {}
    for row in kept:
        label, _ = row["file"].split("/")
        files.setdefault(label, []).append(multisource / row["file"])
    linked_dataset(root, files)
    with open(root / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)
    return root


def dicom_bytes(pixels: np.ndarray, photometric: str = "MONOCHROME2", bits_stored: int = 8,
                transfer_syntax: str = ExplicitVRLittleEndian, **elements) -> bytes:
    """A DX DICOM file holding `pixels` as stored values, with extra elements by keyword (None deletes one).
    Values are written unchecked, so a test can build the broken files a scanner or an attacker might send."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = DigitalXRayImageStorageForPresentation, generate_uid(), "DX"
    ds.set_pixel_data(pixels, photometric, bits_stored)
    buffer, checking = io.BytesIO(), dicom_config.settings.writing_validation_mode
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dicom_config.settings.writing_validation_mode = dicom_config.IGNORE
        try:
            for keyword, value in elements.items():
                if value is None:
                    delattr(ds, keyword)
                else:
                    setattr(ds, keyword, value)
            ds.file_meta.TransferSyntaxUID = transfer_syntax
            ds.save_as(buffer, enforce_file_format=True)
        finally:
            dicom_config.settings.writing_validation_mode = checking
    return buffer.getvalue()
