"""Convolutions: Conv2D (built in the Model Builder), DepthwiseConv2D and SeparableConv2D
(in uploaded models). One output cell is, per input channel, the window under it times
that channel's kernel slice, summed; then the terms summed, plus the bias, through the
activation, as Keras computes it (cross-correlation: the kernel is not flipped)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import StrictBool

from app.geometry import Axis, out_size, pair, window_axes
from app.networks.layers.base import (
    Activation,
    Field2D,
    IntPair,
    Layer,
    LayerKind,
    LayerProblem,
    Neuron,
    Padding,
    Place,
    PositiveInt,
    Region,
    Shape,
    activate,
    activation_name,
    bias_of,
    fsum,
)


class Conv2D(Layer):
    type: Literal["Conv2D"]
    filters: PositiveInt
    kernel_size: IntPair
    strides: IntPair = 1
    padding: Padding = "valid"
    activation: Activation | None = None
    use_bias: StrictBool = True

    builder_fields = (("filters", "int"), ("kernel_size", "pair"), ("strides", "pair"),
                      ("padding", "padding"), ("activation", "activation"))
    starter = {"filters": 16, "kernel_size": [3, 3], "activation": "relu"}
    spatial = True

    def output_shape(self, shape: Shape) -> Shape:
        h, w, _ = shape
        kh, kw = pair(self.kernel_size)
        sh, sw = pair(self.strides)
        if self.padding == "valid" and (kh > h or kw > w):
            raise LayerProblem(f"kernel {kh}×{kw} is larger than its {h}×{w} input; use a smaller "
                               'kernel or padding "same"')
        return out_size(h, kh, sh, self.padding), out_size(w, kw, sw, self.padding), self.filters

    def params(self, shape: Shape) -> tuple[int, int]:
        kh, kw = pair(self.kernel_size)
        n = kh * kw * shape[-1] * self.filters + (self.filters if self.use_bias else 0)
        return n, n

    def formula(self, shape: Shape) -> str:
        """((k_h·k_w·c_in) + 1) · filters, with the numbers filled in."""
        kh, kw = pair(self.kernel_size)
        bias = " + 1" if self.use_bias else ""
        return (f"(({kh}·{kw}·{shape[-1]}){bias}) · {self.filters} = "
                f"{self.params(shape)[0]:,}")


@dataclass(kw_only=True)
class ConvTerm:
    channel: int = field(metadata={"doc": "The input channel."})
    sum: float = field(metadata={"doc": "Σ window ⊙ kernel slice for this input channel."})
    window: list[list[float]]
    kernel: list[list[float]]
    depthwise: float | None = None
    pointwise_weight: float | None = None


@dataclass(kw_only=True)
class ConvCell(Neuron):
    bias: float
    terms: list[ConvTerm]
    pre_activation: float
    activation: str
    activated: float

    view = "conv"


@dataclass
class ChannelPart:
    """One input channel's share of a whole output channel."""

    channel: int
    input: np.ndarray
    kernel: np.ndarray
    weight: float
    correlation: np.ndarray


@dataclass
class ConvChannel:
    """A whole output channel, computed from its parts (for the neuron view's maps)."""

    source: str
    parts: list[ChannelPart]
    bias: float
    pre_activation: np.ndarray
    activated: np.ndarray
    output: np.ndarray  # Keras' own
    activation: str

    @property
    def max_difference(self) -> float:
        return float(np.abs(self.activated - self.output).max())


