"""The teaching convolution maths: worked course examples, and agreement with TensorFlow's ops."""
import warnings

import numpy as np
import pytest
import tensorflow as tf

from core.imaging.phantom import chest_phantom
from core.teaching.convolution import (
    ACTIVATIONS,
    COURSE_POOLING_EXAMPLE,
    COURSE_STRIDE_INPUT,
    COURSE_STRIDE_KERNEL,
    COURSE_STRIDE_SLIDE_OUTPUT,
    KERNEL_PRESETS,
    convolution_step,
    convolve2d,
    flatten,
    output_size,
    pad,
    pixel_arithmetic,
    pool2d,
    receptive_field_steps,
    softmax,
    window_centre,
    window_for_pixel,
)

rng = np.random.default_rng(0)


def tf_conv(image: np.ndarray, kernel: np.ndarray, stride: int, padding: int) -> np.ndarray:
    x = np.pad(image, padding)[None, :, :, None].astype(np.float32)
    k = kernel[:, :, None, None].astype(np.float32)
    return tf.nn.conv2d(x, k, strides=stride, padding="VALID").numpy()[0, :, :, 0]


def as_nhwc(x: np.ndarray) -> np.ndarray:
    return x[None, :, :, None].astype(np.float32)


# ----------------------------------------------------------------------------- worked examples

def test_course_stride_example_gives_91_top_left():
    out = convolve2d(COURSE_STRIDE_INPUT, COURSE_STRIDE_KERNEL, stride=2)
    assert out[0, 0] == 91
    # The slide prints 83 and 127 for (0, 2) and (1, 2); the actual window sums are 88 and 117.
    np.testing.assert_array_equal(out, [[91, 100, 88], [69, 91, 117], [44, 72, 74]])


def test_no_single_changed_number_gives_the_slides_83_and_127():
    """The slide's two odd cells are slips in its sums, not another kernel or input: no one-number change yields them."""
    def slide_from(x, k):
        return np.array_equal(convolve2d(x, k, stride=2), COURSE_STRIDE_SLIDE_OUTPUT)

    for grid, other in ((np.array(COURSE_STRIDE_INPUT), np.array(COURSE_STRIDE_KERNEL)),
                        (np.array(COURSE_STRIDE_KERNEL), np.array(COURSE_STRIDE_INPUT))):
        for index in np.ndindex(grid.shape):
            for value in range(-20, 21):
                changed = grid.copy()
                changed[index] = value
                x, k = (changed, other) if grid.shape == (7, 7) else (other, changed)
                assert not slide_from(x, k), (index, value)


def test_course_pooling_example():
    np.testing.assert_array_equal(pool2d(COURSE_POOLING_EXAMPLE, 2, 2, "max"), [[9, 2], [6, 3]])
    np.testing.assert_array_equal(pool2d(COURSE_POOLING_EXAMPLE, 2, 2, "avg"), [[3.75, 1.25], [3.75, 2.0]])


def test_convolve_by_hand_with_padding():
    image = np.arange(1, 10).reshape(3, 3)
    out = convolve2d(image, KERNEL_PRESETS["Identity"], padding=1)
    np.testing.assert_array_equal(out, image)
    # Box-blur corner sees 1, 2, 4, 5 and five padded zeros.
    assert convolve2d(image, np.ones((3, 3)), padding=1)[0, 0] == 12


def test_stepping_through_rebuilds_the_output():
    image, kernel = rng.normal(size=(9, 8)), rng.normal(size=(3, 2))
    expected = convolve2d(image, kernel, stride=2, padding=1)
    padded = pad(image, 1)
    steps = list(receptive_field_steps(image.shape, kernel.shape, stride=2, padding=1))
    assert len(steps) == expected.size
    assert (steps[1].row, steps[1].col, steps[1].top, steps[1].left) == (0, 1, 0, 2)
    for step in steps:
        window, products, total = convolution_step(padded, kernel, step.row, step.col, stride=2)
        np.testing.assert_array_equal(window, padded[step.top:step.top + 3, step.left:step.left + 2])
        np.testing.assert_allclose(products, window * kernel)
        assert total == pytest.approx(expected[step.row, step.col])


def test_course_stride_first_step_shows_the_91():
    window, products, total = convolution_step(COURSE_STRIDE_INPUT, COURSE_STRIDE_KERNEL, 0, 0, stride=2)
    np.testing.assert_array_equal(window, [[2, 3, 7], [6, 6, 9], [3, 4, 8]])
    np.testing.assert_array_equal(products, [[6, 12, 28], [6, 0, 18], [-3, 0, 24]])
    assert total == 91


