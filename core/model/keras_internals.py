"""Keras internals the project relies on, kept in one place (core cannot import ui/streamlit_internals.py).

None of this is public Keras API; UPGRADING.md names the canary test for each and what to do when it fails.
"""
import io
import zipfile
from pathlib import Path

import h5py

WEIGHTS_ENTRY = "model.weights.h5"  # inside a .keras zip, beside config.json and metadata.json
LAYERS_GROUP = "layers"  # the model's variables; the optimizer's saved state sits beside them, in "optimizer"


def count_saved_parameters(model_file: str | Path) -> int:
    """A saved .keras model's weights, trainable or not (as its count_params()), read from the file in about 0.1 s
    without TensorFlow; loading the model to ask it takes 1-3 s for MobileNetV2 on 2 cores."""
    with zipfile.ZipFile(model_file) as archive, h5py.File(io.BytesIO(archive.read(WEIGHTS_ENTRY))) as weights:
        sizes = []
        weights[LAYERS_GROUP].visititems(lambda _, item: sizes.append(item.size) if isinstance(item, h5py.Dataset) else None)
    return int(sum(sizes))
