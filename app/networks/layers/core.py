"""Dense, Flatten, Dropout and the activation layers. A Dense unit is Σ input · weight
plus its bias, through the activation; a softmax output also shows its logits and the
softmax filled in. Dropout and noise do nothing at inference: they pass their input on."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import Field, StrictBool

from app.networks.layers.base import (
    Activation,
    Layer,
    LayerKind,
    Neuron,
    Place,
    PositiveInt,
    Region,
    Shape,
    Value,
    activate,
    activation_name,
    bias_of,
    fsum,
)

TOP_TERMS = 12
# Layers that pass their input on unchanged at inference.
IDENTITY_AT_INFERENCE = ("Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout")


class Dropout(Layer):
    type: Literal["Dropout"]
    rate: float = Field(ge=0, lt=1, strict=True)

    builder_fields = (("rate", "float"),)
    starter = {"rate": 0.25}


class Flatten(Layer):
    type: Literal["Flatten"]

    def output_shape(self, shape: Shape) -> Shape:
        return (math.prod(shape),)


class Dense(Layer):
    type: Literal["Dense"]
    units: PositiveInt
    activation: Activation | None = None
    use_bias: StrictBool = True

    builder_fields = (("units", "int"), ("activation", "activation"))
    starter = {"units": 10, "activation": "softmax"}

    def output_shape(self, shape: Shape) -> Shape:
        return (*shape[:-1], self.units)

    def params(self, shape: Shape) -> tuple[int, int]:
        n = shape[-1] * self.units + (self.units if self.use_bias else 0)
        return n, n


@dataclass(kw_only=True)
class TopTerm:
    index: int
    input: float
    weight: float
    product: float
    position: list[int] | None = field(default=None, metadata={
        "doc": "[row, col, channel] before Flatten."})


@dataclass(kw_only=True)
class OtherTerms:
    count: int
    sum: float


@dataclass(kw_only=True)
class SoftmaxPart:
    max_logit: float
    exp: float = field(metadata={"doc": "e^(z_unit − max z)"})
    exp_sum: float = field(metadata={"doc": "Σ e^(z − max z)"})
    probability: float


@dataclass(kw_only=True)
class SoftmaxUnit(Neuron):
    logits: list[float]
    probabilities: list[float]
    softmax: SoftmaxPart

    view = "softmax"


@dataclass(kw_only=True)
class DenseUnit(Neuron):
    bias: float
    top_terms: list[TopTerm]
    pre_activation: float
    other_terms: OtherTerms
    activation: str
    activated: float | None = None
    logits: list[float] | None = None
    probabilities: list[float] | None = None
    softmax: SoftmaxPart | None = None
    input_layer: str = ""  # where its inputs come from (through dropout)
    flat_layer: str | None = None  # the 3-D layer behind a Flatten there

    view = "dense"


def softmax_of(logits: np.ndarray, probs: np.ndarray | None, unit: int
               ) -> tuple[list[float], list[float], SoftmaxPart]:
    z = logits.astype(np.float64)
    shifted = np.exp(z - z.max())
    total = float(shifted.sum())
    p = shifted / total
    part = SoftmaxPart(max_logit=float(z.max()), exp=float(shifted[unit]), exp_sum=total,
                       probability=float(p[unit]))
    return z.tolist(), (probs if probs is not None else p).astype(np.float64).tolist(), part


class DenseKind(LayerKind):
    name = "Dense"
    spec = Dense
    explains = True

    def back(self, layer: Any, src_shape: Shape, region: Region) -> Region:
        return (0, src_shape[0] - 1, 0, src_shape[1] - 1)

    def breakdown(self, place: Place) -> DenseUnit:
        layer, w, unit = place.layer, place.weights, place.channel
        x = place.src.reshape(-1).astype(np.float64)
        weights = w[0][:, unit].astype(np.float64)
        products = x * weights
        order = np.argsort(-np.abs(products), kind="stable")
        source, flat = place.graph.dense_sources(place.node)
        flat_shape = place.graph.nodes[flat].shape if flat is not None else None
        terms = [TopTerm(index=int(i), input=float(x[i]), weight=float(weights[i]),
                         product=float(products[i]),
                         position=[int(v) for v in np.unravel_index(int(i), flat_shape)]
                         if flat_shape is not None else None)
                 for i in order[:TOP_TERMS]]
        bias = bias_of(layer, w, unit)
        pre = fsum(products) + bias
        unitd = DenseUnit(
            **place.common(), bias=bias, top_terms=terms, pre_activation=pre,
            other_terms=OtherTerms(count=int(len(products) - len(terms)),
                                   sum=fsum(products[order[TOP_TERMS:]])),
            activation=activation_name(layer), input_layer=place.graph.nodes[source].name,
            flat_layer=place.graph.nodes[flat].name if flat is not None else None)
        if unitd.activation == "softmax":
            logits = x @ w[0].astype(np.float64) + (w[-1] if layer.use_bias else 0.0)
            unitd.logits, unitd.probabilities, unitd.softmax = softmax_of(np.asarray(logits),
                                                                           None, unit)
        else:
            unitd.activated = activate(layer, np.array([pre]))[0]
        return unitd


class SoftmaxKind(LayerKind):
    name = "Softmax"
    explains = True

    def breakdown(self, place: Place) -> SoftmaxUnit:
        out = place.outs[place.node.index].reshape(-1)
        logits, probs, part = softmax_of(place.src.reshape(-1), out, place.channel)
        return SoftmaxUnit(**place.common(), logits=logits, probabilities=probs, softmax=part)


class FlattenKind(LayerKind):
    name = "Flatten"
    spec = Flatten

    def back(self, layer: Any, src_shape: Shape, region: Region) -> Region:
        return (0, src_shape[0] - 1, 0, src_shape[1] - 1)

    def breakdown(self, place: Place) -> Value:
        src_shape = place.graph.nodes[place.node.inputs[0]].shape
        position = [int(v) for v in np.unravel_index(place.channel, src_shape)]
        return Value(**place.common(), inputs=[float(place.src[tuple(position)])],
                     position=position, note="Flatten lays the maps out in one row: this unit "
                     "is one number of the layer below, unchanged")


class DropoutKind(LayerKind):
    name = "Dropout"
    spec = Dropout
    passes_input = True
    note = "Dropout switches units off only while training; here it passes its input on"


class _Identity(LayerKind):
    passes_input = True
    note = "This layer acts only while training; here it passes its input on"


def identity_kind(name: str) -> LayerKind:
    return type(f"{name}Kind", (_Identity,), {"name": name})()


class InputKind(LayerKind):
    name = "InputLayer"
    uploadable = True

    def breakdown(self, place: Place) -> Neuron:
        return Value(**place.common(), note="the model's input: the image as the network sees it")


KINDS: tuple[LayerKind, ...] = (
    DenseKind(), SoftmaxKind(), FlattenKind(), DropoutKind(), InputKind(),
    *(identity_kind(n) for n in IDENTITY_AT_INFERENCE if n != "Dropout"),
)
