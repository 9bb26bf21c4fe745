"""Saved models on disk: models/<name>/model.keras beside its model_card.json, checked by SHA-256 on load."""
import json
from dataclasses import dataclass
from pathlib import Path

import keras

from core.hashing import sha256_of
from core.paths import DEFAULT_MODEL_DIR

MODEL_FILE, CARD_FILE = "model.keras", "model_card.json"
HISTORY_FILE, PREDICTIONS_FILE = "history.json", "validation_predictions.json"


class ModelLoadError(RuntimeError):
    """A model folder that cannot be used: missing files, or a model that differs from its card."""


@dataclass
class LoadedModel:
    model: keras.Model
    card: dict
    directory: Path

    @property
    def name(self) -> str:
        return self.directory.name


def read_json(directory: str | Path, file_name: str) -> dict | list:
    return json.loads((Path(directory) / file_name).read_text())


def write_json(directory: Path, file_name: str, data: dict | list) -> None:
    (directory / file_name).write_text(json.dumps(data, indent=2) + "\n")


def save_model(model: keras.Model, directory: Path, card: dict) -> dict:
    """Write model.keras and a card that records its SHA-256; returns the card as written."""
    directory.mkdir(parents=True, exist_ok=True)
    model.save(directory / MODEL_FILE)
    card = {**card, "model_sha256": sha256_of(directory / MODEL_FILE)}
    write_json(directory, CARD_FILE, card)
    return card


def load_model(directory: str | Path = DEFAULT_MODEL_DIR) -> LoadedModel:
    """Load a model folder, refusing a model.keras whose hash differs from its card."""
    directory = Path(directory)
    model_path, card_path = directory / MODEL_FILE, directory / CARD_FILE
    for path in (model_path, card_path):
        if not path.is_file():
            raise ModelLoadError(f"{directory}: missing {path.name}; train one with `python -m core.cli.train`")
    try:
        card = json.loads(card_path.read_text())
    except json.JSONDecodeError as err:
        raise ModelLoadError(f"{card_path}: not valid JSON ({err})") from None
    actual = sha256_of(model_path)
    if actual != card.get("model_sha256"):
        raise ModelLoadError(
            f"{model_path}: SHA-256 {actual[:12]}… differs from the model card's {str(card.get('model_sha256'))[:12]}…; "
            "the file was changed or corrupted, so it is refused"
        )
    return LoadedModel(keras.saving.load_model(model_path, compile=False), card, directory)


def list_model_dirs(root: str | Path = DEFAULT_MODEL_DIR.parent) -> list[Path]:
    """Model folders under models/, the default first."""
    found = sorted(p.parent for p in Path(root).glob(f"*/{CARD_FILE}"))
    return sorted(found, key=lambda p: (p.name != "default", p.name))


def model_identity(card: dict) -> str:
    """Which model gave a result: its name, training date and the start of its weights' SHA-256."""
    return f"{card.get('name', '?')}, trained {card.get('trained_at', '?')}, SHA-256 {card.get('model_sha256', '?')[:12]}"


def training_hashes(card: dict) -> frozenset[str]:
    """SHA-256 of every file the model was trained on (empty when the card does not list them)."""
    return frozenset(entry["sha256"] for entry in card.get("training_files", []))