class _Convolution(LayerKind):
    map_layer = True
    explains = True

    def axes(self, layer: Any, src_shape: Shape) -> tuple[Axis, Axis]:
        return window_axes(src_shape, pair(layer.kernel_size), pair(layer.strides),
                           layer.padding, pair(layer.dilation_rate))

    def back(self, layer: Any, src_shape: Shape, region: Region) -> Region:
        ar, ac = self.axes(layer, src_shape)
        return (*ar.covered(region[0], region[1]), *ac.covered(region[2], region[3]))

    def kernel_slices(self, layer: Any, weights: list[np.ndarray],
                      channel: int) -> list[tuple[int, np.ndarray, float]]:
        """(input channel, kernel slice (kh, kw), pointwise weight) for one output channel:
        the slices whose windows make up its terms."""
        raise NotImplementedError

    def window(self, layer: Any, src: np.ndarray, cell: tuple[int, int],
               fill: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """The input under one cell's window (kh, kw, C), padding filled with `fill`, and a
        mask of the positions inside the input."""
        return window_of(self.axes(layer, src.shape), src, cell, fill)

    def breakdown(self, place: Place) -> ConvCell:
        assert place.cell is not None
        layer, weights = place.layer, place.weights
        win, _ = self.window(layer, place.src, place.cell)
        terms = []
        for k, kernel, weight in self.kernel_slices(layer, weights, place.channel):
            correlation = float((win[:, :, k] * kernel).sum())
            terms.append(ConvTerm(
                channel=k, sum=correlation * weight, window=np.round(win[:, :, k], 6).tolist(),
                kernel=np.round(kernel.astype(np.float64), 6).tolist(),
                depthwise=correlation if self.pointwise else None,
                pointwise_weight=weight if self.pointwise else None))
        bias = bias_of(layer, weights, place.channel)
        pre = fsum([t.sum for t in terms]) + bias
        return ConvCell(**place.common(), bias=bias, terms=terms, pre_activation=pre,
                        activation=activation_name(layer),
                        activated=activate(layer, np.array([pre]))[0])

    pointwise: ClassVar[bool] = False

    def channel(self, place: Place) -> ConvChannel:
        """The whole output channel: per input channel its map, the kernel slice and their
        cross-correlation; their sum plus the bias; the activation; Keras' own output."""
        node, layer = place.node, place.layer
        src = place.src.astype(np.float64)
        ar, ac = self.axes(layer, src.shape)
        h, w = node.shape[:2]
        padded = np.pad(src, ((ar.before, ar.after), (ac.before, ac.after), (0, 0)))
        views = np.lib.stride_tricks.sliding_window_view(padded, (ar.span, ac.span), axis=(0, 1))
        views = views[: (h - 1) * ar.s + 1 : ar.s, : (w - 1) * ac.s + 1 : ac.s, :, :: ar.d, :: ac.d]
        parts = [ChannelPart(k, src[:, :, k], kernel, weight,
                             np.einsum("ijrq,rq->ij", views[:, :, k], kernel.astype(np.float64))
                             * weight)
                 for k, kernel, weight in self.kernel_slices(layer, place.weights, place.channel)]
        bias = bias_of(layer, place.weights, place.channel)
        pre = np.sum([p.correlation for p in parts], axis=0) + bias
        activated = np.asarray(activate(layer, pre.reshape(-1))).reshape(pre.shape)
        return ConvChannel(place.graph.nodes[node.inputs[0]].name, parts, bias, pre, activated,
                           place.outs[node.index][:, :, place.channel], activation_name(layer))


def window_of(axes: tuple[Axis, Axis], src: np.ndarray, cell: tuple[int, int],
              fill: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    ar, ac = axes
    rows, cols = ar.positions(cell[0]), ac.positions(cell[1])
    inside_r = (rows >= 0) & (rows < src.shape[0])
    inside_c = (cols >= 0) & (cols < src.shape[1])
    win = np.full((ar.k, ac.k, src.shape[2]), fill, dtype=np.float64)
    win[np.ix_(inside_r, inside_c)] = src[np.ix_(rows[inside_r], cols[inside_c])]
    return win, np.outer(inside_r, inside_c)


class Conv2DKind(_Convolution):
    name = "Conv2D"
    spec = Conv2D

    def kernel_slices(self, layer: Any, weights: list[np.ndarray],
                      channel: int) -> list[tuple[int, np.ndarray, float]]:
        kernel = weights[0]
        per_group = kernel.shape[2]
        filters_per_group = kernel.shape[3] // max(int(layer.groups), 1)
        g = channel // filters_per_group
        return [(g * per_group + k, kernel[:, :, k, channel], 1.0) for k in range(per_group)]


class DepthwiseConv2DKind(_Convolution):
    """One input channel per output channel: output channel c reads input c // m."""

    name = "DepthwiseConv2D"

    def kernel_slices(self, layer: Any, weights: list[np.ndarray],
                      channel: int) -> list[tuple[int, np.ndarray, float]]:
        m = int(layer.depth_multiplier)
        k = channel // m
        return [(k, weights[0][:, :, k, channel % m], 1.0)]


class SeparableConv2DKind(_Convolution):
    """A depthwise step per input channel, then a pointwise (1×1) sum over them."""

    name = "SeparableConv2D"
    pointwise = True

    def kernel_slices(self, layer: Any, weights: list[np.ndarray],
                      channel: int) -> list[tuple[int, np.ndarray, float]]:
        dw, pw = weights[0], weights[1]  # depthwise (kh, kw, C, m), pointwise (1, 1, C·m, F)
        m = dw.shape[3]
        return [(k, dw[:, :, k, j], float(pw[0, 0, k * m + j, channel]))
                for k in range(dw.shape[2]) for j in range(m)]


KINDS: tuple[LayerKind, ...] = (Conv2DKind(), DepthwiseConv2DKind(), SeparableConv2DKind())
__all__ = ["KINDS", "Conv2D", "ConvCell", "ConvChannel", "ConvTerm", "Field2D", "window_of"]