def test_pixel_arithmetic_of_sobel_x_on_a_ramp():
    """Sobel x on 0, 1, ..., 24: the centre's window, its products and their sum, and a corner where padding adds zeros."""
    image = np.arange(25).reshape(5, 5)
    centre = pixel_arithmetic(image, KERNEL_PRESETS["Sobel x"], 2, 2, padding=1)
    assert centre.position == (2, 2, 2, 2)
    np.testing.assert_array_equal(centre.window, [[6, 7, 8], [11, 12, 13], [16, 17, 18]])
    np.testing.assert_array_equal(centre.products, [[-6, 0, 8], [-22, 0, 26], [-16, 0, 18]])
    assert centre.total == 8

    corner = pixel_arithmetic(image, KERNEL_PRESETS["Sobel x"], 0, 4, padding=1)
    np.testing.assert_array_equal(corner.window, [[0, 0, 0], [3, 4, 0], [8, 9, 0]])
    np.testing.assert_array_equal(corner.products, [[0, 0, 0], [-6, 0, 0], [-8, 0, 0]])
    assert corner.total == -14 == convolve2d(image, KERNEL_PRESETS["Sobel x"], padding=1)[0, 4]


def test_every_pixel_finds_the_output_cell_centred_on_it_or_the_nearest():
    image, kernel = rng.normal(size=(9, 8)), rng.normal(size=(3, 3))
    for stride, padding in ((1, 1), (1, 0), (2, 1), (3, 0)):
        expected = convolve2d(image, kernel, stride, padding)
        centres = [np.arange(n) * stride - padding + 1 for n in expected.shape]  # each window's centre pixel
        for row, col in np.ndindex(image.shape):
            step = pixel_arithmetic(image, kernel, row, col, stride, padding)
            assert step.total == pytest.approx(expected[step.position.row, step.position.col])
            assert window_centre(step.position, kernel.shape, padding) == (centres[0][step.position.row], centres[1][step.position.col])
            for pixel, chosen, all_centres in zip((row, col), step.position[:2], centres, strict=True):
                assert abs(all_centres[chosen] - pixel) == np.abs(all_centres - pixel).min()
    assert window_for_pixel((9, 8), (3, 3), 4, 5, stride=1, padding=1) == (4, 5, 4, 5)  # 'same': pixel and cell agree
    assert window_for_pixel((9, 8), (3, 3), 0, 0, stride=1, padding=0) == (0, 0, 0, 0)  # no window centred on a corner
    assert window_for_pixel((7, 7), (3, 3), 3, 3, stride=2, padding=0) == (1, 1, 2, 2)
    with pytest.raises(ValueError, match="outside an image of 9 pixels"):
        window_for_pixel((9, 8), (3, 3), 9, 0)


def test_flatten_is_row_major():
    np.testing.assert_array_equal(flatten([[1, 2], [3, 4]]), [1, 2, 3, 4])


# ----------------------------------------------------------------------------- agreement with TensorFlow

@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("padding", [0, 1, 2])
@pytest.mark.parametrize("kernel_shape", [(3, 3), (2, 4)])
def test_convolve2d_matches_tf_conv2d(stride, padding, kernel_shape):
    image, kernel = rng.normal(size=(11, 10)), rng.normal(size=kernel_shape)
    ours = convolve2d(image, kernel, stride=stride, padding=padding)
    np.testing.assert_allclose(ours, tf_conv(image, kernel, stride, padding), rtol=1e-5, atol=1e-5)
    assert ours.shape == (
        output_size(11, kernel_shape[0], stride, padding),
        output_size(10, kernel_shape[1], stride, padding),
    )


@pytest.mark.parametrize("name", sorted(KERNEL_PRESETS))
def test_presets_on_phantom_match_tf(name):
    image = chest_phantom(64)
    np.testing.assert_allclose(
        convolve2d(image, KERNEL_PRESETS[name], padding=1),
        tf_conv(image, KERNEL_PRESETS[name], 1, 1), atol=1e-5,
    )


@pytest.mark.parametrize("size,stride", [(2, 2), (3, 1), (3, 2), (2, 3)])
def test_pool2d_matches_tf_max_and_avg_pool2d(size, stride):
    x = rng.normal(size=(10, 9))
    ours_max, ours_avg = pool2d(x, size, stride, "max"), pool2d(x, size, stride, "avg")
    np.testing.assert_allclose(ours_max, tf.nn.max_pool2d(as_nhwc(x), size, stride, "VALID")[0, :, :, 0], atol=1e-6)
    np.testing.assert_allclose(ours_avg, tf.nn.avg_pool2d(as_nhwc(x), size, stride, "VALID")[0, :, :, 0], atol=1e-6)
    assert ours_max.shape == (output_size(10, size, stride), output_size(9, size, stride))


