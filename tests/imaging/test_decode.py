"""Decoding every supported upload into the model's greyscale, and refusing bad files with a clear message."""
import io
import math
from functools import partial
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.pixels import apply_windowing
from pydicom.uid import MPEG2MPML

from core.imaging.decode import (
    MAX_PIXELS,
    SUPPORTED_EXTENSIONS,
    DecodedImage,
    ImageDecodeError,
    apply_window,
    decode_image,
    read_image_file,
)
from tests.support.files import dicom_bytes, zip_bytes

PATIENT = {"PatientName": "Doe^Jane", "PatientID": "PID-884213", "PatientBirthDate": "19610412",
           "InstitutionName": "St Example Hospital", "AccessionNumber": "ACC-55120"}


@pytest.fixture(scope="module")
def ref(dataset_dir: Path) -> Image.Image:
    """A real greyscale chest X-ray, reduced to 256 px wide to keep the tests fast."""
    path = sorted((dataset_dir / "normal").glob("*.jpeg"))[0]
    with Image.open(path) as image:
        return image.convert("L").reduce(4)


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


# An Explicit VR Little Endian DX file holding the stored values, 12 bits unless told, with extra elements by keyword.
make_dicom = partial(dicom_bytes, bits_stored=12, ViewPosition="PA", PixelSpacing=[0.14, 0.14])


def grey_diff(decoded: DecodedImage, expected: np.ndarray) -> np.ndarray:
    assert decoded.pixels.dtype == np.uint8 and decoded.pixels.shape == expected.shape
    return np.abs(decoded.pixels.astype(int) - expected.astype(int))


# --- ordinary images ---------------------------------------------------------------------------------

def with_alpha(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(image.size))
    return rgba


EXACT_KINDS = {  # file name -> bytes built from the reference; each must decode to exactly the reference
    "l.png": lambda im: encode(im, "PNG"),
    "rgb.png": lambda im: encode(im.convert("RGB"), "PNG"),
    "rgba.png": lambda im: encode(with_alpha(im), "PNG"),  # alpha dropped, not composited
    "la.png": lambda im: encode(with_alpha(im).convert("LA"), "PNG"),
    "sixteen.png": lambda im: encode(Image.fromarray(np.asarray(im).astype(np.uint16) * 257), "PNG"),
    "sixteen_be.tif": lambda im: encode(Image.fromarray((np.asarray(im).astype(np.uint16) * 257).astype(">u2")),
                                        "TIFF"),
    "int32.tif": lambda im: encode(Image.fromarray(np.asarray(im).astype(np.int32) * 257), "TIFF"),
    "cmyk.tif": lambda im: encode(im.convert("RGB").convert("CMYK"), "TIFF"),
    "rgb.tif": lambda im: encode(im.convert("RGB"), "TIFF", compression="tiff_lzw"),
    "l.bmp": lambda im: encode(im, "BMP"),
    "rgb.bmp": lambda im: encode(im.convert("RGB"), "BMP"),
    "lossless.webp": lambda im: encode(im.convert("RGB"), "WEBP", lossless=True),
}


@pytest.mark.parametrize("name", EXACT_KINDS)
def test_lossless_kinds_decode_to_the_reference_pixels(ref, name):
    decoded = decode_image(EXACT_KINDS[name](ref), name)
    assert grey_diff(decoded, np.asarray(ref)).max() == 0
    assert decoded.dicom_values is None and decoded.window is None


@pytest.mark.parametrize("name, build, fmt", [
    ("palette.png", lambda im: encode(im.convert("RGB").quantize(256), "PNG"), "PNG"),
    ("palette.gif", lambda im: encode(im.convert("RGB").quantize(64), "GIF"), "GIF"),
    ("cmyk.jpg", lambda im: encode(im.convert("RGB").convert("CMYK"), "JPEG", quality=95), "JPEG"),
    ("photo.jpeg", lambda im: encode(im, "JPEG", quality=95), "JPEG"),
    ("lossy.webp", lambda im: encode(im, "WEBP", quality=90), "WEBP"),
])
def test_lossy_kinds_decode_close_to_the_reference(ref, name, build, fmt):
    decoded = decode_image(build(ref), name)
    assert decoded.source_format == fmt
    assert grey_diff(decoded, np.asarray(ref)).mean() < 2.5


