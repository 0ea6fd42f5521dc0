"""Feature visualization: an input made by gradient ascent on one channel's mean
activation, so that the channel fires on it more than on any test image.

Plain gradient ascent on pixels finds high-frequency noise that excites the channel but
shows nothing a person can read (every pixel moves on its own). The image is therefore
made in a decorrelated Fourier basis scaled by 1/frequency (Olah et al., "Feature
Visualization", Distill 2017): low frequencies move freely and high ones slowly, a
frequency penalty built into the parameters that costs nothing per step, and it is
jittered (shifted by a pixel or two, at random) at every step, so that no pattern that
depends on an exact pixel position survives. A sigmoid keeps the pixels in 0–1; the
result is rounded to whole 0–255 levels (what a client sends), and its activation is
measured on exactly that image.

Everything is seeded: the same model, layer and channel give the same picture. A layer's
channels are made together, a few per batch, each from its own seeded start, so that one
channel made alone or with its layer starts from the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from app.networks.explain.graph import Node
from app.networks.insight.cache import InsightCache, Progress
from app.networks.ranges import RANGES
from app.networks.runtime import traced

if TYPE_CHECKING:
    from app.networks.inference import LoadedModel

SEED = 20261122
STEPS = 160
LEARNING_RATE = 0.05
STARTS = 8  # random starts tried per channel; the one it fires on most is ascended
START_SD = 1.0  # high-contrast noise: on a grey start most ReLU channels are 0, gradient too
CHUNK = 8  # channels made together (an atlas reports its progress chunk by chunk)
ATLAS_MAX = 128  # an atlas shows a layer's first 128 channels (MobileNet's have 1,280)


@dataclass
class Visualization:
    channel: int
    pixels: np.ndarray  # (H, W, C) whole numbers 0–255
    activation: float  # the channel's mean activation on `pixels` / 255
    peak: float  # and its largest


def _scale(h: int, w: int) -> np.ndarray:
    """1/frequency for each coefficient of an H×W real FFT (Lucid's fft_image)."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    freqs = np.sqrt(fx * fx + fy * fy)
    return (1.0 / np.maximum(freqs, 1.0 / max(h, w)) * np.sqrt(h * w)).astype(np.float32)


def _ascent_function(loaded: LoadedModel, node: Node) -> Any:
    """(spectrum parameters, one-hot channels, shift) → (their gradient, each channel's
    mean activation), traced once per model and layer."""
    import keras
    import tensorflow as tf

    sub = keras.Model(loaded.model.inputs[0], node.layer.output)
    h, w, c = loaded.info.input_shape
    scale = tf.constant(_scale(h, w))
    lo, hi = RANGES.get(loaded.info.input_range, (0.0, 1.0))

    def image(params: Any) -> Any:
        spectrum = tf.complex(params[..., 0], params[..., 1]) * tf.cast(scale, tf.complex64)
        spatial = tf.signal.irfft2d(spectrum, fft_length=[h, w])  # (B, C, H, W)
        return tf.sigmoid(tf.transpose(spatial, [0, 2, 3, 1]) / 4.0)

    def ascent(params: Any, onehot: Any, shift: Any) -> Any:
        with tf.GradientTape() as tape:
            tape.watch(params)
            x = tf.roll(image(params), shift, axis=[1, 2])
            out = sub(x * (hi - lo) + lo, training=False)
            score = tf.reduce_sum(tf.reduce_mean(out, axis=[1, 2]) * onehot, axis=1)
            total = tf.reduce_sum(score)
        return tape.gradient(total, params), score, image(params)

    spec = [tf.TensorSpec([None, c, h, w // 2 + 1, 2], tf.float32),
            tf.TensorSpec([None, node.shape[-1]], tf.float32), tf.TensorSpec([2], tf.int32)]
    return traced(ascent, *spec)


def _measure_function(loaded: LoadedModel, node: Node) -> Any:
    import keras
    import tensorflow as tf

    sub = keras.Model(loaded.model.inputs[0], node.layer.output)
    h, w, c = loaded.info.input_shape
    lo, hi = RANGES.get(loaded.info.input_range, (0.0, 1.0))

    def measure(x01: Any) -> Any:
        out = sub(x01 * (hi - lo) + lo, training=False)
        return tf.reduce_mean(out, axis=[1, 2]), tf.reduce_max(out, axis=[1, 2])

    return traced(measure, tf.TensorSpec([None, h, w, c], tf.float32))


def _start(ascent: Any, channels: list[int], onehot: np.ndarray,
           shape: tuple[int, ...]) -> np.ndarray:
    """For each channel, the seeded random start (of STARTS) that excites it most."""
    import tensorflow as tf

    tries = np.stack([np.random.default_rng([SEED, ch, j]).normal(0, START_SD, shape)
                      for ch in channels for j in range(STARTS)]).astype(np.float32)
    _, score, _ = ascent(tf.constant(tries), tf.constant(np.repeat(onehot, STARTS, axis=0)),
                         tf.constant([0, 0], tf.int32))
    best = score.numpy().reshape(len(channels), STARTS).argmax(axis=1)
    return tries.reshape(len(channels), STARTS, *shape)[np.arange(len(channels)), best]


def visualize(loaded: LoadedModel, node: Node, channels: list[int], cache: InsightCache,
              progress: Progress | None = None, steps: int = STEPS) -> list[Visualization]:
    """The visualizations of `channels` of `node`, made together."""
    import tensorflow as tf

    h, w, c = loaded.info.input_shape
    ascent = cache.function(("ascent", node.name), lambda: _ascent_function(loaded, node))
    measure = cache.function(("measure", node.name), lambda: _measure_function(loaded, node))
    onehot = np.zeros((len(channels), node.shape[-1]), np.float32)
    onehot[np.arange(len(channels)), channels] = 1
    params = _start(ascent, channels, onehot, (c, h, w // 2 + 1, 2))
    jitter = max(1, min(h, w) // 14)
    shifts = np.random.default_rng(SEED).integers(-jitter, jitter + 1, (steps, 2)).astype(np.int32)
    m, v = np.zeros_like(params), np.zeros_like(params)
    b1, b2 = 0.9, 0.999
    image = None
    for t in range(1, steps + 1):  # Adam, ascending
        if progress is not None:
            progress.done += len(channels)
        g, _, image = ascent(tf.constant(params), tf.constant(onehot), tf.constant(shifts[t - 1]))
        g = g.numpy()
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        params += LEARNING_RATE * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + 1e-8)
    _, _, image = ascent(tf.constant(params), tf.constant(onehot), tf.constant([0, 0], tf.int32))
    pixels = np.clip(np.rint(image.numpy() * 255), 0, 255).astype(np.float32)
    mean, peak = (t.numpy() for t in measure(tf.constant(pixels / 255)))
    return [Visualization(ch, pixels[i], float(mean[i, ch]), float(peak[i, ch]))
            for i, ch in enumerate(channels)]


def visualization(loaded: LoadedModel, node: Node, channel: int,
                  cache: InsightCache) -> Visualization:
    """One channel's visualization, made once per model, layer and channel."""
    key = ("visualization", node.name, channel)
    return cache.compute(key, lambda progress: _one(loaded, node, channel, cache, progress))


def _one(loaded: LoadedModel, node: Node, channel: int, cache: InsightCache,
         progress: Progress) -> Visualization:
    progress.step(f"channel {channel}: gradient ascent", 0, STEPS)
    return visualize(loaded, node, [channel], cache, progress)[0]


def _made(vis: Visualization) -> Any:
    return lambda _: vis


def atlas(loaded: LoadedModel, node: Node, cache: InsightCache,
          progress: Progress) -> list[Visualization]:
    """The layer's channels (the first ATLAS_MAX), CHUNK at a time; channels already made
    are reused."""
    n = min(node.shape[-1], ATLAS_MAX)
    progress.step(f"{node.name}: {n} channels", 0, n * STEPS)
    found: dict[int, Visualization] = {}
    missing = []
    for ch in range(n):
        made = cache.get(("visualization", node.name, ch))
        if made is not None:
            found[ch] = made
            progress.done += STEPS
        else:
            missing.append(ch)
    for start in range(0, len(missing), CHUNK):
        for vis in visualize(loaded, node, missing[start:start + CHUNK], cache, progress):
            found[vis.channel] = vis
            cache.compute(("visualization", node.name, vis.channel), _made(vis))
    return [found[ch] for ch in range(n)]
