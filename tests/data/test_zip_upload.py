"""Uploaded ZIPs of labelled X-rays: read in memory like a folder, refused with a clear message when unsafe or wrong."""
import io
import struct
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.classes import CLASS_NAMES
from core.data import zip_upload as zip_dataset
from core.data.labelled import read_labelled_folder
from core.data.zip_upload import ZipDatasetError, read_labelled_zip
from tests.support.files import labelled_members, linked_dataset, zip_bytes


@pytest.fixture(scope="module")
def shared_files(xray_paths) -> dict[str, list[Path]]:
    """Two shared X-rays per class (read at test time, never committed)."""
    return {label: paths[:2] for label, paths in xray_paths.items()}


@pytest.fixture(scope="module")
def shared_members(shared_files) -> dict[str, bytes]:
    """The same X-rays as 'class/file' ZIP members."""
    return labelled_members(shared_files)


def test_a_zip_reads_like_the_same_files_in_a_folder(shared_files, shared_members, tmp_path):
    images = read_labelled_zip(zip_bytes(shared_members, zipfile.ZIP_DEFLATED))
    expected = list(read_labelled_folder(str(linked_dataset(tmp_path, shared_files))))
    assert len(images) == len(shared_members)
    assert [(im.name, im.label, im.error) for im in images] == [(im.name, im.label, "") for im in expected]
    assert all(np.array_equal(a.pixels, b.pixels) for a, b in zip(images, expected, strict=True))


def test_one_enclosing_folder_and_macos_extras_are_ignored(shared_members):
    members = {f"my_xrays/{name}": data for name, data in shared_members.items()}
    members |= {"__MACOSX/my_xrays/covid19/._a.png": b"junk", "my_xrays/.DS_Store": b"junk", "my_xrays/README.txt": b"notes"}
    images = read_labelled_zip(zip_bytes(members))
    assert sorted(im.name for im in images) == sorted(shared_members)


def test_an_unreadable_image_is_listed_and_the_rest_evaluated(shared_members):
    images = list(read_labelled_zip(zip_bytes({**shared_members, "normal/broken.png": b"\x89PNG\r\n\x1a\n garbage"})))
    unreadable = [im for im in images if im.pixels is None]
    assert len(images) - len(unreadable) == len(shared_members)
    assert [u.name for u in unreadable] == ["normal/broken.png"]
    assert "normal/broken.png" in unreadable[0].error


@pytest.mark.parametrize("member", ["../evil.png", "/etc/evil.png", "covid19/../../evil.png", "C:/evil.png", "..\\evil.png"])
def test_a_member_pointing_outside_the_archive_refuses_the_zip(shared_members, member):
    with pytest.raises(ZipDatasetError, match="points outside the archive") as err:
        read_labelled_zip(zip_bytes({**shared_members, member: b"x"}))
    assert member in str(err.value)


def test_an_unknown_class_folder_is_named(shared_members):
    with pytest.raises(ZipDatasetError, match="unknown class folder.*tuberculosis") as err:
        read_labelled_zip(zip_bytes({**shared_members, "tuberculosis/a.png": b"x"}))
    assert all(name in str(err.value) for name in CLASS_NAMES)


def test_images_outside_class_folders_are_named(shared_members):
    with pytest.raises(ZipDatasetError, match="loose.png: not directly inside a class folder"):
        read_labelled_zip(zip_bytes({**shared_members, "loose.png": b"x"}))


def test_a_zip_without_images_says_so():
    with pytest.raises(ZipDatasetError, match="no images found in the ZIP"):
        read_labelled_zip(zip_bytes({"covid19/notes.txt": b"not an image"}))


def test_a_file_that_is_not_a_zip_is_refused():
    with pytest.raises(ZipDatasetError, match="not a readable ZIP archive"):
        read_labelled_zip(b"%PDF-1.4 not a zip")


def test_a_highly_compressed_member_is_refused_as_a_zip_bomb():
    bomb = zip_bytes({"covid19/a.png": bytes(4 * 2**20)}, zipfile.ZIP_DEFLATED)  # 4 MiB of zeros -> a few KiB
    with pytest.raises(ZipDatasetError, match="covid19/a.png.*zip bomb"):
        read_labelled_zip(bomb)


@pytest.mark.parametrize("limit, value, message", [
    ("MAX_ZIP_BYTES", 1000, "the ZIP is .* MiB; the limit"),
    ("MAX_UNCOMPRESSED_BYTES", 1000, "the ZIP expands to .* MiB; the limit"),
    ("MAX_MEMBERS", 3, "entries; the limit is 3"),
])
def test_size_and_member_limits(shared_members, monkeypatch, limit, value, message):
    monkeypatch.setattr(zip_dataset, limit, value)
    with pytest.raises(ZipDatasetError, match=message):
        read_labelled_zip(zip_bytes(shared_members))


def test_a_member_whose_header_understates_its_size_is_never_inflated_in_full():
    archive = bytearray(zip_bytes({"covid19/a.png": bytes(50 * 2**20)}, zipfile.ZIP_DEFLATED))
    archive = archive.replace(struct.pack("<I", 50 * 2**20), struct.pack("<I", 1000))  # local and central headers lie
    tracemalloc.start()
    try:
        [image] = read_labelled_zip(bytes(archive))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert image.pixels is None and "covid19/a.png: the ZIP entry cannot be read" in image.error
    assert peak < 5 * 2**20


def test_a_compression_method_that_cannot_be_bounded_is_refused(shared_members):
    with pytest.raises(ZipDatasetError, match="unsupported compression method"):
        read_labelled_zip(zip_bytes(shared_members, zipfile.ZIP_BZIP2))


def test_a_small_zip_of_huge_blank_images_is_refused_by_its_decoded_pixels():
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((7745, 7745), np.uint8)).save(buffer, "PNG")  # 60 million pixels in about 60 KB
    members = {f"{CLASS_NAMES[i % 4]}/blank_{i}.png": buffer.getvalue() for i in range(60)}
    data = zip_bytes(members)
    assert len(data) < 5 * 2**20
    images = read_labelled_zip(data)  # every member passes the archive's checks...
    tracemalloc.start()
    try:
        with pytest.raises(ZipDatasetError, match="images add up to more than 500 million pixels when decoded"):
            for _ in images:  # ...but decoding them one at a time stops at the budget
                pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 400 * 2**20  # about two images' pixels at a time, not sixty
