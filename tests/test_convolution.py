"""The Kernel Lab's math against the lesson and against Keras itself."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest

from app.errors import InvalidInput, LimitExceeded
from app.geometry import axis
from app.lab.convolution import (
    ConvolutionSettings,
    as_image,
    correlate,
    pool,
    resolve_kernel,
    run,
)

LESSON_IMAGE = [
    [1, 1, 1, 0, 0],
    [0, 1, 1, 1, 0],
    [0, 0, 1, 1, 1],
    [0, 0, 1, 1, 0],
    [0, 1, 1, 0, 0],
]


def test_lesson_example_gives_the_known_3x3_map():
    result = correlate(as_image(LESSON_IMAGE), resolve_kernel("x_filter", 15), 1, "valid")
    np.testing.assert_array_equal(result, [[4, 3, 4], [2, 4, 3], [2, 3, 4]])


def test_lesson_example_max_pooled():
    fmap = correlate(as_image(LESSON_IMAGE), resolve_kernel("x_filter", 15), 1, "same")
    # "same" keeps 5×5; 2×2 windows with stride 2 cover the top-left 4×4.
    np.testing.assert_array_equal(pool(fmap, "max", 2, 2), [[4, 4], [2, 4]])


def keras_conv(image: np.ndarray, kernel: np.ndarray, stride: int, padding: str) -> np.ndarray:
    """Keras Conv2D (one filter, zero bias), or DepthwiseConv2D for a per-channel image."""
    x = image if image.ndim == 3 else image[:, :, None]
    channels = x.shape[2]
    if image.ndim == 2:
        layer = keras.layers.Conv2D(1, kernel.shape, strides=stride, padding=padding, use_bias=False)
        layer.build((1, *x.shape))
        layer.set_weights([kernel[:, :, None, None]])
    else:
        layer = keras.layers.DepthwiseConv2D(
            kernel.shape, strides=stride, padding=padding, use_bias=False
        )
        layer.build((1, *x.shape))
        layer.set_weights([np.repeat(kernel[:, :, None, None], channels, axis=2)])
    out = keras.ops.convert_to_numpy(layer(x[None].astype("float32")))[0]
    return out[:, :, 0] if image.ndim == 2 else out


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_equivalent_to_keras_conv2d(stride, padding):
    rng = np.random.default_rng(1000 + stride * 10 + len(padding))
    for trial in range(6):
        h, w = rng.integers(7, 30, size=2)
        k = int(rng.choice([1, 3, 5, 7]))
        kh, kw = (k, k) if trial % 2 == 0 else (k, int(rng.choice([1, 3, 5])))
        shape = (h, w) if trial < 3 else (h, w, 3)
        image = rng.uniform(-5, 255, size=shape).astype(np.float32)
        kernel = rng.normal(size=(kh, kw)).astype(np.float32)
        ours = correlate(as_image(image), resolve_kernel(kernel.tolist(), 15), stride, padding)
        theirs = keras_conv(image, kernel, stride, padding)
        assert ours.shape == theirs.shape, (shape, kh, kw)
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-2)


def test_same_padding_with_a_kernel_larger_than_the_image():
    image = np.arange(12, dtype=np.float32).reshape(3, 4)
    kernel = np.ones((7, 7), dtype=np.float32)
    for stride in (1, 2):
        ours = correlate(image, kernel, stride, "same")
        np.testing.assert_allclose(ours, keras_conv(image, kernel, stride, "same"), atol=1e-4)


def keras_pool(x: np.ndarray, kind: str, size: int, stride: int) -> np.ndarray:
    cls = keras.layers.MaxPooling2D if kind == "max" else keras.layers.AveragePooling2D
    layer = cls(pool_size=size, strides=stride, padding="valid")
    x3 = x if x.ndim == 3 else x[:, :, None]
    out = keras.ops.convert_to_numpy(layer(x3[None].astype("float32")))[0]
    return out if x.ndim == 3 else out[:, :, 0]


@pytest.mark.parametrize("kind", ["max", "average"])
@pytest.mark.parametrize(("size", "stride"), [(2, 2), (2, 1), (3, 2), (3, 3), (2, 3), (4, 1)])
def test_pooling_equivalent_to_keras(kind, size, stride):
    rng = np.random.default_rng(size * 7 + stride)
    for shape in [(9, 12), (16, 16), (11, 7, 3)]:
        x = rng.normal(size=shape).astype(np.float32)
        np.testing.assert_allclose(pool(x, kind, size, stride), keras_pool(x, kind, size, stride),
                                   rtol=1e-5, atol=1e-5)


def test_run_chains_relu_and_pooling():
    settings = ConvolutionSettings.model_validate(
        {"stride": 1, "padding": "valid", "activation": "relu",
         "pool": {"type": "max", "size": 2, "stride": 2}}
    )
    image = as_image(np.array([[0, 0, 9, 9], [0, 0, 9, 9], [9, 9, 0, 0], [9, 9, 0, 0]]))
    result = run(image, resolve_kernel([[1, 0, -1]] * 3, 15), settings)
    # Left minus right: windows with two dark-left rows go negative, and ReLU clears them.
    np.testing.assert_array_equal(result.feature_map, [[-9, -9], [9, 9]])
    np.testing.assert_array_equal(result.activated, [[0, 0], [9, 9]])
    np.testing.assert_array_equal(result.pooled, [[9]])
    assert result.shapes() == {"input": [4, 4], "kernel": [3, 3], "feature_map": [2, 2],
                               "activated": [2, 2], "pooled": [1, 1]}


def test_output_size_formula_matches_tensorflow_same():
    g = axis(28, 3, 2, "same")
    assert (g.out, g.before, g.after) == (14, 0, 1)
    g = axis(28, 5, 1, "same")
    assert (g.out, g.before, g.after) == (28, 2, 2)
    assert axis(28, 5, 1, "valid").out == 24


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("no_such_kernel", "unknown kernel"),
        ([[1, 2], [3, 4]], "odd"),
        ([[1, 2, 3], [4, 5]], "ragged"),
        ([[1, "a", 3]], "numbers"),
        ([[float("nan")] * 3] * 3, "NaN"),
        ([], "2-D"),
    ],
)
def test_bad_kernels_are_named(value, fragment):
    with pytest.raises(InvalidInput) as err:
        resolve_kernel(value, 15)
    assert err.value.field == "kernel"
    assert fragment in err.value.message


def test_oversized_kernel_names_the_limit():
    with pytest.raises(LimitExceeded, match="limit of 15×15"):
        resolve_kernel(np.ones((17, 17)).tolist(), 15)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ([[1, 2], [3]], "ragged"),
        ([["x", "y"]], "numbers"),
        ([[True, False]], "numbers"),
        ([[1.0, float("inf")]], "NaN or infinite"),
        ([1, 2, 3], "2-D or 3-D"),
        ([[]], "empty"),
    ],
)
def test_bad_images_are_named(value, fragment):
    with pytest.raises(InvalidInput) as err:
        as_image(value)
    assert err.value.field == "image"
    assert fragment in err.value.message


def test_kernel_bigger_than_unpadded_image_is_refused():
    with pytest.raises(InvalidInput, match="does not fit a 2×2 image"):
        correlate(as_image([[1, 2], [3, 4]]), resolve_kernel("identity", 15), 1, "valid")


def test_pool_window_bigger_than_map_is_refused():
    with pytest.raises(InvalidInput, match="does not fit") as err:
        pool(np.zeros((2, 2), np.float32), "max", 3, 3)
    assert err.value.field == "pool.size"
