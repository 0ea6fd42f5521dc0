"""The embedding map: test images placed in 2-D from one layer's activations, so that the
images the network sees alike lie together.

t-SNE by default (scikit-learn's Barnes-Hut, perplexity 30, started from PCA): it keeps
each image's nearest neighbours near, so a network that separates classes shows them as
separate clusters (5-nearest-neighbour accuracy of the shipped model's map about 0.99,
where PCA's straight projection mixes them: about 0.86). PCA is there for what it shows
instead: how far apart classes are along straight directions. UMAP would need numba and
compiles for tens of seconds the first time; t-SNE on 2,000 images takes a few seconds.

t-SNE runs on one OpenMP thread: on this two-core server, with requests beside it, more
threads spin and wait for each other (five times slower under load, measured).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from app.imaging.rendering import png_bytes
from app.networks.explain.graph import Node
from app.networks.insight import pictures
from app.networks.insight.cache import InsightCache, Progress
from app.networks.insight.testsplit import TestSplit
from app.networks.ranges import to_model
from app.networks.runtime import traced

if TYPE_CHECKING:
    from app.networks.inference import LoadedModel

Method = Literal["tsne", "pca"]
METHODS: tuple[Method, ...] = ("tsne", "pca")
MAX_COUNT = 2000
MAX_FEATURES = 8192  # larger maps are summarised by each channel's mean over the map
PCA_DIMS = 50  # t-SNE reads the first 50 principal components (its authors' advice)
BATCH = 500
SEED = 0


@dataclass
class Embedding:
    layer: str
    method: Method
    features: str  # what was placed: "values" or "channel means"
    x: np.ndarray  # (N,) in 0–1 (both axes on one scale)
    y: np.ndarray
    labels: np.ndarray
    predictions: np.ndarray


def _features_function(loaded: LoadedModel, node: Node) -> Any:
    import keras
    import tensorflow as tf

    model = loaded.model
    both = keras.Model(model.inputs[0], [node.layer.output, model.outputs[0]])
    h, w, c = loaded.info.input_shape
    summarise = int(np.prod(node.shape)) > MAX_FEATURES and len(node.shape) == 3

    def features(x: Any) -> Any:
        out, probs = both(x, training=False)
        out = tf.reduce_mean(out, axis=[1, 2]) if summarise else tf.reshape(out, [tf.shape(out)[0], -1])
        return out, tf.argmax(probs, axis=-1, output_type=tf.int32)

    fn = traced(features, tf.TensorSpec([None, h, w, c], tf.float32))
    return fn, ("channel means" if summarise else "values")


def activations(loaded: LoadedModel, node: Node, split: TestSplit, count: int,
                cache: InsightCache, progress: Progress) -> tuple[np.ndarray, np.ndarray, str]:
    import tensorflow as tf

    fn, what = cache.function(("features", node.name), lambda: _features_function(loaded, node))
    feats, preds = [], []
    for start in range(0, count, BATCH):
        progress.step("activations", start, count)
        x = to_model(np.asarray(split.x[start:min(count, start + BATCH)], np.float32), loaded.info)
        f, p = fn(tf.constant(x))
        feats.append(f.numpy().astype(np.float32))
        preds.append(p.numpy())
    return np.concatenate(feats), np.concatenate(preds), what


def place(features: np.ndarray, method: Method) -> np.ndarray:
    """(N, D) → (N, 2)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    n, d = features.shape
    if n < 3 or d == 1 or not np.isfinite(features).all() or float(features.std()) == 0:
        return np.column_stack([features[:, 0] if d else np.zeros(n), np.zeros(n)])
    with threadpool_limits(limits=1):
        if method == "pca" or n < 8:
            return PCA(2, random_state=SEED).fit_transform(features)
        reduced = features
        if d > PCA_DIMS and n > PCA_DIMS:
            reduced = PCA(PCA_DIMS, random_state=SEED).fit_transform(features)
        return TSNE(2, perplexity=min(30.0, (n - 1) / 3), init="pca", learning_rate="auto",
                    max_iter=500, random_state=SEED, n_jobs=1).fit_transform(reduced)


def unit_square(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both axes moved into 0–1 on one scale (the map keeps its shape)."""
    lo = points.min(axis=0)
    span = float((points.max(axis=0) - lo).max()) or 1.0
    out = (points - lo) / span
    return out[:, 0], out[:, 1]


def embed(loaded: LoadedModel, node: Node, method: Method, split: TestSplit, count: int,
          cache: InsightCache, progress: Progress) -> Embedding:
    count = min(count, len(split))
    feats, preds, what = activations(loaded, node, split, count, cache, progress)
    progress.step(f"placing {count:,} images ({'t-SNE' if method == 'tsne' else 'PCA'})",
                  count, count)
    x, y = unit_square(place(feats, method).astype(np.float64))
    return Embedding(node.name, method, what, x, y, np.asarray(split.y[:count]), preds)


def embedding(loaded: LoadedModel, node: Node, method: Method, split: TestSplit, count: int,
              cache: InsightCache) -> Embedding:
    """Made once per model, layer, method and count."""
    return cache.compute(embedding_key(node.name, method, split, count),
                         lambda p: embed(loaded, node, method, split, count, cache, p))


def embedding_key(layer: str, method: Method, split: TestSplit, count: int) -> tuple[Any, ...]:
    return ("embedding", layer, method, split.dataset, min(count, len(split)))


def sprite_columns(count: int) -> int:
    return max(1, math.ceil(math.sqrt(count)))


def sprite(split: TestSplit, count: int, cache: InsightCache) -> bytes:
    """The first `count` test images as one PNG, in rows of `sprite_columns(count)`."""
    count = min(count, len(split))
    return cache.compute(("sprite", split.dataset, count), lambda _: png_bytes(
        pictures.sprite(np.asarray(split.x[:count]), sprite_columns(count))))
