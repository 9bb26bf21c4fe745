"""The four-class reading in words, the one probability rule, and the downloadable PNG and the PDF report (the three
answers first), built in memory."""
import io
import re
from datetime import UTC, datetime

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader

from core.classes import DISPLAY_NAMES
from core.model.abstention import INCONCLUSIVE, NOT_A_CHEST_XRAY, OK, STATUS_TEXT
from core.model.card import read_card
from core.model.questions import answer_all
from core.serving.answers import ANSWERED, FILM_STATUS_TEXT, answer_line, unseen_text
from core.serving.probability_text import probability_text
from core.serving.report import ReportContent, decision_text, pdf_report, png_bytes

PROBABILITIES = np.array([0.05, 0.10, 0.40, 0.45])
CARD = read_card()
RULES = {name: validation.rule for name, validation in CARD.questions.items()}


def pdf_text(pdf: bytes) -> str:
    """The text a reader of the PDF sees, as pypdf extracts it, with runs of white space made single spaces."""
    pages = PdfReader(io.BytesIO(pdf)).pages
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in pages))


@pytest.mark.parametrize("p, shown", [(1.0, "> 99.9 %"), (0.9996, "> 99.9 %"), (0.9994, "> 99.9 %"), (0.999, "99.9 %"), (0.97, "97.0 %"),
                                      (0.0004, "< 0.1 %"), (0.0, "< 0.1 %"), (0.001, "0.1 %")])
def test_a_probability_never_reads_as_certain(p, shown):
    assert probability_text(p) == shown


def test_confident_decision_names_the_class_and_the_threshold():
    assert decision_text(PROBABILITIES, OK, 0.4) == (DISPLAY_NAMES[3], "45.0 % probability, at or above the 40 % threshold.")


def test_inconclusive_says_the_top_class_fell_below_the_threshold():
    headline, detail = decision_text(np.array([0.028, 0.001, 0.001, 0.97]), INCONCLUSIVE, 0.98)
    assert headline == STATUS_TEXT[INCONCLUSIVE]
    assert detail == f"the top class, {DISPLAY_NAMES[3]}, has 97.0 %, below the chosen 98 % threshold, so no class is given."
    assert DISPLAY_NAMES[0] not in detail  # not a toss-up between two classes


def test_not_a_chest_xray_gives_no_class():
    headline, detail = decision_text(PROBABILITIES, NOT_A_CHEST_XRAY, 0.7)
    assert headline == STATUS_TEXT[NOT_A_CHEST_XRAY]
    assert not any(name in detail for name in DISPLAY_NAMES)


def test_png_bytes_is_lossless():
    rgb = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    for image in (rgb, rgb[..., 0]):
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png_bytes(image)))), image)


def report(probabilities: np.ndarray = PROBABILITIES, caution: str = "", shape=(300, 256)) -> bytes:
    grey = np.tile(np.linspace(0, 255, shape[1]).astype(np.uint8), (shape[0], 1))
    rgb = np.stack([grey, grey[::-1], grey], axis=-1)
    return pdf_report(ReportContent("chest_é.png", grey, rgb, "Grad-CAM for Viral Pneumonia", probabilities,
                                    answer_all(RULES, probabilities), ANSWERED, 0.4, CARD, "Not for diagnosis.",
                                    datetime(2026, 1, 2, 3, 4, tzinfo=UTC), caution))


def text_heights(pdf: bytes) -> dict[str, float]:
    """Each line of text on the page and its height above the page's foot, in points."""
    lines = {}
    PdfReader(io.BytesIO(pdf)).pages[0].extract_text(
        visitor_text=lambda text, cm, tm, *_: lines.setdefault(text.strip(), tm[5]) if text.strip() else None)
    return lines


def test_pdf_report_is_one_page_that_leads_with_the_disclaimer_and_the_three_answers():
    pdf = report()
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1
    text = pdf_text(pdf)
    assert text.startswith("Chest X-ray CNN Lab: model output Not for diagnosis.")
    lines = [answer_line(a) for a in answer_all(RULES, PROBABILITIES).values()]
    positions = [text.index(line) for line in lines]
    assert positions == sorted(positions) and positions[-1] < text.index("The uploaded image")
    assert all(unseen_text(v).capitalize()[1:] in text for v in CARD.questions.values())  # how each did on unseen hospitals
    assert f"Status: {FILM_STATUS_TEXT[ANSWERED]}." in text
    assert text.rstrip().endswith("Not for diagnosis.")


def test_pdf_report_names_the_file_the_model_its_date_the_four_classes_and_the_limits():
    text = pdf_text(report())
    for expected in ("chest_é.png", f"Model: {CARD.name}, trained {CARD.trained_at}", CARD.model_sha256[:12],
                     "2026-01-02 03:04 UTC", f"{DISPLAY_NAMES[3]}: 45.0 % probability, at or above the 40 % threshold",
                     "lateral views", *(f"{n} {probability_text(p)}" for n, p in zip(DISPLAY_NAMES, PROBABILITIES, strict=True))):
        assert expected in text, expected
    assert text.index("Detail: the four classes") > text.index("The uploaded image")


def test_pdf_report_captions_the_image_and_its_heatmap_truly_and_shows_a_colour_scale():
    pdf = report()
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1
    assert len(re.findall(rb"/Subtype\s*/Image", pdf)) == 3  # the image, its heatmap and the colour scale
    text = pdf_text(pdf)
    assert "The uploaded image, without viewing aids" in text
    assert "Grad-CAM for Viral Pneumonia, over the same image" in text
    assert "Colour scale: low" in text and "high" in text
    assert "as the model read it" not in text


def test_pdf_report_never_shows_certainty_and_carries_a_caution():
    probabilities = np.array([0.9997, 0.0001, 0.0001, 0.0001])
    text = pdf_text(report(probabilities, caution="The network looked mostly outside the lungs"))
    assert "100.0" not in text and "> 99.9 %" in text and "< 0.1 %" in text and "0.0 %" not in text
    assert "The network looked mostly outside the lungs" in text


@pytest.mark.parametrize("shape", [(300, 256), (200, 600)])  # a tall and a wide film
def test_pdf_report_leaves_no_large_blank_gap(shape):
    """The text after the images follows right under their captions, whatever the image's shape."""
    lines = text_heights(report(shape=shape))
    assert len(PdfReader(io.BytesIO(report(shape=shape))).pages) == 1
    caption = next(y for text, y in lines.items() if text.startswith("Grad-CAM for Viral Pneumonia"))
    after = next(y for text, y in lines.items() if text.startswith("Colour scale"))
    assert caption - after < 30  # about a centimetre: the two-line caption beside it, no empty box
