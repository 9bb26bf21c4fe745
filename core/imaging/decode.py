"""Decode an uploaded or on-disk file (PNG, JPEG, BMP, TIFF, WebP, GIF, DICOM) into the greyscale the model reads.

Formats are detected from the bytes, never the file name. Every problem with the input comes out as an
ImageDecodeError whose message names the file and says what is wrong. Nothing is written to disk.
"""
import stat
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image, ImageOps, UnidentifiedImageError
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels import apply_modality_lut, apply_voi, get_decoder, pixel_array
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

SUPPORTED_EXTENSIONS: tuple[str, ...] = (
    ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".dcm", ".dicom", ".gif",
)
MAX_PIXELS: int = 60_000_000  # below PIL's own bomb threshold, so our check always fires first
MIN_SIDE = 32
MAX_ASPECT = 10

PIL_FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "WEBP", "GIF")
IMAGE_SIGNATURES = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")
NON_IMAGE_SIGNATURES = {b"%PDF": "it is a PDF document", b"PK\x03\x04": "it is a ZIP archive or Office document"}
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


class ImageDecodeError(ValueError):
    """Bad input file; str(err) is a user-facing 'name: reason' message."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name}: {reason}")
        self.name, self.reason = name, reason


@dataclass(frozen=True, eq=False)
class DecodedImage:
    name: str  # the file name as given
    pixels: np.ndarray  # uint8 (H, W) greyscale: what the model gets
    source_format: str  # "PNG", "JPEG", "BMP", "TIFF", "WEBP", "GIF" or "DICOM"
    metadata: dict[str, str]  # safe display fields only, never patient-identifying ones
    dicom_values: np.ndarray | None = None  # DICOM: float32 (H, W) after the modality LUT, before VOI
    window: tuple[float, float] | None = None  # DICOM: default (centre, width) behind `pixels`


def read_image_file(path: str | Path) -> DecodedImage:
    """Read and decode a regular image file; a missing, unreadable or special file is an ImageDecodeError too."""
    path = Path(path)
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a pipe or device could block or never end
            raise ImageDecodeError(path.name, "not a regular file (a folder, pipe or device)")
        data = path.read_bytes()
    except FileNotFoundError as err:
        raise ImageDecodeError(path.name, "file not found") from err
    except OSError as err:
        raise ImageDecodeError(path.name, f"file could not be read ({err.strerror or err})") from err
    return decode_image(data, path.name)


def decode_image(data: bytes, name: str) -> DecodedImage:
    """Decode the bytes of an image or DICOM file called `name`."""
    if not data:
        raise ImageDecodeError(name, "empty file")
    try:
        if data[128:132] != b"DICM":
            try:
                return _decode_pil(data, name)
            except UnidentifiedImageError:
                if data.startswith(IMAGE_SIGNATURES) or data[8:12] == b"WEBP":
                    raise ImageDecodeError(name, "truncated or corrupt image data") from None
        return _decode_dicom(_read_dicom(data, name), name)
    except ImageDecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageDecodeError(name, f"image too large (the limit is {MAX_PIXELS:,} pixels)") from err
    except Exception as err:  # anything PIL or pydicom throws at malformed bytes
        raise ImageDecodeError(name, "truncated or corrupt image data") from err


def apply_window(values: np.ndarray, centre: float, width: float, invert: bool = False) -> np.ndarray:
    """DICOM linear VOI window (PS3.3 C.11.2.1.2.1) onto uint8 0-255; invert for MONOCHROME1 display.

    One float32 copy, worked on in place: a 4900 × 4900 film needs 96 MB for it, not several float64 temporaries.
    """
    centre, width = float(centre) - 0.5, max(float(width), 1.0) - 1.0
    if width == 0:
        grey = np.where(np.asarray(values) > centre, 255, 0).astype(np.uint8)
    else:
        scaled = np.array(values, dtype=np.float32)
        scaled -= centre
        scaled /= width
        scaled += 0.5
        np.clip(scaled, 0.0, 1.0, out=scaled)
        scaled *= 255.0
        grey = np.rint(scaled, out=scaled).astype(np.uint8)
    return 255 - grey if invert else grey


def _check_size(name: str, width: int, height: int) -> None:
    """Refuse images too large to decode safely, too small to read, or too elongated to be a chest X-ray."""
    size = f"{width} × {height} pixels"
    if width * height > MAX_PIXELS:
        raise ImageDecodeError(name, f"image too large ({size}; the limit is {MAX_PIXELS:,} pixels)")
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise ImageDecodeError(
            name, f"extreme aspect ratio ({size}; the longer side may be at most {MAX_ASPECT} × the shorter)")
    if min(width, height) < MIN_SIDE:
        raise ImageDecodeError(name, f"image too small ({size}; at least {MIN_SIDE} × {MIN_SIDE} needed)")


def _decode_pil(data: bytes, name: str) -> DecodedImage:
    """Decode a PIL-readable image: first frame, EXIF orientation applied, converted to greyscale."""
    with Image.open(BytesIO(data), formats=PIL_FORMATS) as image:
        _check_size(name, *image.size)  # Image.open is lazy: no pixels decoded yet
        metadata = {"Colour mode": image.mode}
        frames = getattr(image, "n_frames", 1)  # only multi-frame formats have it
        if frames > 1:
            metadata["Frames"] = f"{frames} (first shown)"
        source_format = "JPEG" if image.format == "MPO" else str(image.format)  # PIL_FORMATS: never None  # MPO: a JPEG with extra pictures
        pixels = _pil_to_grey(ImageOps.exif_transpose(image), name)
    metadata = {"Image size": f"{pixels.shape[1]} × {pixels.shape[0]}", **metadata}
    return DecodedImage(name, pixels, source_format, metadata)


def _pil_to_grey(image: Image.Image, name: str) -> np.ndarray:
    """uint8 greyscale: 16-bit by full range (v / 257), float by min-max, others by PIL's luminance.

    Alpha is dropped rather than composited: the X-ray is in the colour channels, and a transparent
    border composited onto black or white would add an edge that is not in the radiograph.
    """
    if image.mode in SIXTEEN_BIT_MODES:
        values = np.asarray(image)
        if values.min() >= 0 and values.max() <= 65535:
            return np.rint(values / 257).astype(np.uint8)
        return _stretch_to_uint8(values)
    if image.mode == "F":
        return _float_to_uint8(np.asarray(image), name)
    try:
        grey = image.convert("L") if image.mode in ("1", "L", "LA") else image.convert("RGB").convert("L")
    except ValueError as err:
        raise ImageDecodeError(name, f"unsupported colour mode {image.mode}") from err
    return np.array(grey, dtype=np.uint8)


def _float_to_uint8(values: np.ndarray, name: str) -> np.ndarray:
    """Min-max a float image onto 0-255; NaN or infinite values are refused."""
    if not np.isfinite(values).all():
        raise ImageDecodeError(name, "image contains NaN or infinite values")
    return _stretch_to_uint8(values)


def _stretch_to_uint8(values: np.ndarray) -> np.ndarray:
    """Map values.min()..values.max() linearly onto 0-255 (a flat image becomes black)."""
    values = np.asarray(values, dtype=np.float64)
    lo, hi = values.min(), values.max()
    if hi == lo:
        return np.zeros(values.shape, dtype=np.uint8)
    return np.rint((values - lo) / (hi - lo) * 255).astype(np.uint8)


def _read_dicom(data: bytes, name: str) -> Dataset:
    """Parse DICOM bytes (with or without the 128-byte preamble); anything else is not an image file."""
    has_preamble = data[128:132] == b"DICM"
    try:
        ds: Dataset = pydicom.dcmread(BytesIO(data), force=True)
    except Exception as err:
        if has_preamble:
            raise ImageDecodeError(name, "truncated or corrupt DICOM data") from err
        ds = Dataset()
    if has_preamble or "PixelData" in ds or "SOPClassUID" in ds:
        return ds
    reason = next((why for sig, why in NON_IMAGE_SIGNATURES.items() if data.startswith(sig)), "unrecognised format")
    raise ImageDecodeError(name, f"not an image file ({reason})")


def _decode_dicom(ds: Dataset, name: str) -> DecodedImage:
    """First frame of a DICOM image: modality LUT, then the file's VOI, as uint8 with bones bright."""
    if "PixelData" not in ds:
        raise ImageDecodeError(name, "DICOM file has no pixel data")
    if ds.get("Rows") is None or ds.get("Columns") is None:
        raise ImageDecodeError(name, "DICOM file does not say its image size (no Rows or Columns)")
    _check_size(name, int(ds.Columns), int(ds.Rows))
    _check_decodable(ds, name)
    frame = pixel_array(ds, index=0)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if frame.ndim == 3:  # colour (RGB, or YBR already converted to RGB by pydicom)
        rgb = frame if frame.dtype == np.uint8 else np.rint(frame / 257).astype(np.uint8)
        pixels = np.array(Image.fromarray(rgb, "RGB").convert("L"))
        values, window = pixels.astype(np.float32), (128.0, 256.0)  # the identity window
    elif photometric in ("MONOCHROME1", "MONOCHROME2"):
        with np.errstate(over="ignore", invalid="ignore"):  # refused just below
            values = apply_modality_lut(frame, ds).astype(np.float32)
        if not np.isfinite(values).all():
            raise ImageDecodeError(name, "DICOM rescale slope or intercept gives values that are not finite numbers")
        pixels, window = _apply_dicom_voi(values, ds, name, invert=photometric == "MONOCHROME1")
    else:
        raise ImageDecodeError(name, f"DICOM photometric interpretation {photometric} is not supported")
    return DecodedImage(name, pixels, "DICOM", _dicom_metadata(ds, pixels.shape), values, window)