def test_float_tiff_is_stretched_to_full_range(ref):
    values = np.asarray(ref, dtype=np.float32) / 255 * 3.5 - 1.0
    decoded = decode_image(encode(Image.fromarray(values, "F"), "TIFF"), "float.tif")
    expected = np.rint((values - values.min()) / (values.max() - values.min()) * 255)
    assert grey_diff(decoded, expected).max() <= 1


def test_animated_gif_gives_its_first_frame(ref):
    second = Image.eval(ref, lambda v: 255 - v)
    data = encode(ref, "GIF", save_all=True, append_images=[second])
    decoded = decode_image(data, "cine.gif")
    assert grey_diff(decoded, np.asarray(ref)).mean() < 1
    assert decoded.metadata["Frames"].startswith("2")


def test_exif_orientation_is_honoured(ref):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display needs a 90° clockwise turn
    decoded = decode_image(encode(ref, "JPEG", quality=95, exif=exif), "phone.jpg")
    upright = np.asarray(ref.transpose(Image.Transpose.ROTATE_270))
    assert decoded.pixels.shape == (ref.width, ref.height)
    assert grey_diff(decoded, upright).mean() < 2.5


def test_format_comes_from_content_not_name(ref):
    decoded = decode_image(encode(ref, "PNG"), "really_a_png.jpg")
    assert decoded.source_format == "PNG"
    assert decoded.metadata == {"Image size": f"{ref.width} × {ref.height}", "Colour mode": "L"}


def test_real_dataset_files_decode(dataset_dir):
    paths = [sorted((dataset_dir / "covid19").glob("*.png"))[0], sorted((dataset_dir / "covid19").glob("*.jpeg"))[0],
             sorted((dataset_dir / "viral_pneumonia").glob("*.jpeg"))[0]]
    for path in paths:
        decoded = read_image_file(path)
        with Image.open(path) as image:
            assert decoded.pixels.shape == (image.height, image.width)
            assert decoded.metadata["Colour mode"] == image.mode
        assert decoded.name == path.name and decoded.pixels.dtype == np.uint8
        assert decoded.pixels.std() > 10  # a real radiograph, not a flat field


FORMAT_OF = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF",
             ".webp": "WEBP", ".gif": "GIF", ".dcm": "DICOM", ".dicom": "DICOM"}


def test_every_extension_the_uploaders_accept_decodes_a_file_of_its_format(ref):
    assert set(SUPPORTED_EXTENSIONS) == set(FORMAT_OF)
    for extension, fmt in FORMAT_OF.items():
        data = make_dicom(np.asarray(ref).astype(np.uint16)) if fmt == "DICOM" else encode(ref, fmt)
        decoded = decode_image(data, f"chest{extension}")
        assert decoded.source_format == fmt and decoded.pixels.shape == (ref.height, ref.width), extension


# --- DICOM -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_dicom_with_rescale_and_window_matches_its_source_png(ref, photometric):
    grey = np.asarray(ref).astype(np.uint16)
    stored = grey * 4 if photometric == "MONOCHROME2" else (255 - grey) * 4  # MONOCHROME1: high = dark
    # values = stored * 0.5 - 100 span -100..410, and the window below maps that range onto 0..255
    data = make_dicom(stored, photometric, RescaleSlope=0.5, RescaleIntercept=-100,
                      WindowCenter=155.5, WindowWidth=511, **PATIENT)
    decoded = decode_image(data, "chest.dcm")
    assert decoded.source_format == "DICOM"
    assert grey_diff(decoded, np.asarray(ref)).max() <= 1
    assert decoded.dicom_values.dtype == np.float32
    np.testing.assert_array_equal(decoded.dicom_values, stored * 0.5 - 100)
    assert decoded.window == (155.5, 511.0)
    np.testing.assert_array_equal(
        apply_window(decoded.dicom_values, *decoded.window, invert=photometric == "MONOCHROME1"), decoded.pixels)


def test_dicom_without_window_uses_full_value_range(ref):
    grey = np.asarray(ref)
    decoded = decode_image(make_dicom(grey.astype(np.uint16) + 1000), "nowindow.dcm")
    expected = (grey - grey.min()) / (grey.max() - grey.min()) * 255
    assert grey_diff(decoded, expected).max() <= 1
    lo, hi = grey.min() + 1000.0, grey.max() + 1000.0
    assert decoded.window == ((lo + hi + 1) / 2, hi - lo + 1)


