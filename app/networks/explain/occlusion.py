"""Occlusion (Zeiler and Fergus, 2014): which parts of the input the class score needs,
found by covering them. A grey square (mid-grey: the pixel range's middle) is slid over
the input; each pixel's heat is the mean drop of the class score (before the softmax,
as Grad-CAM reads it) over the placements that cover it, clipped at 0 and scaled so the
largest is 1. No gradient is involved, so it also shows what gradients miss (a saturated
ReLU), at the cost of one forward pass per placement, all in batches.
"""

from __future__ import annotations

import math
import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

from app.errors import InvalidInput
from app.networks.explain.saliency import score_source
from app.networks.ranges import to_model
from app.networks.runtime import traced

if TYPE_CHECKING:
    from app.networks.explain.explainer import Explainer

MAX_PLACEMENTS = 1024
BATCH = 128
GREY = 0.5  # in 0–1, moved to the model's range

_SCORES: weakref.WeakKeyDictionary[Explainer, Any] = weakref.WeakKeyDictionary()


def geometry(shape: tuple[int, ...], patch: int | None, stride: int | None) -> tuple[int, int]:
    """The patch side and stride in pixels: given, or a quarter of the input's shorter side
    and a third of that."""
    side = min(shape[0], shape[1])
    p = patch if patch is not None else max(1, round(side / 4))
    if not 1 <= p <= side:
        raise InvalidInput("patch", f"{p} pixels does not fit the {shape[0]}×{shape[1]} input "
                           f"(1 to {side})")
    s = stride if stride is not None else max(1, p // 3)
    if s < 1:
        raise InvalidInput("stride", "must be at least 1 pixel")
    if len(starts(shape[0], p, s)) * len(starts(shape[1], p, s)) > MAX_PLACEMENTS:
        raise InvalidInput("stride", f"{s} pixels places the {p}-pixel patch more than "
                           f"{MAX_PLACEMENTS} times on a {shape[0]}×{shape[1]} input: use a "
                           f"stride of at least {math.ceil((side - p + 1) / 32)}")
    return p, s


def starts(n: int, patch: int, stride: int) -> list[int]:
    """Where the patch starts along one side: every `stride`, and flush with the far edge."""
    found = list(range(0, n - patch + 1, stride))
    if found[-1] != n - patch:
        found.append(n - patch)
    return found


def _scores_function(ex: Explainer) -> Any:
    found = _SCORES.get(ex)
    if found is not None:
        return found
    import keras
    import tensorflow as tf

    from app.networks.inference import KERAS_LOCK

    with KERAS_LOCK:
        src, kernel, bias = score_source(ex)
        inputs = ex.keras_input
        score = ex.nodes[src].layer.output if src else inputs
        sub = keras.Model(inputs, score)
        k = tf.constant(kernel) if kernel is not None else None
        b = tf.constant(bias) if bias is not None else None

        def scores(x: Any) -> Any:
            z = sub(x, training=False)
            z = tf.reshape(z, [tf.shape(z)[0], -1])
            return tf.matmul(z, k) + b if k is not None else z

        found = traced(scores, tf.TensorSpec([None, *ex.input_shape], tf.float32))
        _SCORES[ex] = found
    return found


def heatmap(ex: Explainer, x: np.ndarray, cls: int, patch: int, stride: int) -> np.ndarray:
    """The occlusion heatmap (H×W in [0, 1]) of class `cls` for the input x (model range)."""
    import tensorflow as tf

    fn = _scores_function(ex)
    h, w = x.shape[:2]
    grey = to_model(np.full((1, 1, x.shape[2]), GREY, np.float32), ex.info)
    places = [(r, c) for r in starts(h, patch, stride) for c in starts(w, patch, stride)]
    base = float(fn(tf.constant(x[None], tf.float32)).numpy()[0, cls])
    drops = np.empty(len(places), np.float64)
    for i in range(0, len(places), BATCH):
        batch = np.repeat(x[None], len(places[i:i + BATCH]), axis=0).astype(np.float32)
        for j, (r, c) in enumerate(places[i:i + BATCH]):
            batch[j, r:r + patch, c:c + patch] = grey
        drops[i:i + len(batch)] = base - fn(tf.constant(batch)).numpy()[:, cls]
    total = np.zeros((h, w), np.float64)
    count = np.zeros((h, w), np.float64)
    for (r, c), d in zip(places, drops, strict=True):
        total[r:r + patch, c:c + patch] += d
        count[r:r + patch, c:c + patch] += 1
    heat = np.maximum(total / np.maximum(count, 1), 0)
    top = float(heat.max())
    return (heat / top if top > 0 else heat).astype(np.float32)