def _check_decodable(ds: Dataset, name: str) -> None:
    """Refuse compressed pixel data that no installed pydicom decoder can read, naming its transfer syntax."""
    if "TransferSyntaxUID" not in ds.file_meta:  # raw dataset without file meta: use how it was read
        implicit, little_endian = ds.original_encoding
        ds.file_meta.TransferSyntaxUID = (
            ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian if little_endian else ExplicitVRBigEndian
        )
    syntax = ds.file_meta.TransferSyntaxUID
    if not syntax.is_transfer_syntax:
        raise ImageDecodeError(name, f"unknown DICOM transfer syntax {syntax}; export it uncompressed")
    if syntax.is_encapsulated and not ds["PixelData"].is_undefined_length:
        raise ImageDecodeError(name, f"the file declares compressed pixel data ({syntax.name}) but holds "
                                     "uncompressed bytes; export it again")
    try:
        available = get_decoder(syntax).is_available
    except NotImplementedError:
        available = False
    if not available:
        kind = "compressed DICOM" if syntax.is_compressed else "DICOM transfer syntax"
        raise ImageDecodeError(name, f"{kind} ({syntax.name}) is not supported; export it uncompressed")


def _apply_dicom_voi(values: np.ndarray, ds: Dataset, name: str, invert: bool) -> tuple[np.ndarray, tuple[float, float]]:
    """The file's default display: its first WindowCenter/Width, else its VOI LUT, else min..max.

    A window is preferred over a VOI LUT so that apply_window(values, *window) reproduces `pixels`
    exactly when the UI re-windows; with only a VOI LUT the returned window is the full value range.
    """
    window = _file_window(ds, name)
    if window is None and ds.get("VOILUTSequence"):
        lut_output = apply_voi(np.rint(values).astype(np.int64), ds)
        pixels = _stretch_to_uint8(lut_output)
        return (255 - pixels if invert else pixels), _full_range_window(values)
    window = window or _full_range_window(values)
    return apply_window(values, *window, invert=invert), window


