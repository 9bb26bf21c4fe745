"""Keras internals the project relies on, kept in one place (core cannot import ui/streamlit_internals.py).

None of this is public Keras API; UPGRADING.md names the canary test for each and what to do when it fails. Keras
itself is imported only inside the functions that need it, so counting parameters stays free of TensorFlow.
"""
import io
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py

if TYPE_CHECKING:
    import keras

WEIGHTS_ENTRY = "model.weights.h5"  # inside a .keras zip, beside config.json and metadata.json
LAYERS_GROUP = "layers"  # the model's variables; the optimizer's saved state sits beside them, in "optimizer"


def count_saved_parameters(model_file: str | Path) -> int:
    """A saved .keras model's weights, trainable or not (as its count_params()), read from the file in about 0.1 s
    without TensorFlow; loading the model to ask it takes 1-3 s for MobileNetV2 on 2 cores."""
    with zipfile.ZipFile(model_file) as archive, h5py.File(io.BytesIO(archive.read(WEIGHTS_ENTRY))) as weights:
        sizes = []
        weights[LAYERS_GROUP].visititems(lambda _, item: sizes.append(item.size) if isinstance(item, h5py.Dataset) else None)
    return int(sum(sizes))


def load_model_from_bytes(model_bytes: bytes) -> "keras.Model":
    """A .keras model, uncompiled, from its bytes in memory, so that the bytes a caller hashed are the bytes loaded:
    keras.saving.load_model takes only a path; Keras 3's own loader behind it takes a file object."""
    from keras.src.saving import saving_lib

    return saving_lib.load_model(io.BytesIO(model_bytes), compile=False)


def producing_layer(tensor: Any) -> "keras.Operation":
    """The layer whose output a symbolic tensor of a functional model is (Keras has no public way to ask)."""
    return tensor._keras_history.operation
