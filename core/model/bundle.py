"""A model folder as one object: model.keras, its card, the not-a-chest-X-ray data, the validation predictions and
the training history, each saved and loaded here and checked against the SHA-256 its card records.

    models/<name>/model.keras  model_card.json  ood.npz  validation_predictions.json  history.json

The card alone, without TensorFlow, is core/model/card.py.
"""
import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import keras

from core.hashing import sha256_of
from core.model.backbones import CAM_LAYER, expose_logits
from core.model.card import (
    HISTORY_FILE,
    MODEL_FILE,
    OOD_FILE,
    PREDICTIONS_FILE,
    RETRAIN,
    ModelCard,
    ModelLoadError,
    checked_bytes,
    read_card,
    read_history,
    read_predictions,
    write_card,
    write_json,
)
from core.model.keras_internals import load_model_from_bytes
from core.model.ood import OodDetector
from core.paths import DEFAULT_MODEL_DIR


@dataclass(frozen=True, eq=False)
class ModelBundle:
    directory: Path
    card: ModelCard
    model: keras.Model  # pixels (0-255, 3 channels) to probabilities, through a `logits` layer (expose_logits)
    ood: OodDetector

    @property
    def name(self) -> str:
        return self.directory.name

    def predictions(self) -> list[dict]:
        return read_predictions(self.directory, self.card)

    def history(self) -> dict:
        return read_history(self.directory, self.card)


def load_bundle(directory: str | Path = DEFAULT_MODEL_DIR) -> ModelBundle:
    """Load a model folder, refusing a card that breaks the contract (core/model/card.py) and any file whose SHA-256
    differs from the card's. The model file is read once: the bytes whose hash matched are the bytes loaded, so
    `card.model_sha256` names the very weights served."""
    directory = Path(directory)
    card = read_card(directory)
    if card.backbone not in CAM_LAYER:
        raise ModelLoadError(f"{directory}: unknown backbone {card.backbone!r} (known: {', '.join(CAM_LAYER)}); {RETRAIN}")
    for file_name, sha256 in ((PREDICTIONS_FILE, card.predictions_sha256), (HISTORY_FILE, card.history_sha256)):
        checked_bytes(directory, file_name, sha256)
    model_bytes = checked_bytes(directory, MODEL_FILE, card.model_sha256)
    ood = OodDetector.from_bytes(checked_bytes(directory, OOD_FILE, card.ood.sha256))
    model = expose_logits(load_model_from_bytes(model_bytes))
    return ModelBundle(directory, card, model, ood)


def save_bundle(directory: Path, model: keras.Model, card: ModelCard, ood: OodDetector, predictions: list[dict],
                history: dict) -> ModelCard:
    """Write every file of a model folder and a card that records their SHA-256; returns the card as read back, so a
    card that breaks the contract fails here rather than when the model is first used."""
    directory.mkdir(parents=True, exist_ok=True)
    model.save(directory / MODEL_FILE)
    ood_bytes = ood.to_bytes()
    (directory / OOD_FILE).write_bytes(ood_bytes)
    write_json(directory / PREDICTIONS_FILE, predictions)
    write_json(directory / HISTORY_FILE, history)
    card = replace(card, model_sha256=sha256_of(directory / MODEL_FILE), predictions_sha256=sha256_of(directory / PREDICTIONS_FILE),
                   history_sha256=sha256_of(directory / HISTORY_FILE), ood=replace(card.ood, sha256=hashlib.sha256(ood_bytes).hexdigest()))
    write_card(directory, card)
    return read_card(directory)