@pytest.mark.parametrize("size,stride", [(2, 2), (3, 1), (3, 2)])  # tf.nn.pool refuses stride > size
@pytest.mark.parametrize("mode,tf_type", [("max", "MAX"), ("avg", "AVG")])
def test_pool2d_matches_tf_nn_pool(size, stride, mode, tf_type):
    x = rng.normal(size=(10, 9))
    expected = tf.nn.pool(as_nhwc(x), (size, size), tf_type, strides=(stride, stride), padding="VALID")
    np.testing.assert_allclose(pool2d(x, size, stride, mode), expected[0, :, :, 0], atol=1e-6)


def test_activations_match_tf():
    x = rng.normal(scale=5, size=(4, 6))
    expected = {"ReLU": tf.nn.relu, "Sigmoid": tf.math.sigmoid, "Tanh": tf.math.tanh, "Softmax": tf.nn.softmax}
    assert set(ACTIVATIONS) == set(expected)
    for name, fn in ACTIVATIONS.items():
        np.testing.assert_allclose(fn(x), expected[name](x).numpy(), rtol=1e-6, atol=1e-12)


def test_softmax_sums_to_one_and_survives_large_scores():
    p = softmax(np.array([[1000.0, 1001.0, 999.0], [-5.0, 0.0, 5.0]]))
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(axis=-1), 1.0)
    assert p[0].argmax() == 1


def test_sigmoid_extremes_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(ACTIVATIONS["Sigmoid"](np.array([-1000.0, 0.0, 1000.0])), [0, 0.5, 1])


# ----------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("kwargs,message", [
    (dict(image=np.ones(5), kernel=np.ones((3, 3))), "2-D"),
    (dict(image=np.ones((5, 5, 3)), kernel=np.ones((3, 3))), "2-D"),
    (dict(image=np.ones((3, 3)), kernel=np.ones((5, 5))), "larger than the padded input"),
    (dict(image=np.ones((5, 5)), kernel=np.ones((3, 3)), stride=0), "stride must be at least 1"),
    (dict(image=np.ones((5, 5)), kernel=np.ones((3, 3)), stride=1.5), "stride must be a whole number"),
    (dict(image=np.ones((5, 5)), kernel=np.ones((3, 3)), padding=-1), "padding must be at least 0"),
])
def test_convolve2d_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        convolve2d(**kwargs)


def test_padding_lets_a_large_kernel_fit():
    assert convolve2d(np.ones((3, 3)), np.ones((5, 5)), padding=1).shape == (1, 1)


def test_output_size():
    assert output_size(7, 3, 2, 0) == 3
    assert output_size(224, 7, 2, 3) == 112
    assert output_size(5, 3, 1, 1) == 5
    with pytest.raises(ValueError, match="does not fit"):
        output_size(3, 5)


@pytest.mark.parametrize("kwargs,message", [
    (dict(x=np.ones((4, 4)), mode="median"), "pooling mode"),
    (dict(x=np.ones(4)), "2-D"),
    (dict(x=np.ones((4, 4)), size=5), "larger than"),
    (dict(x=np.ones((4, 4)), stride=0), "stride"),
])
def test_pool2d_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pool2d(**kwargs)


# ----------------------------------------------------------------------------- presets and phantom

def test_presets_are_3x3_and_read_only():
    for name, kernel in KERNEL_PRESETS.items():
        assert kernel.shape == (3, 3), name
        with pytest.raises(ValueError):
            kernel[0, 0] = 1
    assert KERNEL_PRESETS["Gaussian blur"].sum() == pytest.approx(1)
    np.testing.assert_array_equal(KERNEL_PRESETS["Sharpen"], [[0, -1, 0], [-1, 5, -1], [0, -1, 0]])


def test_chest_phantom_looks_like_a_chest():
    img = chest_phantom(128)
    assert img.shape == (128, 128) and img.min() >= 0 and img.max() <= 1
    np.testing.assert_array_equal(img, chest_phantom(128))
    lung, spine, air = img[60:70, 36:44].mean(), img[60:70, 60:68].mean(), img[0:5, 0:5].mean()
    assert air < lung < spine
    assert chest_phantom(256).shape == (256, 256)
