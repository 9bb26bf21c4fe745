"""Read an uploaded ZIP of labelled images (one folder per class) in memory, never extracting it.

The archive is refused as a whole, with a message naming the cause, when it is too large, looks like a zip
bomb, holds a member that points outside it (zip-slip) or an unknown class folder, or when its images decode to
more pixels in all than MAX_ARCHIVE_PIXELS. A single image that does not decode is listed as unreadable, as
`core.data.labelled.read_labelled_folder` does for a folder.
"""
import hashlib
import io
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import PurePosixPath

from core.classes import CLASS_NAMES
from core.data.folders import DatasetError
from core.data.labelled import LabelledFiles, LabelledImage
from core.imaging.decode import SUPPORTED_EXTENSIONS, ImageDecodeError, decode_image

MAX_ZIP_BYTES = 50 * 2**20  # the upload itself: server.maxUploadSize in .streamlit/config.toml, which caps every upload
MAX_ARCHIVE_PIXELS = 500_000_000  # decoded pixels of all images together: CPU time, since they are decoded one at a time
MAX_UNCOMPRESSED_BYTES = 500 * 2**20  # all members together, as their headers declare them
MAX_MEMBERS = 5000
MAX_COMPRESSION_RATIO = 100  # X-ray images hardly compress; a far higher ratio is a zip bomb...
RATIO_CHECK_FROM = 2**20  # ...once the expanded size matters at all
COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)  # deflate output can be bounded while it is inflated
SKIPPED_PREFIXES = ("__MACOSX/",)  # resource forks that macOS adds to ZIPs


class ZipDatasetError(DatasetError):
    """A ZIP that is refused as a whole; the message says why."""


def _mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


def _is_unsafe(name: str) -> bool:
    """Absolute paths, drive letters and '..' parts: members that would land outside the archive's folder."""
    path = name.replace("\\", "/")
    return path.startswith("/") or (len(path) > 1 and path[1] == ":") or ".." in path.split("/")


def _check_archive(archive: zipfile.ZipFile, size: int) -> list[zipfile.ZipInfo]:
    """Refuse unsafe or oversized archives; returns the members that are files to look at."""
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise ZipDatasetError(f"the ZIP has {len(members):,} entries; the limit is {MAX_MEMBERS:,}")
    for info in members:
        if _is_unsafe(info.filename):
            raise ZipDatasetError(f"the ZIP member '{info.filename}' points outside the archive "
                                  "(an absolute path or '..'); the ZIP is refused")
        if info.flag_bits & 0x1:
            raise ZipDatasetError(f"the ZIP member '{info.filename}' is encrypted; upload a ZIP without a password")
        if info.compress_type not in COMPRESSIONS:
            raise ZipDatasetError(f"the ZIP member '{info.filename}' uses an unsupported compression method; "
                                  "make the ZIP with standard (deflate) compression")
        if info.file_size > max(RATIO_CHECK_FROM, MAX_COMPRESSION_RATIO * info.compress_size):
            raise ZipDatasetError(f"the ZIP member '{info.filename}' expands {info.file_size / max(info.compress_size, 1):,.0f}-fold "
                                  f"(the limit is {MAX_COMPRESSION_RATIO}-fold); it looks like a zip bomb, so the ZIP is refused")
    total = sum(info.file_size for info in members)
    if total > MAX_UNCOMPRESSED_BYTES:
        raise ZipDatasetError(f"the ZIP expands to {_mib(total)}; the limit is {_mib(MAX_UNCOMPRESSED_BYTES)}")
    if total > max(RATIO_CHECK_FROM, MAX_COMPRESSION_RATIO * size):
        raise ZipDatasetError(f"the ZIP expands {total / size:,.0f}-fold; it looks like a zip bomb, so it is refused")
    return [info for info in members if not info.is_dir() and not info.filename.startswith(SKIPPED_PREFIXES)
            and not any(part.startswith(".") for part in PurePosixPath(info.filename).parts)]


