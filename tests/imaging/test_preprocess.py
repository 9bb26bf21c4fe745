"""Model input: the size, the range, and the per-image intensity normalisation the model card names."""
import numpy as np
import pytest

from core.imaging.preprocess import CLAHE, NO_NORMALISATION, to_model_input


def _dim_film() -> np.ndarray:
    """A low-contrast film: values only between 90 and 130, with a brighter disc in the middle."""
    y, x = np.mgrid[:300, :260]
    return (90 + 40 * (np.hypot(y - 150, x - 130) < 60)).astype(np.uint8)


def test_model_input_is_a_square_three_channel_float_image_in_0_255():
    x = to_model_input(_dim_film(), 64)
    assert x.shape == (64, 64, 3) and x.dtype == np.float32
    assert np.array_equal(x[..., 0], x[..., 2]) and 90 <= x.min() and x.max() <= 130


def test_clahe_stretches_a_dim_films_contrast_and_keeps_what_is_brighter():
    plain, equalised = to_model_input(_dim_film(), 128, NO_NORMALISATION), to_model_input(_dim_film(), 128, CLAHE)
    assert np.ptp(equalised[..., 0]) >= 1.4 * np.ptp(plain[..., 0])
    assert equalised[64, 64, 0] > equalised[5, 5, 0]  # the disc stays brighter than the background


def test_an_unknown_normalisation_is_refused_by_name():
    with pytest.raises(ValueError, match="histogram"):
        to_model_input(_dim_film(), 32, "histogram")


def test_the_classifier_normalises_as_its_card_says(classifier):
    assert classifier.intensity == classifier.card.intensity
    assert np.array_equal(classifier.model_input(_dim_film()), to_model_input(_dim_film(), classifier.input_size, classifier.intensity))
