"""Explaining a model on one input: every layer's output, how one number is computed from
the layer below, and which pixels the prediction rests on.

One `Explainer` per loaded model (kept with its `LoadedModel`) holds the layer graph, the
weights as arrays, and two traced TensorFlow functions: every layer's output in one
forward pass, and the gradients that Grad-CAM and saliency need. A breakdown is then
numpy on those outputs: the window of the layer's input under a cell, times the kernel,
summed per input channel, plus the bias. `output` is always Keras' own output at that
place, so anyone can check that the breakdown adds up to what Keras computed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from PIL import Image

from app.errors import InvalidInput
from app.geometry import Axis, pair, window_axes
from app.imaging.palette_png import signed_channel_urls
from app.imaging.rendering import SignedScale, data_url, png_bytes

if TYPE_CHECKING:
    from app.networks.inference import LoadedModel

CONV_TYPES = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D")
POOL_TYPES = ("MaxPooling2D", "AveragePooling2D")
GLOBAL_POOL_TYPES = ("GlobalAveragePooling2D", "GlobalMaxPooling2D")
WINDOW_TYPES = CONV_TYPES + POOL_TYPES
MERGE_TYPES = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate")
TOP_TERMS = 12
OVERLAY_SIDE = 224


@dataclass(frozen=True)
class Node:
    """One layer of the graph (index 0: the model's input)."""

    index: int
    name: str
    type: str
    layer: Any
    inputs: tuple[int, ...]
    shape: tuple[int, ...]  # without the batch axis

    @property
    def spatial(self) -> bool:
        return len(self.shape) == 3


@dataclass
class LayerOverview:
    name: str
    type: str
    output_shape: list[int | None]
    scale: SignedScale
    channels: list[str] | None = None
    values: list[float] | None = None
    explained: bool = False


@dataclass
class Overview:
    label: int
    probabilities: list[float]
    class_name: str
    input_image: str
    layers: list[LayerOverview] = field(default_factory=list)


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


def _clip(lo: int, hi: int, n: int) -> tuple[int, int]:
    return max(lo, 0), min(hi, n - 1)


def seen_image(x: np.ndarray) -> Image.Image:
    """The model's input as a picture: grayscale or RGB, 0–1 shown as 0–255."""
    arr = np.clip(x * 255, 0, 255).astype(np.uint8)
    return Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)


def _activation_name(layer: Any) -> str:
    fn = getattr(layer, "activation", None)
    return str(getattr(fn, "__name__", "linear")) if fn is not None else "linear"