def test_dicom_voi_lut_sequence_is_applied(ref):
    lut = Dataset()
    lut.add_new(0x00283002, "US", [256, 0, 8])  # LUT Descriptor: 256 entries from 0, 8 bits
    lut.add_new(0x00283006, "US", [255 - v for v in range(256)])  # LUT Data: an inverting VOI LUT
    data = make_dicom(np.asarray(ref).astype(np.uint16), bits_stored=8, VOILUTSequence=[lut])
    grey = 255 - np.asarray(ref).astype(float)
    expected = (grey - grey.min()) / (grey.max() - grey.min()) * 255
    assert grey_diff(decode_image(data, "lut.dcm"), expected).max() <= 1


def test_dicom_multiframe_gives_first_frame_and_colour_becomes_grey(ref):
    grey = np.asarray(ref)
    frames = np.stack([grey, 255 - grey, grey // 2]).astype(np.uint16)
    decoded = decode_image(make_dicom(frames, WindowCenter=128, WindowWidth=256), "cine.dcm")
    assert grey_diff(decoded, grey).max() == 0
    assert decoded.metadata["Frames"].startswith("3")
    colour = np.asarray(ref.convert("RGB"))
    assert grey_diff(decode_image(make_dicom(colour, "RGB", bits_stored=8), "colour.dcm"), grey).max() == 0


def test_dicom_without_preamble_is_found_by_content(ref):
    ds = pydicom.dcmread(io.BytesIO(make_dicom(np.asarray(ref).astype(np.uint16), bits_stored=8,
                                               WindowCenter=128, WindowWidth=256)))  # the identity window
    del ds.file_meta
    buffer = io.BytesIO()
    ds.save_as(buffer, implicit_vr=True, little_endian=True)  # no preamble, no "DICM", no file meta
    decoded = decode_image(buffer.getvalue(), "export.bin")
    assert decoded.source_format == "DICOM"
    assert grey_diff(decoded, np.asarray(ref)).max() == 0


def test_dicom_metadata_is_safe_to_display(ref):
    decoded = decode_image(make_dicom(np.asarray(ref).astype(np.uint16), **PATIENT), "named.dcm")
    assert decoded.metadata == {"Modality": "DX", "View position": "PA", "Image size": f"{ref.width} × {ref.height}",
                                "Pixel spacing": "0.14 × 0.14 mm", "Photometric interpretation": "MONOCHROME2",
                                "Bits stored": "12"}
    shown = " ".join(f"{k} {v}" for k, v in decoded.metadata.items())
    for keyword, value in PATIENT.items():
        assert keyword not in shown and value.split("^")[0] not in shown


# --- bad input ---------------------------------------------------------------------------------------

def dicom_with_syntax(syntax, rows: int = 64, columns: int = 64) -> bytes:
    """A file declaring compressed pixel data of the given size, holding 64 bytes of it."""
    return make_dicom(np.zeros((64, 64), np.uint16), transfer_syntax=syntax, Rows=rows, Columns=columns,
                      PixelData=encapsulate([b"\x00" * 64]))


BAD_FILES = {  # name -> (bytes builder, reason expected in the message)
    "empty.png": (lambda ref: b"", "empty file"),
    "cut.png": (lambda ref: encode(ref, "PNG")[:3000], "truncated or corrupt image data"),
    "cut.jpg": (lambda ref: encode(ref, "JPEG")[:3000], "truncated or corrupt image data"),
    "header_only.png": (lambda ref: encode(ref, "PNG")[:20], "truncated or corrupt image data"),
    "notes.png": (lambda ref: b"Patient seen today, chest clear.\n" * 20, "not an image file (unrecognised format)"),
    "archive.jpg": (lambda ref: zip_bytes({"report.txt": b"not an x-ray " * 100}), "not an image file (it is a ZIP archive"),
    "bomb.png": (lambda ref: encode(Image.new("1", (8000, 8000)), "PNG"),  # 64 Mpx in a few kB
                 "too large (8000 × 8000 pixels; the limit is"),
    "dot.png": (lambda ref: encode(Image.new("L", (1, 1)), "PNG"),
                "too small (1 × 1 pixels; at least 32 × 32 needed)"),
    "strip.png": (lambda ref: encode(Image.new("L", (20000, 20)), "PNG"), "extreme aspect ratio (20000 × 20 pixels"),
    "nan.tif": (lambda ref: encode(Image.fromarray(np.full((64, 64), np.nan, np.float32), "F"), "TIFF"),
                "contains NaN or infinite values"),
    "inf.tif": (lambda ref: encode(Image.fromarray(np.full((64, 64), np.inf, np.float32), "F"), "TIFF"),
                "contains NaN or infinite values"),
    "report.dcm": (lambda ref: make_dicom(np.zeros((64, 64), np.uint16), PixelData=None), "DICOM file has no pixel data"),
    "video.dcm": (lambda ref: dicom_with_syntax(MPEG2MPML),
                  "compressed DICOM (MPEG2 Main Profile / Main Level) is not supported; export it uncompressed"),
    "huge.dcm": (lambda ref: dicom_with_syntax(MPEG2MPML, 10000, 10000), "too large (10000 × 10000 pixels"),
    "cut.dcm": (lambda ref: make_dicom(np.asarray(ref).astype(np.uint16))[:-500], "truncated or corrupt"),
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_files_are_refused_with_name_and_reason(ref, name):
    build, reason = BAD_FILES[name]
    with pytest.raises(ImageDecodeError) as caught:
        decode_image(build(ref), name)
    assert str(caught.value).startswith(f"{name}: ") and reason in str(caught.value)


def test_the_pixel_limit_refuses_one_row_more_than_sixty_megapixels():
    side = math.isqrt(MAX_PIXELS)
    assert (side + 1) * side <= MAX_PIXELS < (side + 1) * (side + 1)  # one more row crosses the limit
    assert decode_image(encode(Image.new("1", (side + 1, side)), "PNG"), "under.png").pixels.shape == (side, side + 1)
    with pytest.raises(ImageDecodeError, match=rf"^over\.png: image too large \({side + 1} × {side + 1} pixels; the limit is 60,000,000"):
        decode_image(encode(Image.new("1", (side + 1, side + 1)), "PNG"), "over.png")


def test_pil_decompression_bomb_error_is_wrapped(ref, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # PIL raises at open above twice this
    with pytest.raises(ImageDecodeError, match=r"^xray\.png: image too large"):
        decode_image(encode(ref, "PNG"), "xray.png")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF", "WEBP", "DICOM"])
def test_any_truncation_gives_an_image_or_an_image_decode_error(ref, fmt):
    small = ref.resize((48, 40))
    data = make_dicom(np.asarray(small).astype(np.uint16)) if fmt == "DICOM" else encode(small, fmt)
    for end in range(1, len(data), max(1, len(data) // 60)):
        try:
            assert decode_image(data[:end], "cut").pixels.shape == (40, 48)
        except ImageDecodeError as err:
            assert str(err).startswith("cut: ")


def test_read_image_file(ref, tmp_path):
    path = tmp_path / "upload.png"
    path.write_bytes(encode(ref, "PNG"))
    decoded = read_image_file(str(path))
    assert decoded.name == "upload.png" and grey_diff(decoded, np.asarray(ref)).max() == 0
    with pytest.raises(ImageDecodeError, match=r"^missing\.png: file not found"):
        read_image_file(tmp_path / "missing.png")
    with pytest.raises(ImageDecodeError, match=rf"^{tmp_path.name}: not a regular file \(a folder, pipe or device\)"):
        read_image_file(tmp_path)  # a folder


# --- windowing ---------------------------------------------------------------------------------------

def test_apply_window_known_numbers():
    values = np.array([[-10.0, 0.0, 50.0, 100.0, 200.0, 300.0]])
    np.testing.assert_array_equal(apply_window(values, 100.5, 201), [[0, 0, 64, 128, 255, 255]])
    np.testing.assert_array_equal(apply_window(values, 100.5, 201, invert=True), [[255, 255, 191, 127, 0, 0]])
    np.testing.assert_array_equal(apply_window(values, 75, 1), [[0, 0, 0, 255, 255, 255]])  # width 1: threshold


def test_apply_window_matches_pydicom_linear_windowing():
    values = np.linspace(-1200, 2400, 500)
    ds = Dataset()
    ds.PhotometricInterpretation, ds.BitsStored, ds.PixelRepresentation = "MONOCHROME2", 8, 0  # output 0..255
    ds.WindowCenter, ds.WindowWidth = 40, 400
    np.testing.assert_array_equal(apply_window(values, 40, 400), np.rint(apply_windowing(values, ds)))
