"""The per-image caution when a heatmap lies mostly outside the lungs or peaks on a border."""
import numpy as np

from core.serving.lung_focus import looked_outside_lungs


def blob(row: float, column: float, size: int = 224, width: float = 0.08) -> np.ndarray:
    """A map with one bump centred at (row, column), as shares of the image's height and width."""
    y, x = np.mgrid[0:size, 0:size] / size
    return np.exp(-((y - row) ** 2 + (x - column) ** 2) / (2 * width ** 2))


def test_a_map_on_the_lungs_gets_no_caution():
    assert not looked_outside_lungs(blob(0.45, 0.35) + blob(0.45, 0.65))


def test_a_map_on_a_corner_label_gets_the_caution():
    assert looked_outside_lungs(blob(0.04, 0.05))


def test_a_map_peaking_on_a_border_gets_the_caution_even_with_some_mass_inside():
    assert looked_outside_lungs(0.3 * blob(0.5, 0.5, width=0.3) + blob(0.5, 0.03, width=0.03))
