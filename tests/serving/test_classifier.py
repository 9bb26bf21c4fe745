"""The shipped model: loading, integrity, probabilities, decisions and saliency maps."""
import shutil

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_sample_images
from tf_keras_vis.gradcam import Gradcam
from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
from tf_keras_vis.utils.scores import CategoricalScore

from core.classes import CLASS_NAMES
from core.imaging.decode import read_image_file
from core.model import abstention
from core.model.backbones import HEAD_NAME, LOGITS_NAME
from core.model.bundle import load_bundle
from core.model.card import MODEL_FILE, ModelLoadError
from core.serving.classifier import Classifier
from core.serving.diagnosis import diagnose
from core.serving.saliency import METHODS, GradCAM, GradCAMPlusPlus, overlay


def test_shipped_model_classifies_shared_xrays_with_probabilities_that_sum_to_one(classifier, xray_paths):
    correct = 0
    for folder, paths in xray_paths.items():
        for path in paths:
            analysis = classifier.analyse(read_image_file(path).pixels)
            assert analysis.probabilities.shape == (len(CLASS_NAMES),)
            assert analysis.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
            assert analysis.status != abstention.NOT_A_CHEST_XRAY
            correct += analysis.label == folder
    assert correct >= 10  # 12 training images; the model must know most of them


def test_batch_and_single_paths_agree(classifier, xray_paths):
    pixels = [read_image_file(p).pixels for p in xray_paths["covid19"]]
    batch = classifier.classify_batch(pixels)
    for image, result in zip(pixels, batch, strict=True):
        np.testing.assert_allclose(result.probabilities, classifier.analyse(image).probabilities, atol=1e-4)


def test_threshold_turns_a_confident_answer_inconclusive(classifier, xray_paths):
    pixels = read_image_file(xray_paths["normal"][0]).pixels
    top = classifier.analyse(pixels).probabilities.max()
    assert classifier.analyse(pixels, threshold=top - 0.01).status == abstention.OK
    assert classifier.analyse(pixels, threshold=min(1.0, top + 0.01)).status == abstention.INCONCLUSIVE


def test_photos_noise_text_and_flat_fields_are_not_chest_xrays(classifier):
    rng = np.random.default_rng(0)
    text = np.full((400, 300), 255, np.uint8)
    for row in range(12):
        cv2.putText(text, "Lorem ipsum dolor", (10, 30 + 30 * row), cv2.FONT_HERSHEY_SIMPLEX, 0.7, 0, 2)
    strangers = [cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY) for photo in load_sample_images().images]
    strangers += [rng.integers(0, 256, (300, 300), dtype=np.uint8), np.full((300, 300), 128, np.uint8), text]
    for pixels in strangers:
        assert classifier.analyse(pixels).status == abstention.NOT_A_CHEST_XRAY


