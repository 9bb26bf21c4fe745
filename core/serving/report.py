"""What is said about one result: the four-class reading in words, the model's limits, and the overlay PNG and the
PDF report, which leads with the three answers and the disclaimer."""
import io
from dataclasses import dataclass
from datetime import datetime

import cv2
import numpy as np
from fpdf import FPDF
from PIL import Image

from core.classes import DISPLAY_NAMES
from core.model.abstention import INCONCLUSIVE, NOT_A_CHEST_XRAY, STATUS_TEXT, decide_status
from core.model.card import ModelCard
from core.model.questions import QuestionAnswer
from core.serving.answers import FILM_STATUS_TEXT, answer_line, cut_off_text, never_validated_text, unseen_text
from core.serving.probability_text import probability_text
from core.serving.saliency import colour_scale

CREATED_FORMAT = "%Y-%m-%d %H:%M UTC"
GAP = 3.0  # mm between blocks of the PDF


def threshold_text(threshold: float) -> str:
    return f"{threshold * 100:.0f} %"


def decision_text(probabilities: np.ndarray, status: str, threshold: float) -> tuple[str, str]:
    """(headline, explanation) for a decision, e.g. ("Inconclusive", "the top class, Viral Pneumonia, has 90.0 %, ...")."""
    top = int(np.argmax(probabilities))
    if status == NOT_A_CHEST_XRAY:
        return STATUS_TEXT[status], ("this image is unlike the chest X-rays the model was trained on, "
                                     "so no class is given and its probabilities mean little.")
    if status == INCONCLUSIVE:
        return STATUS_TEXT[status], (f"the top class, {DISPLAY_NAMES[top]}, has {probability_text(probabilities[top])}, "
                                     f"below the chosen {threshold_text(threshold)} threshold, so no class is given.")
    return DISPLAY_NAMES[top], f"{probability_text(probabilities[top])} probability, at or above the {threshold_text(threshold)} threshold."


def limits_text(card: ModelCard) -> str:
    """The model's limits in two sentences of plain text: what it learned from and what it has never seen."""
    sources = len(card.training_data.by_source or {}) or "several"
    return (f"It learned from {card.training_data.n} films from {sources} public sources and reads one frontal "
            "view without the history or earlier films. It has not seen lateral views, CT, devices, tuberculosis or "
            "other diseases, children outside one to five years, or any hospital's own patients.")


def png_bytes(image: np.ndarray) -> bytes:
    """PNG encoding of a uint8 greyscale or RGB image, in memory."""
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, encoded = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise ValueError("PNG encoding failed")
    return encoded.tobytes()


