"""A drawn chest phantom: a synthetic image for demos and benchmarks that needs no patient data."""
from numbers import Integral

import cv2
import numpy as np


def chest_phantom(size: int = 128) -> np.ndarray:
    """A drawn, deterministic stand-in for a frontal chest radiograph, float in [0, 1].

    Dark air outside a soft body outline, two dark lungs, a bright mediastinum and spine,
    ribs as arcs over the lungs, and domed diaphragms. Not a real X-ray.
    """
    if isinstance(size, bool) or not isinstance(size, Integral) or size < 32:
        raise ValueError(f"phantom size must be a whole number of at least 32, got {size!r}")
    s = size / 128  # all coordinates below are drawn on a 128-pixel canvas and scaled
    img = np.full((size, size), 0.05, dtype=np.float32)

    def pt(x: float, y: float) -> tuple[int, int]:
        return round(x * s), round(y * s)

    def ax(a: float, b: float) -> tuple[int, int]:
        return max(1, round(a * s)), max(1, round(b * s))

    thick = max(1, round(2 * s))
    cv2.ellipse(img, pt(64, 72), ax(54, 66), 0, 0, 360, 0.55, -1)  # body and soft tissue
    lungs, domes = np.zeros((size, size), np.uint8), np.zeros((size, size), np.uint8)
    for cx, angle in ((40, 8), (88, -8)):  # lungs, tilted so the apices lean in
        cv2.ellipse(lungs, pt(cx, 62), ax(19, 40), angle, 0, 360, 1, -1)
        cv2.ellipse(domes, pt(cx, 114), ax(24, 16), 0, 0, 360, 1, -1)  # diaphragm domes cut the bases
    img[(lungs == 1) & (domes == 0)] = 0.18
    for y in range(22, 96, 10):  # ribs: arcs from the spine sweeping out and down
        cv2.ellipse(img, pt(64, y + 20), ax(36, 20), 0, 180, 272, 0.62, thick)
        cv2.ellipse(img, pt(64, y + 20), ax(36, 20), 0, 268, 360, 0.62, thick)
    for start, end in ((195, 290), (250, 345)):  # clavicles
        cv2.ellipse(img, pt(64, 34), ax(32, 12), 0, start, end, 0.75, thick)
    cv2.rectangle(img, pt(58, 14), pt(70, 127), 0.85, -1)  # mediastinum and spine
    cv2.ellipse(img, pt(72, 86), ax(15, 16), 0, 0, 360, 0.8, -1)  # heart shadow, on the patient's left
    img = cv2.GaussianBlur(img, (0, 0), sigmaX=1.2 * s)
    return np.clip(img, 0.0, 1.0).astype(np.float64)
