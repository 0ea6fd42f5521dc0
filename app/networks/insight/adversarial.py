"""Adversarial examples: the smallest-looking change to an input that changes the network's
answer, under an L∞ budget ε (each pixel moves by at most ε of the pixel range).

FGSM (Goodfellow et al. 2015) takes one step of size ε along the sign of the loss's
gradient; PGD (Madry et al. 2018) takes many small steps, each projected back into the ε
box around the input and into 0–1, and finds an adversarial example far more often at the
same ε. Untargeted, the step raises the cross-entropy of the class the network predicts;
towards a target, it lowers that of the target. The loss is computed on the class scores
before the softmax (app/networks/explain/saliency.py's score_source), so a saturated
softmax still gives a gradient.

The result is rounded to whole 0–255 levels where that stays within ε (always for a test
image or an upload, whose pixels are whole levels already), so the PNG holds exactly the
returned pixels, and it is predicted again as returned: the labels said are the network's
on exactly that image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from app.networks.explain.graph import Graph
from app.networks.explain.saliency import score_source
from app.networks.insight.cache import InsightCache
from app.networks.insight.channels import check_class
from app.networks.ranges import RANGES
from app.networks.runtime import traced

if TYPE_CHECKING:
    from app.networks.inference import LoadedModel

Attack = Literal["fgsm", "pgd"]
PGD_STEPS = 40


@dataclass
class Adversarial:
    method: Attack
    epsilon: float
    target: int | None
    original: np.ndarray  # (H, W, C) in 0–1
    adversarial: np.ndarray  # (H, W, C) 0–255 (whole levels where they fit within ε)
    original_probabilities: np.ndarray
    adversarial_probabilities: np.ndarray

    @property
    def linf(self) -> float:
        """The largest change of any pixel, in 0–255."""
        return float(np.abs(self.adversarial.astype(np.float64)
                            - self.original.astype(np.float64) * 255).max())

    @property
    def success(self) -> bool:
        before = int(np.argmax(self.original_probabilities))
        after = int(np.argmax(self.adversarial_probabilities))
        return after == self.target if self.target is not None else after != before


def _attack_function(loaded: LoadedModel, graph: Graph) -> Any:
    """(x in 0–1, class) → (the gradient of that class's cross-entropy with respect to x,
    the model's output)."""
    import keras
    import tensorflow as tf

    model = loaded.model
    src, kernel, bias = score_source(graph)
    score = graph.nodes[src].layer.output if src else model.inputs[0]
    both = keras.Model(model.inputs[0], [score, model.outputs[0]])
    k = tf.constant(kernel) if kernel is not None else None
    b = tf.constant(bias) if bias is not None else None
    h, w, c = loaded.info.input_shape
    lo, hi = RANGES.get(loaded.info.input_range, (0.0, 1.0))

    def gradient(x01: Any, cls: Any) -> Any:
        with tf.GradientTape() as tape:
            tape.watch(x01)
            z, probs = both(x01 * (hi - lo) + lo, training=False)
            if k is not None:
                z = tf.matmul(tf.reshape(z, [tf.shape(z)[0], -1]), k) + b
            z = tf.reshape(z, [tf.shape(z)[0], -1])
            loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=tf.fill([tf.shape(z)[0]], cls), logits=z))
        return tape.gradient(loss, x01), tf.reshape(probs, [tf.shape(probs)[0], -1])

    return traced(gradient, tf.TensorSpec([1, h, w, c], tf.float32), tf.TensorSpec([], tf.int32))


def _whole_levels(x01: np.ndarray, adv01: np.ndarray, epsilon: float) -> np.ndarray:
    """The adversarial image in 0–255, rounded to whole levels wherever a whole level lies
    within ε of the original."""
    a = x01.astype(np.float64) * 255
    e = epsilon * 255
    low, high = np.ceil(a - e - 1e-7), np.floor(a + e + 1e-7)
    rounded = np.clip(np.rint(adv01.astype(np.float64) * 255), np.maximum(low, 0),
                      np.minimum(high, 255))
    exact = np.clip(adv01.astype(np.float64) * 255, np.maximum(a - e, 0), np.minimum(a + e, 255))
    return np.where(low <= high, rounded, exact)


def attack(loaded: LoadedModel, graph: Graph, x01: np.ndarray, epsilon: float, method: Attack,
           target: int | None, cache: InsightCache) -> Adversarial:
    """FGSM or PGD on one input (H, W, C in 0–1), untargeted or towards `target`."""
    import tensorflow as tf

    fn = cache.function(("attack",), lambda: _attack_function(loaded, graph))
    x = tf.constant(x01[None].astype(np.float32))
    _, probs = fn(x, tf.constant(0, tf.int32))
    before = probs.numpy()[0]
    if target is not None:
        check_class(target, len(before), loaded.info.id)
    cls = tf.constant(int(np.argmax(before)) if target is None else target, tf.int32)
    sign = -1.0 if target is not None else 1.0  # towards a target: lower its loss
    low, high = np.maximum(x01 - epsilon, 0), np.minimum(x01 + epsilon, 1)
    steps, alpha = (1, epsilon) if method == "fgsm" else (PGD_STEPS, 2.5 * epsilon / PGD_STEPS)
    adv = x01.astype(np.float32).copy()
    for _ in range(steps if epsilon > 0 else 0):
        g, _ = fn(tf.constant(adv[None]), cls)
        adv = np.clip(adv + sign * alpha * np.sign(g.numpy()[0]), low, high).astype(np.float32)
    pixels = _whole_levels(x01, adv, epsilon).astype(np.float32)
    _, after = fn(tf.constant((pixels / 255)[None].astype(np.float32)), cls)
    return Adversarial(method, epsilon, target, x01, pixels, before, after.numpy()[0])
