"""Is a saliency map on the lungs, or on the borders where text, markers and labels sit?

The central region is the box that holds the lung fields in a frontal film (15 %-85 % across, 10 %-90 % down);
a map spread evenly over the image puts CENTRAL_AREA of its mass there.
"""
import cv2
import numpy as np

CENTRE_X, CENTRE_Y = (0.15, 0.85), (0.10, 0.90)
CENTRAL_AREA = (CENTRE_X[1] - CENTRE_X[0]) * (CENTRE_Y[1] - CENTRE_Y[0])
LUNG_SHARE_FLOOR = 0.5  # one image's map with less of its mass in the lung box looked mostly elsewhere
OUTSIDE_WARNING = "The network looked mostly outside the lungs: read this result with care."
JUDGED_PX = 224  # a coarse map (7 x 7) is judged as the overlay draws it: stretched bilinearly over this many pixels


def central_mass(cam: np.ndarray) -> float:
    """Share of a non-negative map's mass inside the central (lung) box."""
    height, width = cam.shape
    box = cam[int(CENTRE_Y[0] * height):int(CENTRE_Y[1] * height), int(CENTRE_X[0] * width):int(CENTRE_X[1] * width)]
    return float(box.sum() / (cam.sum() + 1e-12))


def looked_outside_lungs(cam: np.ndarray) -> bool:
    """True when most of one image's map lies outside the lung box, or its peak does (a border, marker or label)."""
    cam = cv2.resize(cam.astype(np.float32), (JUDGED_PX, JUDGED_PX), interpolation=cv2.INTER_LINEAR)
    height, width = cam.shape
    row, column = np.unravel_index(np.argmax(cam), cam.shape)
    peak_inside = CENTRE_Y[0] <= row / height < CENTRE_Y[1] and CENTRE_X[0] <= column / width < CENTRE_X[1]
    return central_mass(cam) < LUNG_SHARE_FLOOR or not peak_inside
