"""A model folder as a TensorFlow SavedModel that TensorFlow Serving can run: the app's whole hot path in one signature.

    OUT_DIR/saved_model.pb  variables/  assets.extra/chest_xray_lab.json  assets.extra/model_card.json

`serving_default` takes a batch of model inputs, `pixels` (N, size, size, 3) float32 in 0-255, each a greyscale film
resized and intensity-normalised as the card's `intensity` says (Classifier.model_input; CLAHE for the shipped model),
and returns what Classifier.analyse computes before its decision rule:

    probabilities (N, 4)  calibrated by the card's temperature, in the registry's class order
    top_class     (N,)    the index of the most probable class
    features      (N, F)  the pooled features that the not-a-chest-X-ray check reads (core/model/ood.py)
    ood_score     (N,)    their mean cosine distance to the nearest training films; above ood_threshold: refused
    grad_cam      (N, h, w) the top class's Grad-CAM in [0, 1], from a gradient tape inside the signature

assets.extra/chest_xray_lab.json names the input, the thresholds and the classes; a copy of the card sits beside it.
"""
import json
import os
import shutil
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from core.classes import CLASS_NAMES
from core.model.backbones import CAM_LAYER, FEATURES_NAME, LOGITS_NAME
from core.model.bundle import ModelBundle
from core.model.card import CARD_FILE
from core.model.ood import NEIGHBOURS
from core.serving.saliency import grad_cam

SIGNATURE = "serving_default"
EXTRA_DIR = "assets.extra"  # where TensorFlow Serving expects files beside a model that are not part of the graph
METADATA_FILE = "chest_xray_lab.json"
PROBABILITY_FLOOR = 1e-12  # as calibration.apply_temperature clips before the logarithm


class ExportError(RuntimeError):
    """The export cannot be written where asked; the message says why."""


class ServingModule(tf.Module):
    """The model, its head and the not-a-chest-X-ray reference films, traced into one serving function."""

    def __init__(self, bundle: ModelBundle):
        super().__init__(name="chest_xray_lab")
        card, model = bundle.card, bundle.model
        self.model = model
        self.graph = keras.Model(model.input, [model.get_layer(CAM_LAYER[card.backbone]).output,
                                               model.get_layer(FEATURES_NAME).output, model.get_layer(LOGITS_NAME).output])
        # float16 as ood.npz stores it: the app reads the same values back as float32
        self.reference = tf.Variable(bundle.ood.reference.astype(np.float16), trainable=False, name="ood_reference")
        self.temperature = float(card.calibration.temperature)
        size = card.input_size
        self.serve = tf.function(self._serve, input_signature=[tf.TensorSpec((None, size, size, 3), tf.float32, name="pixels")])

    def _serve(self, pixels: tf.Tensor) -> dict[str, tf.Tensor]:
        with tf.GradientTape() as tape:
            tape.watch(pixels)  # records the whole pass, so the gradient reaches frozen layers' maps
            maps, features, logits = self.graph(pixels, training=False)
            score = tf.reduce_sum(tf.reduce_max(logits, axis=1))  # each film's top logit; films do not interact
        cam = grad_cam(maps, tape.gradient(score, maps))
        return {"probabilities": self._calibrated(logits), "top_class": tf.argmax(logits, axis=1, output_type=tf.int32),
                "features": features, "ood_score": self._ood_score(features), "grad_cam": cam}

    def _calibrated(self, logits: tf.Tensor) -> tf.Tensor:
        """calibration.apply_temperature on the softmax, as the app computes it."""
        log_p = tf.math.log(tf.clip_by_value(tf.nn.softmax(logits), PROBABILITY_FLOOR, 1.0))
        return tf.nn.softmax(log_p / self.temperature)

    def _ood_score(self, features: tf.Tensor) -> tf.Tensor:
        """OodDetector.score: mean cosine distance to the NEIGHBOURS nearest training films."""
        unit = features / (tf.norm(features, axis=1, keepdims=True) + 1e-12)
        distances = 1.0 - tf.matmul(unit, tf.cast(self.reference, tf.float32), transpose_b=True)
        k = min(NEIGHBOURS, int(self.reference.shape[0]))
        return -tf.reduce_mean(tf.math.top_k(-distances, k).values, axis=1)


def metadata(bundle: ModelBundle) -> dict[str, Any]:
    """What a client must know to feed the signature and read its answers."""
    card = bundle.card
    size = card.input_size
    return {
        "model": card.name, "model_sha256": card.model_sha256, "trained_at": card.trained_at, "signature": SIGNATURE,
        "input": {"name": "pixels", "shape": [None, size, size, 3], "dtype": "float32", "range": [0, 255],
                  "intensity": card.intensity, "description": card.input},
        "classes": list(CLASS_NAMES), "temperature": card.calibration.temperature,
        "inconclusive_threshold": card.threshold, "ood_threshold": bundle.ood.threshold, "ood_neighbours": NEIGHBOURS,
        "cam_layer": CAM_LAYER[card.backbone], "border_crop": card.border_crop,
        "outputs": {"probabilities": "calibrated, in the order of classes", "top_class": "index into classes",
                    "features": "pooled features read by the not-a-chest-X-ray check",
                    "ood_score": "mean cosine distance to the nearest training films; above ood_threshold the film is refused",
                    "grad_cam": "the top class's Grad-CAM in [0, 1] over the kept field (border_crop), at cam_layer's resolution"},
    }


def prepare_out_dir(out_dir: Path) -> None:
    """Create `out_dir`, or accept it empty; refuse a file, a folder that holds files, or a place that cannot be written."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir} is a file; give a new or empty folder")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        raise ExportError(f"{out_dir} already holds files; give a new or empty folder (an export is never written over another)")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ExportError(f"cannot create {out_dir}: {err.strerror}") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise ExportError(f"{out_dir} is not writable")


def export_saved_model(bundle: ModelBundle, out_dir: str | Path) -> Path:
    """Write `bundle` as a SavedModel with the serving signature above into a new or empty `out_dir`."""
    out_dir = Path(out_dir)
    prepare_out_dir(out_dir)
    module = ServingModule(bundle)
    tf.saved_model.save(module, str(out_dir), signatures={SIGNATURE: module.serve})
    extra = out_dir / EXTRA_DIR
    extra.mkdir(exist_ok=True)
    (extra / METADATA_FILE).write_text(json.dumps(metadata(bundle), indent=2) + "\n")
    shutil.copyfile(bundle.directory / CARD_FILE, extra / CARD_FILE)
    return out_dir
