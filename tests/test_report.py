"""The decision in words, and the downloadable PNG and PDF report, built in memory."""
import io
import re
import zlib
from datetime import datetime, timezone

import numpy as np
from PIL import Image

from core.abstention import INCONCLUSIVE, NOT_A_CHEST_XRAY, OK, STATUS_TEXT
from core.classes import DISPLAY_NAMES
from core.report import ReportContent, decision_text, pdf_report, png_bytes

PROBABILITIES = np.array([0.05, 0.10, 0.40, 0.45])


def pdf_text(pdf: bytes) -> str:
    """All content streams of a PDF, inflated where compressed, as Latin-1 text."""
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S)
    texts = []
    for stream in streams:
        try:
            texts.append(zlib.decompress(stream).decode("latin-1"))
        except zlib.error:
            texts.append(stream.decode("latin-1"))
    return "\n".join(texts)


def test_confident_decision_names_the_class_and_the_threshold():
    assert decision_text(PROBABILITIES, OK, 0.4) == (DISPLAY_NAMES[3], "45.0% probability, at or above the 40% threshold.")


def test_inconclusive_names_the_two_leading_classes():
    headline, detail = decision_text(PROBABILITIES, INCONCLUSIVE, 0.7)
    assert headline == STATUS_TEXT[INCONCLUSIVE]
    assert detail == f"between {DISPLAY_NAMES[3]} (45.0%) and {DISPLAY_NAMES[2]} (40.0%); the top probability is under the 70% threshold."


def test_not_a_chest_xray_gives_no_class():
    headline, detail = decision_text(PROBABILITIES, NOT_A_CHEST_XRAY, 0.7)
    assert headline == STATUS_TEXT[NOT_A_CHEST_XRAY]
    assert not any(name in detail for name in DISPLAY_NAMES)


def test_png_bytes_is_lossless():
    rgb = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    for image in (rgb, rgb[..., 0]):
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png_bytes(image)))), image)


def test_pdf_report_holds_both_images_the_numbers_the_model_and_the_disclaimer():
    grey = np.tile(np.arange(256, dtype=np.uint8), (300, 1))
    rgb = np.stack([grey, grey[::-1], grey], axis=-1)
    content = ReportContent("chest_é.png", grey, rgb, "Grad-CAM for Viral Pneumonia", PROBABILITIES,
                            *decision_text(PROBABILITIES, OK, 0.4), "default", "ab12" * 16,
                            "Not for diagnosis.", datetime(2026, 1, 2, 3, 4, tzinfo=timezone.utc))
    pdf = pdf_report(content)
    assert pdf.startswith(b"%PDF") and len(re.findall(rb"/Subtype\s*/Image", pdf)) == 2
    text = pdf_text(pdf)
    for expected in ("chest_\xe9.png", "ab12" * 16, "2026-01-02 03:04 UTC", "Not for diagnosis.", "Decision: Viral Pneumonia",
                     "Grad-CAM for Viral Pneumonia", *DISPLAY_NAMES, "45.0%", "40.0%"):
        assert expected in text, expected
