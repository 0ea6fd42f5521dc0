"""BatchNormalization (built in the Model Builder), Normalization and Rescaling. At inference
a batch norm is γ · (x − moving mean) / √(moving variance + ε) + β per channel, with its four
numbers learned or tracked while training; Normalization is (x − mean) / √variance with
numbers it was given or adapted to; Rescaling is x · scale + offset (0–255 pixels to 0–1 or
−1–1: EfficientNet and MobileNetV3 read 0–255 pixels through these two)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field

from app.formatting import fmt
from app.networks.layers.base import Layer, LayerKind, Place, Shape, Value


class BatchNormalization(Layer):
    type: Literal["BatchNormalization"]
    momentum: float = Field(0.99, gt=0, lt=1, strict=True)
    epsilon: float = Field(0.001, gt=0, le=1, strict=True)

    def params(self, shape: Shape) -> tuple[int, int]:
        # gamma and beta train; the moving mean and variance do not.
        return 4 * shape[-1], 2 * shape[-1]


@dataclass(kw_only=True)
class BatchNormNumbers:
    mean: float
    variance: float
    gamma: float
    beta: float
    epsilon: float


@dataclass(kw_only=True)
class BatchNormValue(Value):
    batch_norm: BatchNormNumbers


class BatchNormalizationKind(LayerKind):
    name = "BatchNormalization"
    spec = BatchNormalization

    def breakdown(self, place: Place) -> BatchNormValue:
        layer, c = place.layer, place.where[-1]
        numbers = BatchNormNumbers(
            mean=float(np.asarray(layer.moving_mean)[c]),
            variance=float(np.asarray(layer.moving_variance)[c]),
            gamma=float(np.asarray(layer.gamma)[c]) if layer.scale else 1.0,
            beta=float(np.asarray(layer.beta)[c]) if layer.center else 0.0,
            epsilon=float(layer.epsilon))
        return BatchNormValue(**place.common(), inputs=[float(place.src[place.where])],
                              batch_norm=numbers, note="BatchNormalization is shown with its "
                              "input at this place and its four numbers")


@dataclass(kw_only=True)
class FormulaValue(Value):
    formula: str
    computed: float

    view = "function"


def _per_channel(value: object, channel: int) -> float:
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    return float(arr[channel] if arr.size > 1 else arr[0])


class RescalingKind(LayerKind):
    name = "Rescaling"
    explains = True
    plain = {"scale": "number or numbers", "offset": "number or numbers"}

    def breakdown(self, place: Place) -> FormulaValue:
        c, x = place.where[-1], float(place.src[place.where])
        scale = _per_channel(place.layer.scale, c)
        offset = _per_channel(place.layer.offset, c)
        return FormulaValue(**place.common(), inputs=[x], computed=x * scale + offset,
                            formula=f"x · scale + offset = {fmt(x)} · {fmt(scale)} + {fmt(offset)}")


class NormalizationKind(LayerKind):
    """Keras' Normalization: (x − mean) / max(√variance, ε), per channel."""

    name = "Normalization"
    explains = True
    plain = {"axis": "int or ints or none", "invert": "bool", "mean": "numbers or none",
             "variance": "numbers or none"}

    def breakdown(self, place: Place) -> FormulaValue:
        c, x = place.where[-1], float(place.src[place.where])
        layer = place.layer
        mean = _per_channel(np.asarray(layer.mean), c)
        variance = _per_channel(np.asarray(layer.variance), c)
        root = max(math.sqrt(max(variance, 0.0)), 1e-7)
        return FormulaValue(**place.common(), inputs=[x], computed=(x - mean) / root,
                            formula=f"(x − mean) / √variance = ({fmt(x)} − {fmt(mean)}) / "
                            f"√{fmt(variance)}")


KINDS: tuple[LayerKind, ...] = (BatchNormalizationKind(), RescalingKind(), NormalizationKind())
