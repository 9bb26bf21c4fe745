"""Shortcut check over many films: how much of each film's Grad-CAM mass falls on the lungs (core/serving/lung_focus.py)."""
import keras
import numpy as np
from tf_keras_vis.gradcam import Gradcam
from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
from tf_keras_vis.utils.scores import CategoricalScore

from core.classes import CLASS_NAMES
from core.model.backbones import uncrop_map
from core.serving.lung_focus import CENTRAL_AREA, CENTRE_X, CENTRE_Y, central_mass


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
