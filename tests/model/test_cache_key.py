"""One cache key for everything the app reads from a model folder (the model file's SHA-256): a folder replaced while
the server runs shows the new card in the sidebar and serves the new model on Analyse an X-ray, never one beside the
other."""
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core.imaging.phantom import chest_phantom
from core.model.bundle import load_bundle, save_bundle
from core.model.card import MODEL_FILE, ModelLoadError
from core.paths import MODELS_DIR

SMALL = MODELS_DIR / "small_cnn"  # the smallest shipped model: quick to load and warm


def retrained_copy(out: Path) -> Path:
    """small_cnn with its weights nudged and a card of another date: another model file, another card."""
    bundle = load_bundle(SMALL)
    bundle.model.set_weights([w + 0.05 for w in bundle.model.get_weights()])
    card = replace(bundle.card, trained_at="2026-12-31", model_sha256="", predictions_sha256="", history_sha256="")
    save_bundle(out, bundle.model, card, bundle.ood, bundle.predictions(), bundle.history())
    return out


def test_a_replaced_model_folder_changes_the_sidebar_card_and_the_served_model_together(tmp_path):
    from ui import common  # st.cache_resource also caches outside a running server ("bare mode")
    folder, pixels = tmp_path / "model", chest_phantom(160)
    shutil.copytree(SMALL, folder)
    card, classifier = common.read_card(folder), common.classifier_for(str(folder))
    before = classifier.analyse(pixels).probabilities
    assert common.read_card(folder) is card and common.classifier_for(str(folder)) is classifier  # cached
    for file in retrained_copy(tmp_path / "new").iterdir():
        file.replace(folder / file.name)
    new_card, new_classifier = common.read_card(folder), common.classifier_for(str(folder))
    assert new_card.trained_at == "2026-12-31" != card.trained_at
    assert new_classifier is not classifier and new_classifier.card == new_card
    assert not np.allclose(new_classifier.analyse(pixels).probabilities, before)


def test_a_model_file_its_card_does_not_vouch_for_is_refused_in_the_sidebar_as_on_the_pages(tmp_path):
    from ui import common
    folder = tmp_path / "model"
    shutil.copytree(SMALL, folder)
    (folder / MODEL_FILE).write_bytes((MODELS_DIR / "single_source" / MODEL_FILE).read_bytes())
    with pytest.raises(ModelLoadError, match="is not the file its card vouches for"):
        common.read_card(folder)
    with pytest.raises(ModelLoadError, match=f"{MODEL_FILE}: SHA-256 .* differs from the model card's"):
        common.classifier_for(str(folder))
