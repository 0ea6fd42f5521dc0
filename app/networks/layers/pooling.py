"""Pooling: MaxPooling2D and AveragePooling2D (a window per cell, channel by channel) and
global pooling (the whole map per channel). Keras' average leaves the padding out of its
count; the window's values show it as null."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from app.geometry import Axis, out_size, pair, window_axes
from app.networks.layers.base import (
    Field2D,
    IntPair,
    Layer,
    LayerKind,
    LayerProblem,
    Neuron,
    Padding,
    Place,
    Region,
    Shape,
)
from app.networks.layers.convolution import window_of


class _Pooling(Layer):
    pool_size: IntPair = 2
    strides: IntPair | None = None
    padding: Padding = "valid"

    builder_fields = (("pool_size", "pair"), ("strides", "pair?"), ("padding", "padding"))
    starter = {"pool_size": [2, 2]}
    spatial = True
    defaults_from = {"strides": "pool_size"}  # Keras: strides=None means the pool size

    def output_shape(self, shape: Shape) -> Shape:
        h, w, c = shape
        ph, pw = pair(self.pool_size)
        sh, sw = pair(self.strides if self.strides is not None else self.pool_size)
        if self.padding == "valid" and (ph > h or pw > w):
            raise LayerProblem(f"pool {ph}×{pw} is larger than its {h}×{w} input")
        return out_size(h, ph, sh, self.padding), out_size(w, pw, sw, self.padding), c

    def keras_arguments(self) -> dict[str, Any]:
        args = super().keras_arguments()
        if args.get("strides") is None:
            args.pop("strides", None)  # Keras' default: the pool size
        return args


class MaxPooling2D(_Pooling):
    type: Literal["MaxPooling2D"]


class AveragePooling2D(_Pooling):
    type: Literal["AveragePooling2D"]


class GlobalAveragePooling2D(Layer):
    type: Literal["GlobalAveragePooling2D"]
    spatial = True

    def output_shape(self, shape: Shape) -> Shape:
        return (shape[-1],)


@dataclass(kw_only=True)
class Window:
    rows: list[int]
    cols: list[int]
    values: list[list[float | None]]  # null where the window is in padding
    operation: Literal["max", "average"]
    count: int | None = None
    argmax: list[int] | None = None


@dataclass(kw_only=True)
class PoolCell(Neuron):
    window: Window

    view = "pool"


@dataclass(kw_only=True)
class GlobalPoolUnit(Neuron):
    window: Window

    view = "global_pool"


class _WindowPooling(LayerKind):
    map_layer = True
    explains = True
    pooling = True
    operation: Literal["max", "average"] = "max"

    def axes(self, layer: Any, src_shape: Shape) -> tuple[Axis, Axis]:
        return window_axes(src_shape, pair(layer.pool_size),
                           pair(layer.strides or layer.pool_size), layer.padding)

    def back(self, layer: Any, src_shape: Shape, region: Region) -> Region:
        ar, ac = self.axes(layer, src_shape)
        return (*ar.covered(region[0], region[1]), *ac.covered(region[2], region[3]))

    def breakdown(self, place: Place) -> PoolCell:
        assert place.cell is not None
        src, cell, channel = place.src, place.cell, place.channel
        ar, ac = self.axes(place.layer, src.shape)
        win, inside = window_of((ar, ac), src[:, :, channel:channel + 1], cell, fill=np.nan)
        values = win[:, :, 0]
        rows, cols = ar.positions(cell[0]), ac.positions(cell[1])
        argmax = None
        if self.operation == "max":
            r, c = np.unravel_index(int(np.nanargmax(values)), values.shape)
            argmax = [int(rows[r]), int(cols[c])]
        window = Window(
            rows=list(ar.covered(cell[0], cell[0])), cols=list(ac.covered(cell[1], cell[1])),
            values=[[None if math.isnan(v) else round(float(v), 6) for v in row] for row in values],
            operation=self.operation, count=int(inside.sum()), argmax=argmax)
        return PoolCell(**place.common(), window=window)


class MaxPooling2DKind(_WindowPooling):
    name = "MaxPooling2D"
    spec = MaxPooling2D


class AveragePooling2DKind(_WindowPooling):
    name = "AveragePooling2D"
    spec = AveragePooling2D
    operation = "average"


class _GlobalPooling(LayerKind):
    explains = True
    pooling = True
    operation: Literal["max", "average"] = "average"

    def back(self, layer: Any, src_shape: Shape, region: Region) -> Region:
        return (0, src_shape[0] - 1, 0, src_shape[1] - 1)

    def breakdown(self, place: Place) -> GlobalPoolUnit:
        src = place.src
        whole = Field2D([0, src.shape[0] - 1], [0, src.shape[1] - 1])
        window = Window(rows=whole.rows, cols=whole.cols, operation=self.operation,
                        values=np.round(src[:, :, place.channel], 6).tolist())
        return GlobalPoolUnit(**place.common(), window=window, receptive_field=whole)


class GlobalAveragePooling2DKind(_GlobalPooling):
    name = "GlobalAveragePooling2D"
    spec = GlobalAveragePooling2D


class GlobalMaxPooling2DKind(_GlobalPooling):
    name = "GlobalMaxPooling2D"
    operation = "max"


KINDS: tuple[LayerKind, ...] = (MaxPooling2DKind(), AveragePooling2DKind(),
                                GlobalAveragePooling2DKind(), GlobalMaxPooling2DKind())
