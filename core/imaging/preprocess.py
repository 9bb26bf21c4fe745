"""Turn a decoded greyscale X-ray into the network's input: a square 0-255 RGB float array."""
import cv2
import numpy as np

NO_NORMALISATION, CLAHE = "none", "clahe"
INTENSITY_METHODS = (NO_NORMALISATION, CLAHE)


def normalise_intensity(pixels: np.ndarray, method: str) -> np.ndarray:
    """A uint8 image with its contrast equalised locally (CLAHE, 8 x 8 tiles, clip 2), or unchanged for "none".

    Films from different hospitals differ in exposure and processing; equalising each image narrows that gap.
    """
    if method == CLAHE:
        return cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(pixels)
    if method != NO_NORMALISATION:
        raise ValueError(f"unknown intensity normalisation {method!r}; expected one of {', '.join(INTENSITY_METHODS)}")
    return pixels


def resize_for_model(pixels: np.ndarray, size: int) -> np.ndarray:
    """A uint8 (H, W) greyscale image resized to (size, size) as the network reads it; resizing the result again to
    (size, size) changes nothing, so to_model_input gives the same input from either."""
    return cv2.resize(pixels, (size, size), interpolation=cv2.INTER_AREA)


def to_model_input(pixels: np.ndarray, size: int, intensity: str = NO_NORMALISATION) -> np.ndarray:
    """Resize a uint8 (H, W) greyscale image to (size, size, 3) float32 in 0-255, then normalise its intensity.

    The aspect ratio is not kept: X-rays are near-square and the training data was treated the same way.
    Normalisation to the backbone's range happens inside the saved model; the intensity method is the model card's.
    """
    resized = normalise_intensity(resize_for_model(pixels, size), intensity)
    return np.repeat(resized[:, :, None], 3, axis=2).astype(np.float32)
