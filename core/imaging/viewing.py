"""Display aids for reading an X-ray on screen: CLAHE, invert, DICOM window presets. The model never sees these."""
from dataclasses import replace

import cv2
import numpy as np

from core.imaging.decode import DecodedImage, apply_window

DISPLAY_MAX_SIDE = 1024  # on-screen copies are downscaled to this; the model reads the full decoded pixels
FILE_WINDOW, FULL_RANGE, LUNGS, BONE = "As stored in the file", "Full range", "Lung fields", "Bone and mediastinum"
WINDOW_PRESETS = (FILE_WINDOW, FULL_RANGE, LUNGS, BONE)
# Lungs are the low-attenuation end of a radiograph, bone the high end: each preset spreads one end over the
# full grey scale. Percentiles, not fixed numbers, because X-ray (unlike CT) values have no standard unit.
PRESET_PERCENTILES = {FULL_RANGE: (0.0, 100.0), LUNGS: (1.0, 60.0), BONE: (40.0, 99.5)}


def fit_for_display(pixels: np.ndarray, max_side: int = DISPLAY_MAX_SIDE) -> np.ndarray:
    """An image (uint8 or float32) no larger than max_side on its longer side (INTER_AREA), so pages stay quick to send."""
    height, width = pixels.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return pixels
    return cv2.resize(pixels, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)


def display_copy(decoded: DecodedImage) -> DecodedImage:
    """The image at display size (its pixels and DICOM values through fit_for_display), with the original's name,
    format, metadata and window: everything the on-screen aids use, in a few MB whatever the file's size."""
    values = None if decoded.dicom_values is None else fit_for_display(decoded.dicom_values)
    return replace(decoded, pixels=fit_for_display(decoded.pixels), dicom_values=values)


def enhance_contrast(pixels: np.ndarray, clip_limit: float = 2.0, tiles: int = 8) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation (CLAHE) of a uint8 greyscale image."""
    return cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(tiles, tiles)).apply(pixels)


def invert(pixels: np.ndarray) -> np.ndarray:
    """Negative image: bone dark, air bright."""
    return 255 - pixels


def is_monochrome1(decoded: DecodedImage) -> bool:
    """DICOM MONOCHROME1 stores bright as low values; the decoder already flipped it for display."""
    return decoded.metadata.get("Photometric interpretation") == "MONOCHROME1"


def preset_window(decoded: DecodedImage, preset: str) -> tuple[float, float]:
    """(centre, width) of a window preset for a DICOM image's stored values."""
    if decoded.window is None or decoded.dicom_values is None:
        raise ValueError(f"{decoded.name} is not a DICOM image: it has no window")
    if preset == FILE_WINDOW:
        return decoded.window
    low, high = PRESET_PERCENTILES[preset]
    if is_monochrome1(decoded) and preset != FULL_RANGE:  # low values are the bright end: mirror the range
        low, high = 100.0 - high, 100.0 - low
    lo, hi = np.percentile(decoded.dicom_values, (low, high))
    return float(lo + hi + 1) / 2, float(max(hi - lo + 1, 1.0))


def display_pixels(decoded: DecodedImage, window: tuple[float, float] | None = None,
                   clahe: bool = False, inverted: bool = False) -> np.ndarray:
    """The on-screen version of an image: re-windowed (DICOM only), then CLAHE, then invert, downscaled."""
    if window is not None and decoded.dicom_values is not None:
        pixels = apply_window(fit_for_display(decoded.dicom_values), *window, invert=is_monochrome1(decoded))
    else:
        pixels = fit_for_display(decoded.pixels)
    if clahe:
        pixels = enhance_contrast(pixels)
    return invert(pixels) if inverted else pixels