def test_tampered_model_is_refused_with_a_clear_message(tmp_path):
    copy = tmp_path / "default"
    shutil.copytree(Classifier.from_dir.__globals__["DEFAULT_MODEL_DIR"], copy)
    data = bytearray((copy / MODEL_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / MODEL_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="model.keras: SHA-256 .* differs from the model card"):
        load_bundle(copy)


@pytest.fixture(scope="module")
def saved_model(classifier):
    """The shipped model.keras as saved: one Dense layer with a softmax gives the probabilities."""
    return keras.saving.load_model(classifier.bundle.directory / MODEL_FILE, compile=False)


def test_the_hot_paths_gradcam_is_the_explainers_at_the_layers_resolution_and_agrees_with_tf_keras_vis(classifier, saved_model,
                                                                                                      xray_paths):
    pixels = read_image_file(xray_paths["viral_pneumonia"][0]).pixels
    analysis, x = classifier.analyse(pixels), classifier.model_input(pixels)
    assert analysis.cam.shape == classifier.model.get_layer(classifier.cam_layer).output.shape[1:3] == (7, 7)
    np.testing.assert_allclose(analysis.cam, classifier.explainer(GradCAM)(x[None], analysis.top)[0], atol=1e-5)
    gradcam = Gradcam(saved_model, model_modifier=ReplaceToLinear(), clone=True)  # the library's rule, independently
    reference = np.asarray(gradcam(CategoricalScore([analysis.top]), x[None], penultimate_layer=classifier.cam_layer,
                                   seek_penultimate_conv_layer=False, expand_cam=False)[0])
    assert np.corrcoef(analysis.cam.ravel(), reference.ravel())[0, 1] > 0.999


@pytest.mark.parametrize("method", METHODS)
def test_every_saliency_method_gives_one_unit_range_map_per_film_at_the_layers_resolution(classifier, xray_paths, method):
    x = np.stack([classifier.model_input(read_image_file(path).pixels) for path in xray_paths["covid19"][:2]])
    for layer in (classifier.cam_layer, "block_13_expand_relu"):
        cams = classifier.explainer(method, layer)(x, class_index=1)
        assert cams.shape == (2, *classifier.model.get_layer(layer).output.shape[1:3])
        assert cams.min() >= 0.0 and cams.max(axis=(1, 2)) == pytest.approx([1.0, 1.0], abs=1e-3)
        np.testing.assert_allclose(cams[1], classifier.explainer(method, layer)(x[1:], class_index=1)[0], atol=1e-4)


def test_the_loaded_model_exposes_its_logits_and_gives_the_saved_probabilities_bit_for_bit(classifier, saved_model, xray_paths):
    x, saved = classifier.model_input(read_image_file(xray_paths["normal"][0]).pixels)[None], saved_model
    assert LOGITS_NAME not in [layer.name for layer in saved.layers]
    logits = keras.Model(classifier.model.input, classifier.model.get_layer(LOGITS_NAME).output)(x)
    np.testing.assert_array_equal(classifier.model(x), saved(x))
    np.testing.assert_allclose(tf.nn.softmax(logits), saved(x), atol=1e-7)
    np.testing.assert_array_equal(classifier.model.get_layer(LOGITS_NAME).kernel, saved.get_layer(HEAD_NAME).kernel)


def test_grad_cam_plus_plus_on_the_models_logits_is_the_librarys_on_its_linearised_clone(classifier, saved_model, xray_paths):
    x = classifier.model_input(read_image_file(xray_paths["viral_pneumonia"][0]).pixels)[None]
    reference = GradcamPlusPlus(saved_model, model_modifier=ReplaceToLinear(), clone=True)(
        CategoricalScore([2]), x, penultimate_layer=classifier.cam_layer, seek_penultimate_conv_layer=False, expand_cam=False)
    np.testing.assert_allclose(classifier.explainer(GradCAMPlusPlus)(x, 2), np.nan_to_num(reference), atol=1e-4)


def test_explaining_another_class_needs_no_new_prediction(classifier, xray_paths, monkeypatch):
    data = xray_paths["normal"][0].read_bytes()
    result = diagnose(classifier, "film.jpeg", data)
    other = (result.top + 1) % len(CLASS_NAMES)
    monkeypatch.setattr(classifier.ood, "score", lambda features: pytest.fail("the OOD check ran again"))
    monkeypatch.setattr(classifier, "analyse", lambda *args, **kwargs: pytest.fail("the prediction ran again"))
    cam = result.saliency_map(classifier, GradCAM, other)
    np.testing.assert_allclose(cam, classifier.explainer(GradCAM)(classifier.model_input(result.model_pixels)[None], other)[0], atol=1e-6)
    assert not np.allclose(cam, result.saliency_map(classifier, GradCAM, result.top))


def test_overlay_stretches_a_coarse_map_once_over_the_image_and_blends_by_opacity():
    pixels = np.full((50, 80), 100, np.uint8)
    cam = np.zeros((7, 7), np.float32)
    cam[0, 0] = 1.0  # evidence in the top-left cell only
    blended = overlay(pixels, cam, 0.5)
    assert blended.shape == (50, 80, 3)
    hot, middle, far = blended[2, 2].astype(int), blended[25, 40].astype(int), blended[-3, -3].astype(int)
    assert hot[0] > hot[2] and far[2] > far[0] and np.array_equal(middle, far)  # JET: the hot cell red, the rest cold blue
    np.testing.assert_array_equal(overlay(pixels, cam, 0.0), np.full((50, 80, 3), 100, np.uint8))
