"""The shipped model: loading, integrity, probabilities, decisions and saliency maps."""
import shutil

import cv2
import numpy as np
import pytest
from sklearn.datasets import load_sample_images

from core.classes import CLASS_NAMES
from core.imaging.decode import read_image_file
from core.model import abstention
from core.model.bundle import MODEL_FILE, ModelLoadError, load_model
from core.serving.classifier import Classifier
from core.serving.saliency import METHODS, SaliencyExplainer, overlay


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
    for image, result in zip(pixels, batch):
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
    with pytest.raises(ModelLoadError, match="differs from the model card"):
        load_model(copy)


def test_fast_gradcam_has_the_input_size_and_agrees_with_tf_keras_vis(classifier, xray_paths):
    pixels = read_image_file(xray_paths["viral_pneumonia"][0]).pixels
    analysis = classifier.analyse(pixels)
    size = classifier.input_size
    assert analysis.cam.shape == (size, size) and 0.0 <= analysis.cam.min() and analysis.cam.max() <= 1.0
    reference = SaliencyExplainer(classifier.model, classifier.cam_layer).explain(classifier.model_input(pixels), analysis.top)
    assert np.corrcoef(analysis.cam.ravel(), reference.ravel())[0, 1] > 0.98


@pytest.mark.parametrize("method", list(METHODS))
def test_every_saliency_method_gives_a_unit_range_map_of_the_input_size(classifier, xray_paths, method):
    explainer = SaliencyExplainer(classifier.model, classifier.cam_layer)
    x = classifier.model_input(read_image_file(xray_paths["covid19"][0]).pixels)
    cam = explainer.explain(x, class_index=1, method=method)
    assert cam.shape == x.shape[:2] and cam.min() >= 0.0 and cam.max() <= 1.0 and cam.max() > 0.0


def test_overlay_keeps_the_original_size_and_blends_by_opacity():
    pixels = np.full((50, 80), 100, np.uint8)
    cam = np.zeros((20, 20), np.float32)
    assert overlay(pixels, cam, 0.0).shape == (50, 80, 3)
    np.testing.assert_array_equal(overlay(pixels, cam, 0.0), np.full((50, 80, 3), 100, np.uint8))
    assert not np.array_equal(overlay(pixels, cam, 0.5), overlay(pixels, cam, 0.0))
