"""Changes a film could have had at another hospital, to test or train a model against source shortcuts.

Burned-in labels: the text markers ("L", "PA", "PORTABLE"...) that films carry, stamped at random on any class.
COVID-19 images from publications often carry such text while the other classes' films carry less, so a
network can learn "text means COVID-19". Stamping held-out images of the other classes measures how much the
model reacts to text alone (core/evaluation/shortcut.py). Training on stamped copies of every class was measured too and
did not help (README), so training does not use it.

Restyling (imitate_another_source): contrast, gamma, blur or noise, JPEG quality, crop and rotation as another
source might have made the film. Training heads on restyled copies is part of the default recipe (core/training/trainer.py).
"""
import cv2
import numpy as np

MARKERS = ("L", "R", "PA", "AP", "PORTABLE", "SUPINE", "ERECT", "AP SITTING", "1", "A")


def burn_in_label(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A copy of one (S, S, 3) 0-255 model input with a bright text marker in a random corner."""
    stamped = np.ascontiguousarray(image.clip(0, 255).astype(np.uint8))  # OpenCV draws text on 8-bit images
    size = image.shape[0]
    scale, thickness = size / 420 * rng.uniform(0.8, 1.6), max(1, round(size / 150))
    text = str(rng.choice(MARKERS))
    (width, height), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    margin = int(size * 0.04)
    left = margin if rng.random() < 0.5 else max(margin, size - width - margin)
    bottom = margin + height if rng.random() < 0.5 else size - margin
    grey = int(rng.integers(200, 256))
    cv2.putText(stamped, text, (left, bottom), cv2.FONT_HERSHEY_SIMPLEX, scale, (grey, grey, grey), thickness, cv2.LINE_AA)
    return stamped.astype(image.dtype)


def with_burned_in_labels(images: np.ndarray, seed: int) -> np.ndarray:
    """Every image stamped once, reproducibly for a seed."""
    rng = np.random.default_rng(seed)
    return np.stack([burn_in_label(image, rng) for image in images])


def imitate_another_source(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uint8 greyscale film as another hospital might have produced it: a different contrast and gamma, blur or
    noise, JPEG quality, a tighter crop and a small rotation. Used to train heads that rely less on how one
    source's files look."""
    h, w = pixels.shape
    angle, crop = rng.uniform(-7, 7), rng.uniform(0.0, 0.08)
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0 / (1.0 - crop))
    out = cv2.warpAffine(pixels, matrix, (w, h), borderMode=cv2.BORDER_REFLECT).astype(np.float32) / 255.0
    low, high = rng.uniform(0.0, 0.1), rng.uniform(0.9, 1.0)
    out = np.clip((out - low) / (high - low), 0.0, 1.0) ** np.exp(rng.uniform(-0.4, 0.4))
    if rng.random() < 0.5:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 1.5))
    else:
        out = out + rng.normal(0.0, rng.uniform(0.0, 0.03), out.shape)
    out = (np.clip(out, 0.0, 1.0) * 255).astype(np.uint8)
    ok, encoded = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 95))])
    restyled = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
    assert restyled is not None  # the JPEG OpenCV has just written
    return restyled