def jpeg_bytes(image: np.ndarray, quality: int) -> bytes:
    """JPEG encoding of a uint8 greyscale or RGB image, in memory, by Pillow as st.image encodes: a page that encodes
    once and hands over the bytes sends the same image without the work on every rerun."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


@dataclass
class ReportContent:
    file_name: str
    pixels: np.ndarray  # the uploaded image, greyscale, without viewing aids
    overlay: np.ndarray  # RGB heatmap overlay on the same image
    explanation: str  # e.g. "Grad-CAM for COVID-19"
    probabilities: np.ndarray  # the four classes, registry order
    answers: dict[str, QuestionAnswer]  # the three answers (a refused film gets no report)
    film_status: str  # core.serving.answers status
    threshold: float  # the four-class reading's threshold
    card: ModelCard
    disclaimer: str
    created: datetime
    caution: str = ""  # e.g. the network looked mostly outside the lungs


def _latin1(text: str) -> str:
    """The PDF core fonts are Latin-1: replace anything else (e.g. in a file name) with '?'."""
    return text.encode("latin-1", "replace").decode("latin-1")


class _Page:
    """A one-page A4 PDF written from the top down."""

    def __init__(self):
        self.pdf = FPDF(format="A4")
        self.pdf.set_auto_page_break(False)
        self.pdf.add_page()

    def line(self, text: str, size: float = 10, style: str = "", height: float = 5.0, fill: bool = False) -> None:
        self.pdf.set_font("helvetica", style, size)
        self.pdf.multi_cell(self.pdf.epw, height, _latin1(text), new_x="LMARGIN", new_y="NEXT", fill=fill)

    def probabilities(self, probabilities: np.ndarray, highlight: int | None) -> None:
        pdf = self.pdf
        for i, (name, p) in enumerate(zip(DISPLAY_NAMES, probabilities, strict=True)):
            pdf.set_font("helvetica", "B" if i == highlight else "", 10)
            pdf.cell(50, 5.5, name)
            pdf.set_fill_color(*((52, 101, 164) if i == highlight else (150, 175, 205)))
            pdf.rect(pdf.get_x(), pdf.get_y() + 1.3, 80 * float(p), 3, style="F")
            pdf.set_x(pdf.get_x() + 84)
            pdf.cell(25, 5.5, _latin1(probability_text(p)), new_x="LMARGIN", new_y="NEXT")

    def images(self, pictures: list[tuple[np.ndarray, str]], max_height: float) -> float:
        """Pictures side by side, each captioned right under it; returns the height used."""
        pdf, gap = self.pdf, 6.0
        box_width, top = (pdf.epw - gap) / len(pictures), pdf.get_y()
        used = 0.0
        for i, (image, caption) in enumerate(pictures):
            scale = min(box_width / image.shape[1], max_height / image.shape[0])
            x = pdf.l_margin + i * (box_width + gap)
            pdf.image(Image.fromarray(image), x=x, y=top, w=image.shape[1] * scale, h=image.shape[0] * scale)
            pdf.set_xy(x, top + image.shape[0] * scale + 1)
            pdf.set_font("helvetica", "I", 8.5)
            pdf.multi_cell(box_width, 4, _latin1(caption), align="L")
            used = max(used, pdf.get_y() - top)
        return used

    def colour_scale(self, x: float, width: float) -> None:
        pdf = self.pdf
        pdf.set_font("helvetica", "", 8)
        pdf.set_x(x)
        pdf.cell(22, 4, "Colour scale: low")
        pdf.image(Image.fromarray(colour_scale()), x=x + 23, y=pdf.get_y() + 0.5, w=width - 33, h=3)
        pdf.set_x(x + width - 9)
        pdf.cell(9, 4, "high", new_x="LMARGIN", new_y="NEXT")


def _answers(page: _Page, content: ReportContent) -> None:
    """Each answer in bold, then where its cut-offs sit and how it did on hospitals it never saw."""
    page.line("The three answers", 12, "B", 6)
    for name, answer in content.answers.items():
        validation = content.card.questions[name] if content.card.questions else None
        page.line(answer_line(answer), 11, "B", 5.5)
        if validation:
            notes = f"{cut_off_text(name, validation)}; {unseen_text(validation)}. {never_validated_text(validation)}"
            page.line(notes[:1].upper() + notes[1:], 8.5, height=4)
    page.line(f"Status: {FILM_STATUS_TEXT[content.film_status]}.", 10, "B")


def pdf_report(content: ReportContent) -> bytes:
    """A one-page A4 PDF: the disclaimer and the three answers first, then the image beside its heatmap with a colour
    scale, the four-class probabilities as a detail, the model's identity and its limits."""
    page = _Page()
    pdf = page.pdf
    page.line("Chest X-ray CNN Lab: model output", 15, "B", 7)
    pdf.set_fill_color(255, 243, 205)
    page.line(content.disclaimer, 10, "B", 5, fill=True)
    page.line(f"File: {content.file_name}    Created: {content.created.strftime(CREATED_FORMAT)}", 9.5)
    pdf.ln(GAP)
    _answers(page, content)
    if content.caution:
        pdf.set_text_color(160, 60, 0)
        page.line(content.caution, 10, "B")
        pdf.set_text_color(0, 0, 0)
    pdf.ln(GAP)
    top = pdf.get_y()
    room = pdf.h - pdf.b_margin - top - 78  # what the captions, the scale, the four classes and the model need
    used = page.images([(content.pixels, "The uploaded image, without viewing aids (the model reads it resized to a "
                                         "small square)"),
                        (content.overlay, f"{content.explanation}, over the same image")], room)
    pdf.set_y(top + used + 1)
    half = (pdf.epw - 6) / 2
    page.colour_scale(pdf.l_margin + half + 6, half)
    page.line("Red and yellow on the heatmap mark the regions that raised the explained class's score most, blue those "
              "that added little. It is not a lesion outline, and it shows where the network looked, not whether it "
              "was right.", 8.5, height=4)
    pdf.ln(GAP)
    headline, detail = decision_text(content.probabilities, decide_status(content.probabilities, content.threshold),
                                     content.threshold)
    page.line(f"Detail: the four classes ({headline}: {detail})", 10, "B", 5)
    page.probabilities(content.probabilities, int(np.argmax(content.probabilities)))
    pdf.ln(GAP)
    page.line(f"Model: {content.card.identity}", 8.5, height=4)
    page.line(limits_text(content.card), 8.5, height=4)
    page.line(content.disclaimer, 10, "B")
    return bytes(pdf.output())
