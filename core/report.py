"""What is said about one result: the decision in words, and the downloadable overlay PNG and PDF report."""
from dataclasses import dataclass
from datetime import datetime

import cv2
import numpy as np
from fpdf import FPDF
from PIL import Image

from core.abstention import INCONCLUSIVE, NOT_A_CHEST_XRAY, STATUS_TEXT
from core.classes import DISPLAY_NAMES

CREATED_FORMAT = "%Y-%m-%d %H:%M UTC"


def decision_text(probabilities: np.ndarray, status: str, threshold: float) -> tuple[str, str]:
    """(headline, explanation) for a decision, e.g. ("Inconclusive", "between Viral Pneumonia (48.2%) and ...")."""
    first, second = np.argsort(probabilities)[::-1][:2]
    top = f"{DISPLAY_NAMES[first]} ({probabilities[first]:.1%})"
    if status == NOT_A_CHEST_XRAY:
        return STATUS_TEXT[status], ("this image is unlike the chest X-rays the model was trained on, "
                                     "so no class is given and its probabilities mean little.")
    if status == INCONCLUSIVE:
        return STATUS_TEXT[status], (f"between {top} and {DISPLAY_NAMES[second]} ({probabilities[second]:.1%}); "
                                     f"the top probability is under the {threshold:.0%} threshold.")
    return DISPLAY_NAMES[first], f"{probabilities[first]:.1%} probability, at or above the {threshold:.0%} threshold."


def png_bytes(image: np.ndarray, compression: int = 6) -> bytes:
    """PNG encoding of a uint8 greyscale or RGB image, in memory; compression 1 is fastest (for the screen)."""
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, encoded = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, compression])
    if not ok:
        raise ValueError("PNG encoding failed")
    return encoded.tobytes()


@dataclass
class ReportContent:
    file_name: str
    pixels: np.ndarray  # the greyscale image the model read
    overlay: np.ndarray  # RGB heatmap overlay
    explanation: str  # e.g. "Grad-CAM for COVID-19"
    probabilities: np.ndarray  # registry order
    headline: str
    detail: str
    model_name: str
    model_sha256: str
    disclaimer: str
    created: datetime


def _latin1(text: str) -> str:
    """The PDF core fonts are Latin-1: replace anything else (e.g. in a file name) with '?'."""
    return text.encode("latin-1", "replace").decode("latin-1")


def pdf_report(content: ReportContent) -> bytes:
    """A one-page A4 PDF: the image beside its overlay, the decision, the probabilities, the model and the disclaimer."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    pdf.add_page()
    width = pdf.epw

    def line(text: str, size: float = 10, style: str = "", height: float = 5.5) -> None:
        pdf.set_font("helvetica", style, size)
        pdf.multi_cell(width, height, _latin1(text), new_x="LMARGIN", new_y="NEXT")

    line("Chest X-ray CNN Lab: model output", 16, "B", 8)
    line(f"File: {content.file_name}")
    line(f"Created: {content.created.strftime(CREATED_FORMAT)}")
    line(f"Model: {content.model_name} (SHA-256 {content.model_sha256})", 8, height=4.5)
    pdf.ln(3)
    line(f"Decision: {content.headline}", 13, "B", 7)
    line(content.detail[:1].upper() + content.detail[1:])
    pdf.ln(2)

    box_width, box_height, top = (width - 6) / 2, 95.0, pdf.get_y()
    for i, (image, caption) in enumerate(((content.pixels, "Image as the model read it"),
                                          (content.overlay, content.explanation))):
        scale = min(box_width / image.shape[1], box_height / image.shape[0])
        x = pdf.l_margin + i * (box_width + 6)
        pdf.image(Image.fromarray(image), x=x, y=top, w=image.shape[1] * scale, h=image.shape[0] * scale)
        pdf.set_xy(x, top + image.shape[0] * scale + 1)
        pdf.set_font("helvetica", "I", 9)
        pdf.cell(box_width, 5, _latin1(caption))
    pdf.set_y(top + box_height + 8)

    line("Class probabilities", 11, "B", 7)
    for name, p in zip(DISPLAY_NAMES, content.probabilities):
        pdf.set_font("helvetica", "", 10)
        pdf.cell(50, 6, name)
        pdf.set_fill_color(52, 101, 164)
        pdf.rect(pdf.get_x(), pdf.get_y() + 1.5, 80 * float(p), 3, style="F")
        pdf.set_x(pdf.get_x() + 84)
        pdf.cell(20, 6, f"{p:.1%}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    line("Red and yellow on the overlay mark the regions that raised the explained class's score most; they are "
         "not a lesion outline, and they show where the network looked, not whether it was right.", 9)
    pdf.ln(2)
    line(content.disclaimer, 10, "B")
    return bytes(pdf.output())
