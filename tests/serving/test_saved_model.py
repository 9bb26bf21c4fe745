"""`python -m core.cli.export`: the SavedModel that TensorFlow Serving runs gives the app's own answers on real films."""
import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from core.cli import export
from core.data.samples import sample_files
from core.imaging.decode import read_image_file
from core.model.abstention import decide_status
from core.model.backbones import FEATURES_NAME
from core.model.card import CARD_FILE
from core.serving.saved_model import EXTRA_DIR, METADATA_FILE, SIGNATURE


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    out_dir = tmp_path_factory.mktemp("exports") / "chest_xray" / "1"
    assert export.main([str(out_dir)]) == 0
    return out_dir


@pytest.fixture(scope="module")
def serve(exported: Path):
    return tf.saved_model.load(str(exported)).signatures[SIGNATURE]


@pytest.fixture(scope="module")
def films() -> dict[str, np.ndarray]:
    return {name: read_image_file(path).pixels for name, path in sample_files().items()}


def test_the_export_gives_the_apps_answers_maps_and_features_on_the_sample_films(serve, classifier, films, exported):
    meta = json.loads((exported / EXTRA_DIR / METADATA_FILE).read_text())
    features_of = keras.Model(classifier.model.input, classifier.model.get_layer(FEATURES_NAME).output)
    assert len(films) == 6
    for name, pixels in films.items():
        app = classifier.analyse(pixels)
        x = classifier.model_input(pixels)[None]
        out = {key: value.numpy()[0] for key, value in serve(pixels=tf.constant(x)).items()}
        np.testing.assert_allclose(out["probabilities"], app.probabilities, atol=1e-5, err_msg=name)
        assert out["top_class"] == app.top, name
        np.testing.assert_allclose(out["features"], features_of(x, training=False).numpy()[0], rtol=1e-4, atol=1e-5, err_msg=name)
        assert out["ood_score"] == pytest.approx(app.ood_score, abs=1e-5), name
        assert out["grad_cam"].shape == app.cam.shape == (7, 7)
        np.testing.assert_allclose(out["grad_cam"], app.cam, atol=1e-4, err_msg=name)
        # the metadata alone lets a client reach the app's status
        status = decide_status(out["probabilities"], meta["inconclusive_threshold"], out["ood_score"] <= meta["ood_threshold"])
        assert status == app.status, name


def test_films_served_together_get_the_maps_they_get_alone(serve, classifier, films):
    batch = np.stack([classifier.model_input(pixels) for pixels in films.values()])
    together = serve(pixels=tf.constant(batch))
    for row, x in enumerate(batch):
        alone = serve(pixels=tf.constant(x[None]))
        np.testing.assert_allclose(together["grad_cam"][row], alone["grad_cam"][0], atol=1e-4)
        np.testing.assert_allclose(together["probabilities"][row], alone["probabilities"][0], atol=1e-5)


def test_the_metadata_names_the_input_and_the_card_travels_with_the_export(exported, classifier):
    meta = json.loads((exported / EXTRA_DIR / METADATA_FILE).read_text())
    assert meta["input"]["intensity"] == classifier.intensity == "clahe"
    assert meta["input"]["shape"] == [None, 224, 224, 3] and meta["input"]["range"] == [0, 255]
    assert meta["ood_threshold"] == pytest.approx(classifier.ood.threshold)
    card = json.loads((exported / EXTRA_DIR / CARD_FILE).read_text())
    assert card["model_sha256"] == meta["model_sha256"] == classifier.card.model_sha256


@pytest.mark.parametrize("place, said", [("full", "already holds files"), ("a_file", "is a file"), ("a_file/below", "cannot create")])
def test_a_bad_out_dir_is_named_with_its_reason_and_nothing_is_written(tmp_path, capsys, place, said):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("someone's work")
    (tmp_path / "a_file").write_text("not a folder")
    assert export.main([str(tmp_path / place)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and said in err and str(tmp_path / place) in err and "Traceback" not in err
    assert sorted(p.name for p in (tmp_path / "full").iterdir()) == ["notes.txt"]
