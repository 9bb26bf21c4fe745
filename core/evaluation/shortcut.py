"""Shortcut check: does Grad-CAM mass fall on the lungs, or on borders where text, markers and labels sit?

The central region is the box that holds the lung fields in a frontal film (15 %-85 % across, 10 %-90 % down);
a map spread evenly over the image puts CENTRAL_AREA of its mass there.
"""
import cv2
import keras
import numpy as np
from tf_keras_vis.gradcam import Gradcam
from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
from tf_keras_vis.utils.scores import CategoricalScore

from core.classes import CLASS_NAMES
from core.model.backbones import uncrop_map

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


def central_mass_of_images(model: keras.Model, cam_layer: str, images: np.ndarray, border_crop: float = 0.0,
                           batch_size: int = 16) -> np.ndarray:
    """Central Grad-CAM mass for each image, explaining the class the model predicts, with each map placed on the
    whole film when the model crops its border."""
    gradcam = Gradcam(model, model_modifier=ReplaceToLinear(), clone=True)
    masses = []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        predicted = model.predict(batch, verbose=0).argmax(axis=1)
        cams = gradcam(CategoricalScore(list(predicted)), batch, penultimate_layer=cam_layer, seek_penultimate_conv_layer=False)
        masses += [central_mass(uncrop_map(cam, border_crop)) for cam in np.atleast_3d(cams)]
    return np.array(masses)


def summarise(masses: np.ndarray, labels: np.ndarray) -> dict:
    """Mean central mass per true class, beside what an even spread would give."""
    return {
        "central_box": {"x": list(CENTRE_X), "y": list(CENTRE_Y)},
        "even_spread_share": CENTRAL_AREA,
        "central_mass_by_class": {name: float(masses[labels == i].mean()) for i, name in enumerate(CLASS_NAMES) if np.any(labels == i)},
    }


def label_sensitivity(labels: np.ndarray, probabilities: np.ndarray, stamped: np.ndarray) -> dict:
    """How a burned-in text label moves held-out non-COVID-19 images towards COVID-19."""
    covid = CLASS_NAMES.index("covid19")
    others = labels != covid
    flipped = (stamped[others].argmax(axis=1) == covid) & (probabilities[others].argmax(axis=1) != covid)
    return {
        "images": int(others.sum()),
        "mean_covid19_probability_change": float((stamped[others, covid] - probabilities[others, covid]).mean()),
        "turned_covid19": int(flipped.sum()),
        "accuracy_plain": float((probabilities.argmax(axis=1) == labels).mean()),
        "accuracy_stamped": float((stamped.argmax(axis=1) == labels).mean()),
    }