def _strip_common_folder(paths: list[PurePosixPath], names: tuple[str, ...]) -> list[PurePosixPath]:
    """'my_set/covid19/a.png' -> 'covid19/a.png' when every file sits in one enclosing folder (a zipped folder)."""
    tops = {p.parts[0] for p in paths}
    if len(tops) == 1 and tops.pop() not in names and any(len(p.parts) > 2 for p in paths):
        return [PurePosixPath(*p.parts[1:]) for p in paths]
    return paths


def _labelled_members(files: list[zipfile.ZipInfo], names: tuple[str, ...]) -> list[tuple[int, str, zipfile.ZipInfo]]:
    """(label, 'class/file' name, member) for each image, in registry order then by name, like scan_dataset."""
    paths = _strip_common_folder([PurePosixPath(info.filename) for info in files], names)
    is_image = [p.suffix.lower() in SUPPORTED_EXTENSIONS for p in paths]
    loose = [info.filename for info, p, image in zip(files, paths, is_image, strict=True) if image and len(p.parts) != 2]
    unknown = sorted({p.parts[0] for p in paths if len(p.parts) > 1 and p.parts[0] not in names})
    if unknown:
        raise ZipDatasetError(f"unknown class folder(s) in the ZIP: {', '.join(unknown)}; "
                              f"expected folders named {', '.join(names)}")
    if loose:
        raise ZipDatasetError(f"{', '.join(loose[:5])}{' …' if len(loose) > 5 else ''}: not directly inside a class "
                              f"folder; put each image in a folder named {', '.join(names)}")
    found = [(names.index(p.parts[0]), str(p), info) for info, p, image in zip(files, paths, is_image, strict=True) if image]
    if not found:
        raise ZipDatasetError(f"no images found in the ZIP (looked for {', '.join(SUPPORTED_EXTENSIONS)} "
                              f"in folders named {', '.join(names)})")
    return sorted(found, key=lambda item: (item[0], item[1]))


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The member's bytes, never inflating more than its header declares (a lying header fails the CRC check)."""
    with archive.open(info) as member:
        return member.read(info.file_size)  # a bounded read inflates at most this much at a time


def _decode_members(data: bytes, members: list[tuple[int, str, zipfile.ZipInfo]]) -> Iterator[LabelledImage]:
    """Each member decoded in turn, refusing the ZIP once its images add up to more than MAX_ARCHIVE_PIXELS."""
    decoded_pixels = 0
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for label, name, info in members:
            try:
                data = _read_member(archive, info)
                pixels = decode_image(data, name).pixels
            except ImageDecodeError as err:
                yield LabelledImage(name, label, None, str(err))
                continue
            except (zipfile.BadZipFile, NotImplementedError, OSError, EOFError, zlib.error) as err:  # bad CRC, odd compression
                yield LabelledImage(name, label, None, f"{name}: the ZIP entry cannot be read ({err})")
                continue
            decoded_pixels += pixels.size
            if decoded_pixels > MAX_ARCHIVE_PIXELS:
                raise ZipDatasetError(f"the ZIP's images add up to more than {MAX_ARCHIVE_PIXELS / 1e6:,.0f} million "
                                      "pixels when decoded (the limit for one ZIP); split it into smaller ZIPs")
            yield LabelledImage(name, label, pixels, sha256=hashlib.sha256(data).hexdigest())


def read_labelled_zip(data: bytes, names: tuple[str, ...] = CLASS_NAMES) -> LabelledFiles:
    """The images of a folder-per-class ZIP held in memory, checked now and decoded one at a time when iterated;
    unreadable images are listed, not fatal."""
    if len(data) > MAX_ZIP_BYTES:
        raise ZipDatasetError(f"the ZIP is {_mib(len(data))}; the limit is {_mib(MAX_ZIP_BYTES)}")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = _labelled_members(_check_archive(archive, len(data)), names)
    except zipfile.BadZipFile:
        raise ZipDatasetError("the file is not a readable ZIP archive") from None
    return LabelledFiles(len(members), lambda: _decode_members(data, members))
