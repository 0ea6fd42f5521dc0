"""Window geometry (app/geometry.py) against Keras' own shape rules, and the browser's
convolution (static/js/lab-engine.js) against vectors Python writes from that geometry and
Keras' layers: the same maps, the same output sizes and padding, the same formula."""

from __future__ import annotations

import itertools
import json

import keras
import numpy as np
import pytest
from keras.src.ops.operation_utils import compute_conv_output_shape, compute_pooling_output_shape

from app.geometry import FORMULAS, axis, out_size
from tests.conftest import ROOT

ENGINE = ROOT / "static" / "js" / "lab-engine.js"


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_output_sizes_are_keras_own(padding):
    for n, k, s, d in itertools.product(range(1, 14), range(1, 6), range(1, 5), range(1, 3)):
        span = (k - 1) * d + 1
        if padding == "valid" and span > n:
            assert out_size(n, k, s, padding, d) <= 0
            continue
        keras_shape = compute_conv_output_shape((1, n, n, 1), 1, (k, k), strides=s,
                                                padding=padding, dilation_rate=d)
        assert out_size(n, k, s, padding, d) == keras_shape[1], (n, k, s, d)
        if d == 1:
            pooled = compute_pooling_output_shape((1, n, n, 1), (k, k), (s, s), padding)
            assert out_size(n, k, s, padding) == pooled[1], (n, k, s)


def test_same_padding_puts_the_odd_zero_after_and_windows_cover_what_they_read():
    a = axis(6, 4, 1, "same")  # 3 zeros in all: one before, two after (TensorFlow's rule)
    assert (a.before, a.after, a.out) == (1, 2, 6)
    assert a.positions(0).tolist() == [-1, 0, 1, 2] and a.covered(0, 0) == (0, 2)
    b = axis(7, 3, 2, "same", d=2)  # dilation 2: taps two apart, a span of 5
    assert (b.span, b.out, b.before, b.after) == (5, 4, 2, 2)
    assert b.positions(3).tolist() == [4, 6, 8] and b.covered(2, 3) == (2, 6)
    assert axis(5, 3).formula() == "⌊(n + 2p − k) / s⌋ + 1 = ⌊(5 + 2·0 − 3) / 1⌋ + 1 = 3"
    assert axis(5, 2, 2, "same").formula("same") == (
        "⌊(n + p₁ + p₂ − k) / s⌋ + 1 = ⌊(5 + 0 + 1 − 2) / 2⌋ + 1 = 3")


CASES = [  # (height, width, kernel, stride, padding, pool type, pool size, pool stride)
    (5, 5, 3, 1, "valid", "max", 2, 1),
    (9, 7, 3, 2, "same", "average", 2, 2),
    (12, 10, 5, 3, "same", "max", 3, 1),
    (8, 11, 4, 1, "same", None, 0, 0),
    (16, 16, 7, 2, "valid", "average", 2, 1),
    (6, 9, 3, 3, "valid", None, 0, 0),
]


def vectors() -> list[dict]:
    """Each case: an image and a kernel, and what Keras makes of them (Conv2D without bias,
    ReLU, then the pooling layer), with the geometry and the formula for each axis."""
    rng = np.random.default_rng(11)
    out = []
    for h, w, k, s, padding, pool, size, pool_stride in CASES:
        image = rng.normal(0, 1, (h, w)).astype(np.float32)
        kernel = rng.normal(0, 1, (k, k)).astype(np.float32)
        conv = keras.layers.Conv2D(1, k, strides=s, padding=padding, use_bias=False)
        conv.build((1, h, w, 1))
        conv.set_weights([kernel[:, :, None, None]])
        fmap = np.asarray(conv(image[None, :, :, None]))[0, :, :, 0]
        activated = np.maximum(fmap, 0)
        vector = {"h": h, "w": w, "image": image.ravel().tolist(), "k": k,
                  "kernel": kernel.ravel().tolist(),
                  "settings": {"stride": s, "padding": padding, "relu": True,
                               "pool": {"type": pool, "size": size, "stride": pool_stride}
                               if pool else None},
                  "feature_map": fmap.ravel().tolist(), "shape": list(fmap.shape),
                  "axes": [vars(axis(n, k, s, padding)) | {"out": axis(n, k, s, padding).out}
                           for n in (h, w)],
                  "formulas": [axis(n, k, s, padding).formula(padding) for n in (h, w)]}
        if pool:
            layer = {"max": keras.layers.MaxPooling2D, "average": keras.layers.AveragePooling2D}
            pooled = np.asarray(layer[pool](size, strides=pool_stride)(activated[None, :, :, None]))
            vector["pooled"] = pooled[0, :, :, 0].ravel().tolist()
            vector["pooled_shape"] = list(pooled.shape[1:3])
        out.append(vector)
    return out


RUN_VECTORS = """([vectors, formulas]) => {
  const E = window.CnnpgLabEngine;
  return vectors.map(v => {
    const out = E.run([Float32Array.from(v.image)], v.h, v.w,
                      {data: Float32Array.from(v.kernel), h: v.k, w: v.k}, v.settings);
    const g = out.geometry.map(a => ({n: a.n, k: a.k, s: a.s, before: a.before, after: a.after,
                                       out: a.out}));
    const pooled = out.pooled ? out.pooled[0] : null;
    return {feature_map: Array.from(out.feature_map[0].data),
            shape: [out.feature_map[0].h, out.feature_map[0].w], axes: g,
            formulas: g.map(a => E.formula(formulas[v.settings.padding], a)),
            pooled: pooled ? Array.from(pooled.data) : null,
            pooled_shape: pooled ? [pooled.h, pooled.w] : null};
  });
}"""


@pytest.mark.browser
def test_the_browsers_convolution_is_keras_and_the_geometry(browser):
    expected = vectors()
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_content("<!doctype html><title>lab engine</title>")
    page.add_script_tag(content=ENGINE.read_text())
    got = page.evaluate(RUN_VECTORS, [expected, FORMULAS])
    context.close()
    assert not errors, errors
    for want, have in zip(expected, got, strict=True):
        assert have["shape"] == want["shape"]
        np.testing.assert_allclose(have["feature_map"], want["feature_map"], rtol=1e-5, atol=1e-5)
        for a, b in zip(have["axes"], want["axes"], strict=True):
            assert {k: a[k] for k in ("n", "k", "s", "before", "after", "out")} == {
                k: b[k] for k in ("n", "k", "s", "before", "after", "out")}
        assert have["formulas"] == want["formulas"]
        if "pooled" in want:
            assert have["pooled_shape"] == want["pooled_shape"]
            np.testing.assert_allclose(have["pooled"], want["pooled"], rtol=1e-5, atol=1e-5)
        else:
            assert have["pooled"] is None
    json.dumps(expected)  # the vectors are plain data: what the page is sent
