"""A corpus of bad and odd files, each driven through the API and, all at once, through `python -m core.cli.predict`
and the Diagnose page.

Every file gets its documented result: a refusal whose message names the file and the reason, or a prediction
with the right status. X-ray-based files are built at test time from one shared radiograph (never committed).
"""
import io
import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.encaps import encapsulate
from pydicom.uid import MPEG2MPML
from sklearn.datasets import load_sample_images

from core.imaging.decode import SUPPORTED_EXTENSIONS, ImageDecodeError, read_image_file
from core.model.abstention import INCONCLUSIVE, NOT_A_CHEST_XRAY, OK
from core.paths import REPO_ROOT as REPO
from core.serving.answers import FILM_STATUS_TEXT, REFUSED
from core.serving.export import PROBABILITY_COLUMNS
from tests.support.apptest import page_test
from tests.support.files import dicom_bytes, zip_bytes
from ui.common import plain


@dataclass(frozen=True)
class Refused:
    reason: str  # expected in the message, after "<file name>: "


XRAY = "read as the X-ray"  # status ok or inconclusive, and the same label as the plain X-ray gets


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def dicom(xray: Image.Image, photometric: str = "MONOCHROME2", **elements) -> bytes:
    """An 8-bit DX DICOM of the X-ray (MONOCHROME1 stores it inverted), with extra elements by keyword."""
    grey = np.asarray(xray, dtype=np.uint8)
    return dicom_bytes(255 - grey if photometric == "MONOCHROME1" else grey, photometric, **elements)