class Explainer:
    def __init__(self, loaded: LoadedModel) -> None:
        import keras
        import tensorflow as tf

        self.info = loaded.info
        model = loaded.model
        source = model.inputs[0]._keras_history.operation
        index_of = {id(source): 0}
        nodes = [Node(0, source.name, "InputLayer", None, (), tuple(self.info.input_shape))]
        outputs = []
        for layer in model.layers:
            if layer is source or type(layer).__name__ == "InputLayer":
                continue
            ins = layer.input if isinstance(layer.input, list | tuple) else [layer.input]
            srcs = tuple(index_of[id(t._keras_history.operation)] for t in ins)
            index_of[id(layer)] = len(nodes)
            nodes.append(Node(len(nodes), layer.name, type(layer).__name__, layer, srcs,
                              tuple(int(d) for d in layer.output.shape[1:])))
            outputs.append(layer.output)
        self.nodes = nodes
        self.by_name = {n.name: n for n in nodes}
        self.output_index = index_of[id(model.outputs[0]._keras_history.operation)]
        self.weights = {n.index: [np.asarray(w) for w in n.layer.get_weights()]
                        for n in nodes[1:]}
        spec = tf.TensorSpec([None, *self.info.input_shape], tf.float32)
        everything = keras.Model(model.inputs[0], outputs)
        self._forward = tf.function(lambda x: everything(x, training=False)).get_concrete_function(spec)
        self._tf = tf
        self.last_conv = next((n for n in reversed(nodes) if n.type in CONV_TYPES and n.spatial),
                              None)
        self._centres: tuple[np.ndarray, np.ndarray] | None = None  # Grad-CAM cells in the input
        self._scores = self._score_source()
        self._saliency = self._trace_saliency(keras, tf, model)
        # Trace the gradients now (the explainer is built under KERAS_LOCK), not in a request.
        self._saliency(tf.zeros([1, *self.info.input_shape]), tf.constant(0, dtype=tf.int32))

    # -------------------------------------------------------------------- forward pass

    def forward(self, x: np.ndarray) -> list[np.ndarray]:
        """Every node's output for one input (H, W, C), without the batch axis."""
        outs = self._forward(self._tf.constant(x[None], dtype=self._tf.float32))
        return [x, *(np.asarray(o)[0] for o in outs)]

    def node(self, name: str) -> Node:
        found = self.by_name.get(name)
        if found is None:
            names = ", ".join(n.name for n in self.nodes)
            raise InvalidInput("layer", f"no layer named {name[:64]!r} in {self.info.id}; its "
                               f"layers are {names}"[:800])
        return found

    def class_name(self, k: int) -> str:
        names = self.info.class_names
        return names[k] if k < len(names) else str(k)

    # ------------------------------------------------------------------------ overview

    def overview(self, x: np.ndarray) -> Overview:
        """Every layer in order: 3-D outputs as channel images (one signed scale per layer),
        1-D outputs as values; the prediction."""
        outs = self.forward(x)
        probs = outs[self.output_index]
        label = int(np.argmax(probs))
        layers: list[LayerOverview] = []
        for node, out in zip(self.nodes, outs, strict=True):
            scale = SignedScale.of(out)
            entry = LayerOverview(node.name, node.type, [None, *node.shape], scale,
                                  explained=self.explained(node))
            if out.ndim == 3:
                entry.channels = signed_channel_urls(out, scale)
            else:
                entry.values = np.round(out.reshape(-1).astype(np.float64), 6).tolist()
            layers.append(entry)
        return Overview(label, [round(float(p), 6) for p in probs], self.class_name(label),
                        data_url(png_bytes(seen_image(x))), layers)

    def explained(self, node: Node) -> bool:
        """Whether the neuron view breaks this layer's numbers down."""
        return node.type in WINDOW_TYPES + GLOBAL_POOL_TYPES + ("Dense", "Softmax")

    # -------------------------------------------------------------------- one neuron

    def check_place(self, node: Node, channel: int, cell: tuple[int, int] | None) -> None:
        channels = node.shape[-1]
        if not 0 <= channel < channels:
            what = "units" if len(node.shape) == 1 else "channels"
            raise InvalidInput("channel", f"{channel} is out of range: {node.name} has {channels} "
                               f"{what} (0 to {channels - 1})")
        if node.spatial:
            if cell is None:
                raise InvalidInput("cell", f"{node.name} outputs {node.shape[0]}×{node.shape[1]} "
                                   "maps: give the cell as [row, col]")
            r, c = cell
            if not (0 <= r < node.shape[0] and 0 <= c < node.shape[1]):
                raise InvalidInput("cell", f"[{r}, {c}] is outside {node.name}'s "
                                   f"{node.shape[0]}×{node.shape[1]} map (rows 0 to "
                                   f"{node.shape[0] - 1}, columns 0 to {node.shape[1] - 1})")
        elif cell is not None:
            raise InvalidInput("cell", f"{node.name} outputs a vector: leave the cell out and "
                               "give the unit as channel")

    def neuron(self, x: np.ndarray, layer: str, channel: int,
               cell: tuple[int, int] | None) -> dict[str, Any]:
        """How one output number of one layer is computed from the layer below."""
        node = self.node(layer)
        self.check_place(node, channel, cell)
        outs = self.forward(x)
        out = outs[node.index]
        where = (cell[0], cell[1], channel) if cell is not None else (channel,)
        result: dict[str, Any] = {"layer": node.name, "type": node.type, "channel": channel,
                                  "cell": list(cell) if cell is not None else None,
                                  "output": float(out[where])}
        if node.index == 0:
            result["note"] = "the model's input: the image as the network sees it"
            return result
        if cell is not None:
            rows, cols = self._region_of(node, cell)
            result["receptive_field"] = {"rows": list(rows), "cols": list(cols)}
            result["input_field"] = self.input_field(node.index, (cell[0], cell[0], cell[1], cell[1]))
        else:
            result["input_field"] = self.input_field(node.index, None)
        src = outs[node.inputs[0]] if node.inputs else x
        if node.type in CONV_TYPES:
            assert cell is not None
            result.update(self._conv_cell(node, src, cell, channel))
        elif node.type in POOL_TYPES:
            assert cell is not None
            result["window"] = self._pool_window(node, src, cell, channel)
        elif node.type in GLOBAL_POOL_TYPES:
            rows_all = [0, src.shape[0] - 1]
            cols_all = [0, src.shape[1] - 1]
            result["window"] = {"rows": rows_all, "cols": cols_all,
                                "values": np.round(src[:, :, channel], 6).tolist(),
                                "operation": "max" if "Max" in node.type else "average"}
            result["receptive_field"] = {"rows": rows_all, "cols": cols_all}
        elif node.type == "Dense":
            result.update(self._dense_unit(node, src, channel))
        elif node.type == "Softmax":
            logits = src.reshape(-1)
            result.update(self._softmax(logits, out.reshape(-1), channel))
        else:
            result.update(self._passthrough(node, outs, where))
        return result

    def _region_of(self, node: Node, cell: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
        """The cell's window in the layer's input (clipped to it): its receptive field there."""
        src_shape = self.nodes[node.inputs[0]].shape
        region = self._back(node, node.inputs[0], (cell[0], cell[0], cell[1], cell[1]))
        if region is None or len(src_shape) != 3:
            return (0, 0), (0, 0)
        return (region[0], region[1]), (region[2], region[3])

    # Fields: a region (first row, last row, first col, last col), or None for "all of it".

    def input_field(self, index: int, region: tuple[int, int, int, int] | None) -> dict[str, list[int]]:
        """The region of the model's input that can affect this region of node `index`."""
        found = self._field(index, region)
        h, w = self.info.input_shape[:2]
        if found is None:
            found = (0, h - 1, 0, w - 1)
        return {"rows": [found[0], found[1]], "cols": [found[2], found[3]]}

    def _field(self, index: int, region: tuple[int, int, int, int] | None
               ) -> tuple[int, int, int, int] | None:
        if index == 0:
            return region
        node = self.nodes[index]
        union: tuple[int, int, int, int] | None = None
        for src in node.inputs:
            part = self._field(src, self._back(node, src, region))
            if part is None:
                return None
            if part[0] > part[1] or part[2] > part[3]:
                continue  # nothing of the input reaches it (zero padding)
            union = part if union is None else (min(union[0], part[0]), max(union[1], part[1]),
                                                min(union[2], part[2]), max(union[3], part[3]))
        return union if union is not None else (0, -1, 0, -1)

    def _back(self, node: Node, src: int, region: tuple[int, int, int, int] | None
              ) -> tuple[int, int, int, int] | None:
        """A region of node's output → the region of input `src` it is computed from."""
        shape = self.nodes[src].shape
        if region is None or not node.spatial or len(shape) != 3:
            return None
        r0, r1, c0, c1 = region
        if node.type in WINDOW_TYPES:
            ar, ac = self.axes(node)
            (r0, r1), (c0, c1) = ar.covered(r0, r1), ac.covered(c0, c1)
        elif node.type == "ZeroPadding2D":
            (top, _), (left, _) = node.layer.padding
            r0, r1 = _clip(r0 - top, r1 - top, shape[0])
            c0, c1 = _clip(c0 - left, c1 - left, shape[1])
        else:
            r0, r1 = _clip(r0, r1, shape[0])
            c0, c1 = _clip(c0, c1, shape[1])
        return r0, r1, c0, c1

    def axes(self, node: Node) -> tuple[Axis, Axis]:
        layer = node.layer
        src = self.nodes[node.inputs[0]].shape
        if node.type in CONV_TYPES:
            k, s, d = pair(layer.kernel_size), pair(layer.strides), pair(layer.dilation_rate)
        else:
            k, s, d = pair(layer.pool_size), pair(layer.strides or layer.pool_size), (1, 1)
        return window_axes(src, k, s, layer.padding, d)

    def window(self, node: Node, src: np.ndarray, cell: tuple[int, int],
               fill: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """The input under one cell's window (kh, kw, C), padding filled with `fill`, and a
        mask of the positions inside the input."""
        ar, ac = self.axes(node)
        rows, cols = ar.positions(cell[0]), ac.positions(cell[1])
        inside_r = (rows >= 0) & (rows < src.shape[0])
        inside_c = (cols >= 0) & (cols < src.shape[1])
        win = np.full((ar.k, ac.k, src.shape[2]), fill, dtype=np.float64)
        win[np.ix_(inside_r, inside_c)] = src[np.ix_(rows[inside_r], cols[inside_c])]
        return win, np.outer(inside_r, inside_c)

    def kernel_slices(self, node: Node, channel: int) -> list[tuple[int, np.ndarray, float]]:
        """(input channel, kernel slice (kh, kw), pointwise weight) for one output channel:
        the slices whose windows make up its terms."""
        w = self.weights[node.index]
        layer = node.layer
        if node.type == "Conv2D":
            kernel = w[0]
            per_group = kernel.shape[2]
            filters_per_group = kernel.shape[3] // max(int(layer.groups), 1)
            g = channel // filters_per_group
            return [(g * per_group + k, kernel[:, :, k, channel], 1.0) for k in range(per_group)]
        if node.type == "DepthwiseConv2D":
            m = int(layer.depth_multiplier)
            k = channel // m
            return [(k, w[0][:, :, k, channel % m], 1.0)]
        dw, pw = w[0], w[1]  # SeparableConv2D: depthwise (kh, kw, C, m), pointwise (1, 1, C·m, F)
        m = dw.shape[3]
        return [(k, dw[:, :, k, j], float(pw[0, 0, k * m + j, channel]))
                for k in range(dw.shape[2]) for j in range(m)]

    def bias(self, node: Node, channel: int) -> float:
        w = self.weights[node.index]
        use_bias = bool(getattr(node.layer, "use_bias", False))
        return float(w[-1][channel]) if use_bias else 0.0

    def _conv_cell(self, node: Node, src: np.ndarray, cell: tuple[int, int],
                   channel: int) -> dict[str, Any]:
        win, _ = self.window(node, src, cell)
        terms = []
        for k, kernel, weight in self.kernel_slices(node, channel):
            products = win[:, :, k] * kernel
            correlation = float(products.sum())
            term: dict[str, Any] = {"channel": k, "sum": correlation * weight,
                                    "window": np.round(win[:, :, k], 6).tolist(),
                                    "kernel": np.round(kernel.astype(np.float64), 6).tolist()}
            if node.type == "SeparableConv2D":
                term["depthwise"] = correlation
                term["pointwise_weight"] = weight
            terms.append(term)
        bias = self.bias(node, channel)
        pre = math.fsum(t["sum"] for t in terms) + bias
        return {"bias": bias, "terms": terms, "pre_activation": pre,
                "activation": _activation_name(node.layer),
                "activated": self.activate(node, np.array([pre]))[0]}

    def activate(self, node: Node, values: np.ndarray) -> list[float]:
        fn = getattr(node.layer, "activation", None)
        if fn is None:
            return [float(v) for v in values]
        return [float(v) for v in np.asarray(fn(values.astype(np.float32))).reshape(-1)]

    def _pool_window(self, node: Node, src: np.ndarray, cell: tuple[int, int],
                     channel: int) -> dict[str, Any]:
        ar, ac = self.axes(node)
        win, inside = self.window(node, src[:, :, channel:channel + 1], cell, fill=np.nan)
        values = win[:, :, 0]
        rows, cols = ar.positions(cell[0]), ac.positions(cell[1])
        out: dict[str, Any] = {
            "rows": list(_clip(int(rows[0]), int(rows[-1]), src.shape[0])),
            "cols": list(_clip(int(cols[0]), int(cols[-1]), src.shape[1])),
            "values": [[None if math.isnan(v) else round(float(v), 6) for v in row]
                       for row in values],
            "operation": "max" if node.type == "MaxPooling2D" else "average",
            "count": int(inside.sum()),
        }
        if node.type == "MaxPooling2D":
            r, c = np.unravel_index(int(np.nanargmax(values)), values.shape)
            out["argmax"] = [int(rows[r]), int(cols[c])]
        return out

    def _dense_unit(self, node: Node, src: np.ndarray, unit: int) -> dict[str, Any]:
        w = self.weights[node.index]
        x = src.reshape(-1).astype(np.float64)
        weights = w[0][:, unit].astype(np.float64)
        products = x * weights
        order = np.argsort(-np.abs(products), kind="stable")
        top = order[:TOP_TERMS]
        flat_from = self._flattened_shape(node)
        terms = []
        for i in top:
            term: dict[str, Any] = {"index": int(i), "input": float(x[i]), "weight": float(weights[i]),
                                    "product": float(products[i])}
            if flat_from is not None:
                term["position"] = [int(v) for v in np.unravel_index(int(i), flat_from)]
            terms.append(term)
        bias = self.bias(node, unit)
        pre = math.fsum(products.tolist()) + bias
        result: dict[str, Any] = {
            "bias": bias, "top_terms": terms, "pre_activation": pre,
            "other_terms": {"count": int(len(products) - len(top)),
                            "sum": math.fsum(products[order[TOP_TERMS:]].tolist())},
            "activation": _activation_name(node.layer),
        }
        if result["activation"] == "softmax":
            logits = x @ w[0].astype(np.float64) + (w[-1] if node.layer.use_bias else 0.0)
            result.update(self._softmax(np.asarray(logits), None, unit))
        else:
            result["activated"] = self.activate(node, np.array([pre]))[0]
        return result

    def _flattened_shape(self, node: Node) -> tuple[int, ...] | None:
        """Where the inputs of a Dense layer after Flatten come from (H, W, C), if they do."""
        src = self.nodes[node.inputs[0]]
        while src.type in ("Dropout", "GaussianNoise", "GaussianDropout") and src.inputs:
            src = self.nodes[src.inputs[0]]
        if src.type == "Flatten" and src.inputs:
            shape = self.nodes[src.inputs[0]].shape
            return shape if len(shape) == 3 else None
        return None

    @staticmethod
    def _softmax(logits: np.ndarray, probs: np.ndarray | None, unit: int) -> dict[str, Any]:
        z = logits.astype(np.float64)
        shifted = np.exp(z - z.max())
        total = float(shifted.sum())
        p = shifted / total
        return {"logits": z.tolist(),
                "probabilities": (probs if probs is not None else p).astype(np.float64).tolist(),
                "softmax": {"max_logit": float(z.max()), "exp": float(shifted[unit]),
                            "exp_sum": total, "probability": float(p[unit])}}

    def _passthrough(self, node: Node, outs: list[np.ndarray], where: tuple[int, ...]
                     ) -> dict[str, Any]:
        """Layers the view does not break down: their inputs at the same place, where there is one."""
        result: dict[str, Any] = {"note": f"{node.type} is shown with its inputs at this place; "
                                  "it is not broken down further"}
        if node.type == "Flatten":
            src_shape = self.nodes[node.inputs[0]].shape
            position = [int(v) for v in np.unravel_index(where[0], src_shape)]
            result["inputs"] = [float(outs[node.inputs[0]][tuple(position)])]
            result["position"] = position
        elif node.type == "BatchNormalization":
            layer = node.layer
            axis_channel = where[-1]
            result["inputs"] = [float(outs[node.inputs[0]][where])]
            result["batch_norm"] = {
                "mean": float(np.asarray(layer.moving_mean)[axis_channel]),
                "variance": float(np.asarray(layer.moving_variance)[axis_channel]),
                "gamma": float(np.asarray(layer.gamma)[axis_channel]) if layer.scale else 1.0,
                "beta": float(np.asarray(layer.beta)[axis_channel]) if layer.center else 0.0,
                "epsilon": float(layer.epsilon)}
        elif node.type == "Concatenate":
            offset = where[-1]
            for src in node.inputs:
                n = self.nodes[src].shape[-1]
                if offset < n:
                    result["inputs"] = [float(outs[src][(*where[:-1], offset)])]
                    result["source"] = {"layer": self.nodes[src].name, "channel": offset}
                    break
                offset -= n
        elif node.type != "ZeroPadding2D" and all(
                self.nodes[s].shape == node.shape for s in node.inputs):
            result["inputs"] = [float(outs[s][where]) for s in node.inputs]
        return result

    # -------------------------------------------------------------- a channel, whole

    def channel_maps(self, x: np.ndarray, layer: str, channel: int) -> dict[str, Any]:
        """For the neuron view of a convolution's channel: per input channel its map, the
        kernel slice and their cross-correlation over the whole output; their sum plus the
        bias; the activation; and Keras' own output, to compare."""
        node = self.node(layer)
        if node.type not in CONV_TYPES:
            raise InvalidInput("layer", f"{node.name} is a {node.type}: the channel view breaks "
                               "down convolutions")
        self.check_place(node, channel, (0, 0))
        outs = self.forward(x)
        src = outs[node.inputs[0]].astype(np.float64)
        ar, ac = self.axes(node)
        h, w = node.shape[:2]
        padded = np.pad(src, ((ar.before, ar.after), (ac.before, ac.after), (0, 0)))
        views = np.lib.stride_tricks.sliding_window_view(padded, (ar.span, ac.span), axis=(0, 1))
        views = views[: (h - 1) * ar.s + 1 : ar.s, : (w - 1) * ac.s + 1 : ac.s, :, :: ar.d, :: ac.d]
        parts = []
        for k, kernel, weight in self.kernel_slices(node, channel):
            corr = np.einsum("ijrq,rq->ij", views[:, :, k], kernel.astype(np.float64)) * weight
            parts.append({"channel": k, "input": src[:, :, k], "kernel": kernel,
                          "weight": weight, "correlation": corr})
        bias = self.bias(node, channel)
        pre = np.sum([p["correlation"] for p in parts], axis=0) + bias
        activated = np.asarray(self.activate(node, pre.reshape(-1))).reshape(pre.shape)
        keras_out = outs[node.index][:, :, channel]
        return {"node": node, "parts": parts, "bias": bias, "pre_activation": pre,
                "activated": activated, "output": keras_out,
                "max_difference": float(np.abs(activated - keras_out).max()),
                "activation": _activation_name(node.layer), "input": x}

    # ------------------------------------------------------------------- saliency

    def _score_source(self) -> tuple[int, Any, Any]:
        """Where the pre-softmax class scores come from: (node, kernel, bias). A Dense softmax
        output: its input times its weights; a Softmax layer: its input; else the output."""
        out = self.nodes[self.output_index]
        if out.type == "Dense" and _activation_name(out.layer) == "softmax":
            w = self.weights[out.index]
            bias = w[-1] if out.layer.use_bias else np.zeros(w[0].shape[1], np.float32)
            return out.inputs[0], w[0], bias
        if out.inputs and (out.type == "Softmax" or (
                out.type == "Activation" and _activation_name(out.layer) == "softmax")):
            return out.inputs[0], None, None
        return out.index, None, None

    def _trace_saliency(self, keras: Any, tf: Any, model: Any) -> Any:
        src, kernel, bias = self._scores
        score_tensor = self.nodes[src].layer.output if src else model.inputs[0]
        conv = self.last_conv
        outputs = [score_tensor] + ([conv.layer.output] if conv is not None else [])
        grad_model = keras.Model(model.inputs[0], outputs)
        k = tf.constant(kernel) if kernel is not None else None
        b = tf.constant(bias) if bias is not None else None
        h, w, c = self.info.input_shape

        def scores_of(x: Any) -> tuple[Any, Any]:
            outs = grad_model(x, training=False)
            outs = list(outs) if isinstance(outs, list | tuple) else [outs]
            z = outs[0]
            if k is not None:
                z = tf.matmul(tf.reshape(z, [tf.shape(z)[0], -1]), k) + b
            return z, (outs[1] if conv is not None else None)

        @tf.function(input_signature=[tf.TensorSpec([1, h, w, c], tf.float32),
                                      tf.TensorSpec([], tf.int32)])
        def gradients(x: Any, cls: Any) -> Any:
            with tf.GradientTape() as tape:
                tape.watch(x)
                z, maps = scores_of(x)
                score = z[0, cls]
            if maps is None:
                return tape.gradient(score, x), z
            g_x, g_maps = tape.gradient(score, [x, maps])
            return g_x, z, maps, g_maps

        return gradients

    def _to_input(self, cam: np.ndarray) -> np.ndarray:
        """A map of the last convolution at the input's size: each cell's value placed at the
        centre of its receptive field in the input (not stretched over the whole image: a
        "valid" convolution's cells do not reach the input's edges), linearly between."""
        assert self.last_conv is not None
        h, w = self.info.input_shape[:2]
        if self._centres is None:
            index = self.last_conv.index
            self._centres = (
                np.array([sum(self.input_field(index, (r, r, 0, 0))["rows"]) / 2
                          for r in range(cam.shape[0])]),
                np.array([sum(self.input_field(index, (0, 0, c, c))["cols"]) / 2
                          for c in range(cam.shape[1])]))
        rows, cols = self._centres
        return _interpolate(_interpolate(cam, rows, h, 0), cols, w, 1).astype(np.float32)

    def saliency(self, x: np.ndarray, method: str, cls: int | None, *,
                 outputs: list[np.ndarray] | None = None, overlay: bool = True) -> Saliency:
        """Grad-CAM (the last convolution's maps weighted by their mean gradient) or the input
        gradient, for class `cls` (default: the predicted one), at the input's size. A caller
        that already has `forward(x)` passes it as `outputs`; `overlay=False` leaves the
        overlay picture out (an empty string)."""
        outs = outputs if outputs is not None else self.forward(x)
        probs = outs[self.output_index].reshape(-1)
        label = int(np.argmax(probs))
        k = label if cls is None else cls
        if not 0 <= k < len(probs):
            raise InvalidInput("class", f"{k} is out of range: {self.info.id} has {len(probs)} "
                               f"classes (0 to {len(probs) - 1})")
        if method == "gradcam" and self.last_conv is None:
            raise InvalidInput("method", f"{self.info.id} has no convolution for Grad-CAM; use "
                               '"gradient"')
        result = self._saliency(self._tf.constant(x[None], dtype=self._tf.float32),
                                self._tf.constant(k, dtype=self._tf.int32))
        heat: np.ndarray
        if method == "gradcam":
            maps, g_maps = np.asarray(result[2])[0], np.asarray(result[3])[0]
            weights = g_maps.mean(axis=(0, 1))
            cam = np.maximum((maps * weights).sum(axis=2), 0).astype(np.float64)
            heat = self._to_input(cam)
            layer_name: str | None = self.last_conv.name if self.last_conv else None
        else:
            heat = np.abs(np.asarray(result[0])[0]).max(axis=2).astype(np.float32)
            layer_name = None
        heat = np.maximum(heat, 0)
        top = float(heat.max())
        heat = heat / top if top > 0 else np.zeros_like(heat)
        return Saliency(k, self.class_name(k), method, layer_name, heat.astype(np.float32),
                        overlay_url(x, heat) if overlay else "", label, float(probs[k]))


def _interpolate(values: np.ndarray, centres: np.ndarray, n: int, axis: int) -> np.ndarray:
    """Linear interpolation along one axis, from values at `centres` to positions 0…n−1."""
    moved = np.moveaxis(values, axis, -1)
    flat = moved.reshape(-1, moved.shape[-1])
    out = np.stack([np.interp(np.arange(n), centres, row) for row in flat])
    return np.moveaxis(out.reshape(*moved.shape[:-1], n), -1, axis)


def overlay_url(x: np.ndarray, heat: np.ndarray) -> str:
    """The input with the heatmap over it (jet colours, more opaque where hotter), as a PNG
    data URL at least OVERLAY_SIDE pixels on its longer side."""
    h, w = heat.shape
    scale = max(1, math.ceil(OVERLAY_SIDE / max(h, w)))
    base = cv2.resize(np.asarray(seen_image(x).convert("RGB"), dtype=np.float32),
                      (w * scale, h * scale), interpolation=cv2.INTER_NEAREST)
    hot = cv2.resize(heat.astype(np.float32), (w * scale, h * scale),
                     interpolation=cv2.INTER_LINEAR)
    colours = cv2.applyColorMap(np.clip(hot * 255, 0, 255).astype(np.uint8),
                                cv2.COLORMAP_JET)[:, :, ::-1].astype(np.float32)
    alpha = (0.65 * hot)[:, :, None]
    mixed = np.clip(base * (1 - alpha) + colours * alpha, 0, 255).astype(np.uint8)
    return data_url(png_bytes(Image.fromarray(mixed)))


def explainer(loaded: LoadedModel) -> Explainer:
    """The model's explainer, made on first use and kept with the loaded model."""
    from app.networks.inference import KERAS_LOCK

    found = loaded.explainer
    if found is None:
        with KERAS_LOCK:
            found = loaded.explainer
            if found is None:
                found = Explainer(loaded)
                loaded.explainer = found
    return found
