"""Turn a decoded greyscale X-ray into the network's input: a square 0-255 RGB float array."""
import cv2
import numpy as np


def to_model_input(pixels: np.ndarray, size: int) -> np.ndarray:
    """Resize a uint8 (H, W) greyscale image to (size, size, 3) float32 in 0-255.

    The aspect ratio is not kept: X-rays are near-square and the training data was treated the same way.
    Normalisation to the backbone's range happens inside the saved model.
    """
    resized = cv2.resize(pixels, (size, size), interpolation=cv2.INTER_AREA)
    return np.repeat(resized[:, :, None], 3, axis=2).astype(np.float32)
