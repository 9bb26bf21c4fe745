"""Display aids change what is shown, never what the model reads."""
import numpy as np
import pytest

from core.imaging.decode import apply_window, decode_image
from core.imaging.viewing import (
    BONE,
    DISPLAY_MAX_SIDE,
    FILE_WINDOW,
    FULL_RANGE,
    LUNGS,
    display_pixels,
    enhance_contrast,
    fit_for_display,
    invert,
    preset_window,
)
from tests.support.files import dicom_bytes

RAMP = np.tile(np.linspace(0, 4095, 400).astype(np.uint16), (300, 1))


def dicom(stored: np.ndarray, photometric: str) -> bytes:
    return dicom_bytes(stored, photometric, 12, WindowCenter=2048, WindowWidth=4096)


def test_clahe_raises_local_contrast_of_a_flat_image():
    rng = np.random.default_rng(0)
    dull = (120 + rng.integers(0, 8, (256, 256))).astype(np.uint8)
    enhanced = enhance_contrast(dull)
    assert enhanced.dtype == np.uint8 and enhanced.shape == dull.shape and enhanced.std() > 2 * dull.std()


def test_invert_and_downscale():
    image = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert (invert(image) == 255 - image).all()
    big = np.zeros((3000, 1500), dtype=np.uint8)
    assert fit_for_display(big).shape == (DISPLAY_MAX_SIDE, DISPLAY_MAX_SIDE // 2)
    assert fit_for_display(image) is image


def test_display_aids_leave_the_model_pixels_untouched():
    decoded = decode_image(dicom(RAMP, "MONOCHROME2"), "ramp.dcm")
    before = decoded.pixels.copy()
    shown = display_pixels(decoded, preset_window(decoded, LUNGS), clahe=True, inverted=True)
    assert not np.array_equal(shown, before)
    np.testing.assert_array_equal(decoded.pixels, before)


def test_window_presets():
    decoded = decode_image(dicom(RAMP, "MONOCHROME2"), "ramp.dcm")
    assert preset_window(decoded, FILE_WINDOW) == decoded.window
    np.testing.assert_array_equal(display_pixels(decoded, preset_window(decoded, FULL_RANGE)),
                                  apply_window(RAMP.astype(np.float32), 2048, 4096))
    lungs, bone = (display_pixels(decoded, preset_window(decoded, preset)) for preset in (LUNGS, BONE))
    dark, bright = RAMP < 1000, RAMP > 3000
    assert lungs[dark].std() > bone[dark].std() and bone[bright].std() > lungs[bright].std()


@pytest.mark.parametrize("preset", [LUNGS, BONE])
def test_monochrome1_presets_spread_the_same_anatomy(preset):
    """MONOCHROME1 stores the lungs as high values; each preset still picks the same shown region."""
    mono2 = decode_image(dicom(RAMP, "MONOCHROME2"), "m2.dcm")
    mono1 = decode_image(dicom(4095 - RAMP, "MONOCHROME1"), "m1.dcm")
    shown2 = display_pixels(mono2, preset_window(mono2, preset)).astype(int)
    shown1 = display_pixels(mono1, preset_window(mono1, preset)).astype(int)
    assert np.abs(shown1 - shown2).max() <= 2