def transparent_border(xray: Image.Image) -> Image.Image:
    rgba = xray.convert("RGBA")
    alpha = Image.new("L", xray.size, 255)
    alpha.paste(0, (0, 0, xray.width // 8, xray.height))
    rgba.putalpha(alpha)
    return rgba


def float_tiff(xray: Image.Image, bad_value: float) -> bytes:
    values = np.asarray(xray, dtype=np.float32) / 255
    values[10, 10] = bad_value
    return encode(Image.fromarray(values, "F"), "TIFF")


def colour_photo() -> bytes:
    return encode(Image.fromarray(load_sample_images().images[0]), "JPEG", quality=90)


def file_of(make: Callable[[Image.Image], bytes]) -> Callable[[Path, Image.Image], None]:
    return lambda path, xray: path.write_bytes(make(xray))


BOMB_SIDE = 9000  # 81 Mpx of one bit each: a few kB on disk, over the 60 Mpx decoding limit

KINDS = [  # (file name, builder writing it at a path from the reference X-ray, expected result)
    ("empty.png", file_of(lambda x: b""), Refused("empty file")),
    ("cut.jpg", file_of(lambda x: encode(x, "JPEG")[:2000]), Refused("truncated or corrupt image data")),
    ("cut.png", file_of(lambda x: encode(x, "PNG")[:2000]), Refused("truncated or corrupt image data")),
    ("cut.dcm", file_of(lambda x: dicom(x)[:-300]), Refused("truncated or corrupt")),
    ("notes.png", file_of(lambda x: b"Chest clear, no consolidation.\n" * 40),
     Refused("not an image file (unrecognised format)")),
    ("archive.jpg", file_of(lambda x: zip_bytes({"xray.jpg": b"not really an image"}, zipfile.ZIP_DEFLATED)),
     Refused("not an image file (it is a ZIP archive")),
    ("report.pdf", file_of(lambda x: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"),
     Refused("not an image file (it is a PDF document)")),
    ("bomb.png", file_of(lambda x: encode(Image.new("1", (BOMB_SIDE, BOMB_SIDE)), "PNG")),
     Refused(f"image too large ({BOMB_SIDE} × {BOMB_SIDE} pixels")),
    ("dot.png", file_of(lambda x: encode(Image.new("L", (1, 1), 128), "PNG")), Refused("image too small (1 × 1")),
    ("strip.png", file_of(lambda x: encode(Image.new("L", (20000, 20), 128), "PNG")),
     Refused("extreme aspect ratio (20000 × 20")),
    ("nan.tif", file_of(lambda x: float_tiff(x, np.nan)), Refused("image contains NaN or infinite values")),
    ("inf.tif", file_of(lambda x: float_tiff(x, np.inf)), Refused("image contains NaN or infinite values")),
    ("no_pixels.dcm", file_of(lambda x: dicom(x, PixelData=None)), Refused("DICOM file has no pixel data")),
    ("video.dcm", file_of(lambda x: dicom(x, PixelData=encapsulate([b"\x00" * 64]), transfer_syntax=MPEG2MPML)),
     Refused("compressed DICOM (MPEG2 Main Profile / Main Level) is not supported")),
    ("folder.png", lambda path, x: path.mkdir(), Refused("not a regular file (a folder, pipe or device)")),
    ("missing.jpg", lambda path, x: None, Refused("file not found")),
    ("sixteen_bit.png", file_of(lambda x: encode(Image.fromarray(np.asarray(x).astype(np.uint16) * 257), "PNG")), XRAY),
    ("cmyk.jpg", file_of(lambda x: encode(x.convert("CMYK"), "JPEG", quality=90)), XRAY),
    ("cine.gif", file_of(lambda x: encode(x, "GIF", save_all=True, append_images=[Image.eval(x, lambda v: 255 - v)])),
     XRAY),
    ("transparent.png", file_of(lambda x: encode(transparent_border(x), "PNG")), XRAY),
    ("palette.png", file_of(lambda x: encode(x.convert("RGB").quantize(64), "PNG")), XRAY),
    ("lossy.webp", file_of(lambda x: encode(x, "WEBP", quality=80)), XRAY),
    ("monochrome1.dcm", file_of(lambda x: dicom(x, "MONOCHROME1")), XRAY),
    ("jpeg_named.dcm", file_of(lambda x: encode(x, "JPEG", quality=90)), XRAY),
    ("Röntgen thorax – Zoë 1.png", file_of(lambda x: encode(x, "PNG")), XRAY),
    ("holiday.jpg", file_of(lambda x: colour_photo()), NOT_A_CHEST_XRAY),
    ("blank.png", file_of(lambda x: encode(Image.new("L", x.size, 0), "PNG")), NOT_A_CHEST_XRAY),
]
NAMES = [name for name, _, _ in KINDS]


@pytest.fixture(scope="module")
def xray(dataset_dir: Path) -> Image.Image:
    """One shared chest X-ray, greyscale and at most 320 px, read at test time."""
    with Image.open(sorted((dataset_dir / "normal").iterdir())[0]) as image:
        grey = image.convert("L")
    grey.thumbnail((320, 320))
    return grey


@pytest.fixture(scope="module")
def corpus(xray: Image.Image, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad_inputs")
    paths = {name: folder / name for name in NAMES}
    for name, build, _ in KINDS:
        build(paths[name], xray)
    return paths


@pytest.fixture(scope="module")
def xray_label(classifier, xray: Image.Image) -> str:
    return classifier.analyse(np.asarray(xray)).label


@pytest.mark.parametrize("name, expected", [(name, expected) for name, _, expected in KINDS], ids=NAMES)
def test_api_gives_the_documented_result(classifier, corpus, xray_label, name, expected):
    if isinstance(expected, Refused):
        with pytest.raises(ImageDecodeError) as caught:
            read_image_file(corpus[name])
        assert str(caught.value).startswith(f"{name}: ") and expected.reason in str(caught.value)
        return
    analysis = classifier.analyse(read_image_file(corpus[name]).pixels)
    if expected == XRAY:
        assert analysis.status in (OK, INCONCLUSIVE) and analysis.label == xray_label
    else:
        assert analysis.status == expected


def test_cli_answers_every_file_in_order_and_one_bad_file_breaks_nothing(corpus, xray_label):
    files = [str(corpus[name]) for name in NAMES]
    run = subprocess.run([sys.executable, "-m", "core.cli.predict", *files], cwd=REPO, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    results = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r["file"] for r in results] == files
    for (name, _, expected), result in zip(KINDS, results, strict=True):
        if isinstance(expected, Refused):
            assert result["error"].startswith(f"{name}: ") and expected.reason in result["error"], result
        elif expected == XRAY:
            assert result["status"] in (OK, INCONCLUSIVE) and result["label"] == xray_label, result
        else:
            assert result["status"] == expected, result


def test_diagnose_page_answers_every_uploaded_file_at_once(classifier, corpus, xray):
    answers = classifier.analyse(np.asarray(xray)).questions  # the pneumonia type of a film with no pneumonia is unstable
    xray_percentages = [100 * answers[name].probability for name in ("covid19", "abnormal")]
    files = {name: path.read_bytes() for name, path in corpus.items()  # the uploader takes only image extensions
             if path.is_file() and path.suffix.lower() in SUPPORTED_EXTENSIONS}
    at = page_test("diagnose.py")
    at.run()
    at.file_uploader[0].set_value([(name, data, "application/octet-stream") for name, data in files.items()])
    at.run()
    assert not at.exception, at.exception
    refusals = [alert.value for alert in at.error if "could not be analysed" in alert.value]
    rows = at.dataframe[0].value.set_index("File")
    for name, _, expected in KINDS:
        if name not in files:
            continue
        if isinstance(expected, Refused):
            named = [message for message in refusals if message.startswith(f"**{plain(name)}** could not be analysed: ")]
            assert len(named) == 1 and expected.reason in named[0], (name, refusals)
        elif expected == XRAY:
            assert rows.loc[name, "Status"] != FILM_STATUS_TEXT[REFUSED], name
            shown = rows.loc[name, [PROBABILITY_COLUMNS["covid19"], PROBABILITY_COLUMNS["abnormal"]]].to_numpy(dtype=float)
            assert shown == pytest.approx(xray_percentages, abs=5), name  # the same film, however it was encoded
        else:
            assert expected == NOT_A_CHEST_XRAY and rows.loc[name, "Status"] == FILM_STATUS_TEXT[REFUSED], name
    assert len(refusals) + len(rows) == len(files)
