"""Augmentation: burned-in labels are reproducible, visible and confined to a corner; restyling keeps the film."""
import numpy as np

from core.data.augment import imitate_another_source, with_burned_in_labels
from core.imaging.phantom import chest_phantom


def _phantoms(count: int, size: int = 224) -> np.ndarray:
    grey = np.round(chest_phantom(size) * 120).astype(np.float32)  # whole grey levels, as decoded pixels are; darker than any marker
    return np.repeat(np.repeat(grey[None, :, :, None], 3, axis=3), count, axis=0)


def test_labels_are_reproducible_for_a_seed_and_differ_between_seeds():
    images = _phantoms(6)
    np.testing.assert_array_equal(with_burned_in_labels(images, 3), with_burned_in_labels(images, 3))
    assert not np.array_equal(with_burned_in_labels(images, 3), with_burned_in_labels(images, 4))


def test_each_image_gets_bright_text_in_a_top_or_bottom_band_and_keeps_its_shape_and_range():
    images = _phantoms(8)
    stamped = with_burned_in_labels(images, 0)
    assert stamped.shape == images.shape and stamped.dtype == images.dtype
    assert stamped.min() >= 0 and stamped.max() <= 255
    for before, after in zip(images, stamped, strict=True):
        changed = np.argwhere(np.any(before != after, axis=2))
        assert len(changed) > 20 and after.max() >= 200  # a bright marker was drawn
        rows = changed[:, 0]
        assert rows.max() < 224 // 4 or rows.min() >= 224 * 3 // 4  # a band at the edge, never over the lungs


def test_restyling_keeps_the_film_size_changes_its_look_and_repeats_for_a_seed():
    film = np.tile(np.linspace(0, 255, 200, dtype=np.uint8), (180, 1))
    first = imitate_another_source(film, np.random.default_rng(3))
    assert first.shape == film.shape and first.dtype == np.uint8
    assert np.abs(first.astype(int) - film).mean() > 2  # a visibly different rendering of the same film
    assert np.corrcoef(first.ravel(), film.ravel())[0, 1] > 0.8  # still the same anatomy
    assert np.array_equal(first, imitate_another_source(film, np.random.default_rng(3)))
