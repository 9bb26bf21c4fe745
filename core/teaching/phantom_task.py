"""A generated X-ray task that needs no data: drawn chest phantoms, clear or with a pneumonia-like opacity.

Every film is the app's chest phantom (core/imaging/phantom.py), posed, exposed and blurred a little differently, with
noise; half of them carry a soft opacity inside one lung at a seeded position, size, shape and contrast. Faint, small
opacities under heavy noise make some films genuinely hard, so that the networks do not all score 100 %.
Not real X-rays: a classroom task only.
"""
from functools import cache

import cv2
import numpy as np

from core.data.folders import Progress
from core.imaging.phantom import chest_phantom
from core.teaching.live_training import LabelledArrays

CLASS_NAMES = ("Clear lungs", "Opacity")
FILM_PX = 224  # drawn at MobileNetV2's input size; the small CNN reads them shrunk
FILMS = 480  # half of them with an opacity
LUNGS = ((40, 62), (88, 62))  # lung centres on the phantom's 128-pixel canvas
LUNG_AXES = (13, 30)  # a little inside the drawn lungs (19 × 40), so an opacity lies on lung
RADIUS = (6.0, 13.0)  # an opacity's radius on the 128-pixel canvas
CONTRAST = (0.1, 0.3)  # added brightness at an opacity's centre, on a 0-1 film
NOISE = (0.02, 0.06)  # standard deviation of the film's noise


@cache
def _base(size: int) -> np.ndarray:
    return chest_phantom(size).astype(np.float32)


def _opacity(rng: np.random.Generator, size: int) -> np.ndarray:
    """A soft, irregular blob (two overlapping Gaussians) at a random place inside one lung, peak 1."""
    s = size / 128
    cx, cy = LUNGS[rng.integers(2)]
    angle, r = rng.uniform(0, 2 * np.pi), np.sqrt(rng.uniform())
    x0, y0 = (cx + r * LUNG_AXES[0] * np.cos(angle)) * s, (cy + r * LUNG_AXES[1] * np.sin(angle)) * s
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    blob = np.zeros((size, size), np.float32)
    for _ in range(2):
        radius = rng.uniform(*RADIUS) * s
        dx, dy = rng.normal(0, radius / 3, 2)
        stretch = rng.uniform(0.6, 1.4)
        blob = np.maximum(blob, np.exp(-(((xx - x0 - dx) / (radius * stretch)) ** 2 + ((yy - y0 - dy) / radius) ** 2)))
    return blob


def phantom_film(rng: np.random.Generator, with_opacity: bool, size: int = FILM_PX) -> np.ndarray:
    """One film, uint8 (size, size). The opacity is drawn from `rng` either way, so two films from equal generators
    differ by the opacity alone."""
    img: np.ndarray = _base(size) + with_opacity * rng.uniform(*CONTRAST) * _opacity(rng, size)
    pose = np.asarray(cv2.getRotationMatrix2D((size / 2, size / 2), rng.uniform(-6, 6), rng.uniform(0.9, 1.1)), np.float64)
    pose[:, 2] += rng.uniform(-0.05, 0.05, 2) * size
    img = cv2.warpAffine(img, pose, (size, size), borderValue=0.05)
    img = np.clip(img, 0, 1) ** rng.uniform(0.75, 1.3) * rng.uniform(0.85, 1.1)  # exposure
    img = cv2.GaussianBlur(img, (0, 0), sigmaX=rng.uniform(0.5, 2.0) * size / 128)
    img = img + rng.normal(0, rng.uniform(*NOISE), img.shape).astype(np.float32)
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)


def phantom_films(count: int = FILMS, seed: int = 0, size: int = FILM_PX,
                  progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`count` films (N, size, size) uint8 and their labels (1: opacity), half of each, in a seeded order; the same
    seed gives the same films."""
    labels = np.random.default_rng(seed).permutation(np.arange(count) % 2)
    films = []
    for i, label in enumerate(labels):
        films.append(phantom_film(np.random.default_rng([seed, i]), bool(label), size))
        if progress:
            progress(i + 1, count)
    return np.stack(films), labels


def phantom_arrays(size: int = 64, seed: int = 0, progress: Progress | None = None) -> LabelledArrays:
    """The task as a network reads it: films drawn at FILM_PX, shrunk to `size` as X-rays are, greyscale in [0, 1]."""
    films, labels = phantom_films(seed=seed, progress=progress)
    x = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in films]).astype(np.float32) / 255.0
    return LabelledArrays(f"Phantom films {size}×{size}", x[..., None], labels, CLASS_NAMES)
