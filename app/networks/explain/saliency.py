"""Which pixels a prediction rests on: Grad-CAM (a layer's maps weighted by the class
score's mean gradient) and the input gradient, from one TensorFlow function (`Gradients`).

Grad-CAM's layer is chosen from the graph: the last layer with maps larger than 1×1 that
computes them (not pooling, not one that passes its input on), so that MobileNet's 1×1
classifier convolutions or DenseNet's 32-channel growth convolutions are not picked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import Image

from app.errors import InvalidInput
from app.imaging.rendering import data_url, heat_colours, png_bytes
from app.networks.explain.graph import Graph, Node
from app.networks.layers.base import activation_name
from app.networks.runtime import TracedLater

OVERLAY_SIDE = 224


@dataclass
class Saliency:
    cls: int
    class_name: str
    method: str
    layer: str | None
    heatmap: np.ndarray  # H×W in [0, 1]
    overlay: str
    label: int
    probability: float


def cam_node(graph: Graph) -> Node | None:
    """The layer Grad-CAM weighs: the last with maps larger than 1×1 that computes them."""
    for node in reversed(graph.nodes[1:]):
        kind = node.kind
        if (node.spatial and node.shape[0] * node.shape[1] > 1 and not kind.pooling
                and not kind.passes_input):
            return node
    return None


def score_source(graph: Graph) -> tuple[int, Any, Any]:
    """Where the pre-softmax class scores come from: (node, kernel, bias). A Dense softmax
    output: its input times its weights; a Softmax layer: its input; else the output."""
    out = graph.nodes[graph.output_index]
    if out.type == "Dense" and activation_name(out.layer) == "softmax":
        w = graph.weights[out.index]
        bias = w[-1] if out.layer.use_bias else np.zeros(w[0].shape[1], np.float32)
        return out.inputs[0], w[0], bias
    if out.inputs and (out.type == "Softmax" or (
            out.type == "Activation" and activation_name(out.layer) == "softmax")):
        return out.inputs[0], None, None
    return out.index, None, None


class Gradients:
    """(input gradient, scores[, maps, their gradient]) for one image and a class; the first
    heatmap of a model is computed eagerly, the second traces the function (TracedLater):
    many models are asked for one heatmap only."""

    def __init__(self, graph: Graph, model: Any, cam: Node | None) -> None:
        import keras
        import tensorflow as tf

        src, kernel, bias = score_source(graph)
        score_tensor = graph.nodes[src].layer.output if src else model.inputs[0]
        outputs = [score_tensor] + ([cam.layer.output] if cam is not None else [])
        self._model = keras.Model(model.inputs[0], outputs)
        self._k = tf.constant(kernel) if kernel is not None else None
        self._b = tf.constant(bias) if bias is not None else None
        self._cam = cam
        self._tf = tf
        h, w, c = graph.input_shape
        self._call = TracedLater(self._compute, tf.TensorSpec([1, h, w, c], tf.float32),
                                 tf.TensorSpec([], tf.int32))

    def _scores(self, x: Any) -> tuple[Any, Any]:
        tf = self._tf
        outs = self._model(x, training=False)
        outs = list(outs) if isinstance(outs, list | tuple) else [outs]
        z = outs[0]
        if self._k is not None:
            z = tf.matmul(tf.reshape(z, [tf.shape(z)[0], -1]), self._k) + self._b
        return z, (outs[1] if self._cam is not None else None)

    def _compute(self, x: Any, cls: Any) -> Any:
        with self._tf.GradientTape() as tape:
            tape.watch(x)
            z, maps = self._scores(x)
            score = z[0, cls]
        if maps is None:
            return tape.gradient(score, x), z
        g_x, g_maps = tape.gradient(score, [x, maps])
        return g_x, z, maps, g_maps

    def __call__(self, x: Any, cls: Any) -> Any:
        return self._call(x, cls)


def to_input(graph: Graph, node: Node, cam: np.ndarray) -> np.ndarray:
    """A layer's map at the input's size: each cell's value placed at the centre of its
    receptive field in the input (not stretched over the whole image: a "valid"
    convolution's cells do not reach the input's edges), linearly between."""
    h, w = graph.input_shape[:2]
    rows, cols = graph.centres(node.index)
    return _interpolate(_interpolate(cam, rows, h, 0), cols, w, 1).astype(np.float32)


def _interpolate(values: np.ndarray, centres: np.ndarray, n: int, axis: int) -> np.ndarray:
    """Linear interpolation along one axis, from values at `centres` to positions 0…n−1."""
    moved = np.moveaxis(values, axis, -1)
    flat = moved.reshape(-1, moved.shape[-1])
    out = np.stack([np.interp(np.arange(n), centres, row) for row in flat])
    return np.moveaxis(out.reshape(*moved.shape[:-1], n), -1, axis)


def heatmap(method: str, result: Any, graph: Graph, cam: Node | None) -> np.ndarray:
    """The traced function's result as a heatmap in [0, 1] at the input's size."""
    if method == "gradcam":
        assert cam is not None
        maps, g_maps = np.asarray(result[2])[0], np.asarray(result[3])[0]
        weights = g_maps.mean(axis=(0, 1))
        cam_map = np.maximum((maps * weights).sum(axis=2), 0).astype(np.float64)
        heat = to_input(graph, cam, cam_map)
    else:
        heat = np.abs(np.asarray(result[0])[0]).max(axis=2).astype(np.float32)
    heat = np.maximum(heat, 0)
    top = float(heat.max())
    return (heat / top if top > 0 else np.zeros_like(heat)).astype(np.float32)


def check_class(k: int, classes: int, model_id: str) -> None:
    if not 0 <= k < classes:
        raise InvalidInput("class", f"{k} is out of range: {model_id} has {classes} classes "
                           f"(0 to {classes - 1})")


def seen_image(x: np.ndarray) -> Image.Image:
    """The model's input as a picture: grayscale or RGB, 0–1 shown as 0–255."""
    arr = np.clip(x * 255, 0, 255).astype(np.uint8)
    return Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)


def overlay_url(x: np.ndarray, heat: np.ndarray) -> str:
    """The input with the heatmap over it (the heat palette, more opaque where hotter), as a
    PNG data URL at least OVERLAY_SIDE pixels on its longer side."""
    h, w = heat.shape
    scale = max(1, math.ceil(OVERLAY_SIDE / max(h, w)))
    base = cv2.resize(np.asarray(seen_image(x).convert("RGB"), dtype=np.float32),
                      (w * scale, h * scale), interpolation=cv2.INTER_NEAREST)
    hot = cv2.resize(heat.astype(np.float32), (w * scale, h * scale),
                     interpolation=cv2.INTER_LINEAR)
    colours = heat_colours(hot).astype(np.float32)
    alpha = (0.65 * hot)[:, :, None]
    mixed = np.clip(base * (1 - alpha) + colours * alpha, 0, 255).astype(np.uint8)
    return data_url(png_bytes(Image.fromarray(mixed)))
