"""Dataset examples: the test images on which one channel's largest activation is
highest, with where that maximum is and the receptive field it sees.

One pass of the whole test split through the network up to the layer gives every channel
of that layer at once: each image's maximum and its place, reduced inside the traced
function so that only two numbers per image and channel leave TensorFlow. That pass is
kept per model and layer (cache.py); a channel's examples are then a partial sort.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from app.networks.explain.graph import Graph, Node
from app.networks.insight import pictures
from app.networks.insight.cache import InsightCache, Progress
from app.networks.insight.testsplit import TestSplit
from app.networks.ranges import to_model
from app.networks.runtime import traced

if TYPE_CHECKING:
    from app.networks.inference import LoadedModel

BATCH = 500


@dataclass(frozen=True)
class LayerMaxima:
    """Per test image and channel: the largest activation, its flat place (row·W + col),
    and the mean (what a visualization is made to raise, to compare it with)."""

    values: np.ndarray  # (N, C) float32
    places: np.ndarray  # (N, C) int32
    means: np.ndarray  # (N, C) float32


@dataclass
class Example:
    index: int
    label: int
    activation: float
    cell: tuple[int, int]
    rows: list[int]  # the receptive field on the model's input, [first, last]
    cols: list[int]
    patch: str  # the image with its field outlined, a PNG data URL


def _maxima_function(loaded: LoadedModel, node: Node) -> Any:
    import keras
    import tensorflow as tf

    sub = keras.Model(loaded.model.inputs[0], node.layer.output)
    h, w, c = loaded.info.input_shape

    def maxima(x: Any) -> Any:
        out = sub(x, training=False)
        flat = tf.reshape(out, [tf.shape(out)[0], -1, out.shape[-1]])
        return (tf.reduce_max(flat, axis=1), tf.argmax(flat, axis=1, output_type=tf.int32),
                tf.reduce_mean(flat, axis=1))

    return traced(maxima, tf.TensorSpec([None, h, w, c], tf.float32))


def layer_maxima(loaded: LoadedModel, node: Node, split: TestSplit, cache: InsightCache,
                 progress: Progress) -> LayerMaxima:
    """Every test image through the network once, up to `node`."""
    import tensorflow as tf

    fn = cache.function(("maxima", node.name), lambda: _maxima_function(loaded, node))
    n = len(split)
    values = np.empty((n, node.shape[-1]), np.float32)
    places = np.empty((n, node.shape[-1]), np.int32)
    means = np.empty((n, node.shape[-1]), np.float32)
    for start in range(0, n, BATCH):
        progress.step(f"{node.name} on the test images", start, n)
        x = to_model(np.asarray(split.x[start:start + BATCH], np.float32), loaded.info)
        v, p, m = fn(tf.constant(x))
        part = slice(start, start + len(x))
        values[part], places[part], means[part] = v.numpy(), p.numpy(), m.numpy()
    progress.step(f"{node.name} on the test images", n, n)
    return LayerMaxima(values, places, means)


def maxima_of(loaded: LoadedModel, node: Node, split: TestSplit, cache: InsightCache) -> LayerMaxima:
    """The layer's maxima over the test split: computed once per model, layer and dataset."""
    return cache.compute(("maxima", node.name, split.dataset, len(split)),
                         lambda progress: layer_maxima(loaded, node, split, cache, progress))


def top(maxima: LayerMaxima, channel: int, k: int) -> np.ndarray:
    """The indices of the k images with the highest maximum, highest first (ties: the
    lower index first)."""
    column = maxima.values[:, channel]
    k = min(k, len(column))
    part = np.argpartition(-column, k - 1)[:k] if k < len(column) else np.arange(len(column))
    return part[np.lexsort((part, -column[part]))]


def examples(graph: Graph, node: Node, channel: int, k: int, maxima: LayerMaxima,
             split: TestSplit) -> list[Example]:
    """A channel's k examples, with each maximum's cell and its receptive field outlined."""
    w = node.shape[1]
    found = []
    for i in top(maxima, channel, k).tolist():
        r, c = divmod(int(maxima.places[i, channel]), w)
        field = graph.input_field(node.index, (r, r, c, c))
        found.append(Example(int(i), int(split.y[i]), float(maxima.values[i, channel]), (r, c),
                             field.rows, field.cols,
                             pictures.outlined_url(split.x[i], field.rows, field.cols)))
    return found
