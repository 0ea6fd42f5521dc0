"""BatchNormalization (built in the Model Builder) and Rescaling. At inference a batch norm
is γ · (x − moving mean) / √(moving variance + ε) + β per channel, with its four numbers
learned or tracked while training."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field

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


class RescalingKind(LayerKind):
    name = "Rescaling"


KINDS: tuple[LayerKind, ...] = (BatchNormalizationKind(), RescalingKind())