def _file_window(ds: Dataset, name: str) -> tuple[float, float] | None:
    """The first (centre, width) pair stored in the file, if it has a usable one; non-finite values are refused."""
    try:
        centre, width = (float(v[0] if isinstance(v, MultiValue) else v) for v in (ds.WindowCenter, ds.WindowWidth))
    except (AttributeError, TypeError, ValueError, IndexError):
        return None
    if not np.isfinite([centre, width]).all():
        raise ImageDecodeError(name, "DICOM window centre or width is not a finite number")
    return (centre, width) if width >= 1 else None


def _full_range_window(values: np.ndarray) -> tuple[float, float]:
    """The linear DICOM window that maps values.min() to 0 and values.max() to 255."""
    lo, hi = float(values.min()), float(values.max())
    return (lo + hi + 1) / 2, hi - lo + 1


def _dicom_metadata(ds: Dataset, shape: tuple[int, ...]) -> dict[str, str]:
    """Display fields from an allow-list: acquisition facts only, nothing that identifies a patient."""
    fields = {"Modality": ds.get("Modality"), "Body part": ds.get("BodyPartExamined"),
              "View position": ds.get("ViewPosition"), "Image size": f"{shape[1]} × {shape[0]}",
              "Pixel spacing": _spacing(ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing")),
              "Photometric interpretation": ds.get("PhotometricInterpretation"),
              "Bits stored": ds.get("BitsStored")}
    frames = int(ds.get("NumberOfFrames") or 1)
    if frames > 1:
        fields["Frames"] = f"{frames} (first shown)"
    return {key: str(value) for key, value in fields.items() if value not in (None, "")}


def _spacing(value) -> str | None:
    """'row × column mm' from a DICOM (row, column) spacing pair, or None if absent or malformed."""
    try:
        row, column = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return f"{row:g} × {column:g} mm"
