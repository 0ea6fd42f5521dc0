"""Layers that combine several inputs (residual and branching graphs): element-wise merges
(Add, Multiply, …) take their inputs' numbers at the same place (a squeeze-and-excite
block multiplies a map by one number per channel: broadcasting); Concatenate takes one
input's channel."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.formatting import fmt
from app.networks.layers.base import LayerKind, Neuron, Place, Value
from app.networks.layers.operations import OperationValue, at

# name → (how the inputs are joined in the formula, how they are combined)
ELEMENTWISE: dict[str, tuple[str, Callable[[list[float]], float]]] = {
    "Add": (" + ", lambda v: math.fsum(v)),
    "Subtract": (" − ", lambda v: v[0] - v[1]),
    "Multiply": (" · ", lambda v: float(np.prod(v))),
    "Average": (", ", lambda v: math.fsum(v) / len(v)),
    "Maximum": (", ", max),
    "Minimum": (", ", min),
}


@dataclass(kw_only=True)
class Source:
    layer: str
    channel: int


@dataclass(kw_only=True)
class ConcatValue(Value):
    source: Source | None = None


class ConcatenateKind(LayerKind):
    name = "Concatenate"
    explains = True

    def breakdown(self, place: Place) -> Neuron:
        where, graph = place.where, place.graph
        offset = where[-1]
        for src in place.node.inputs:
            n = graph.nodes[src].shape[-1]
            if offset < n:
                return ConcatValue(**place.common(),
                                   inputs=[float(place.outs[src][(*where[:-1], offset)])],
                                   source=Source(layer=graph.nodes[src].name, channel=offset),
                                   note=f"channel {where[-1]} is channel {offset} of "
                                   f"{graph.nodes[src].name}")
            offset -= n
        return Value(**place.common())


class _Elementwise(LayerKind):
    explains = True

    def breakdown(self, place: Place) -> Neuron:
        joiner, combine = ELEMENTWISE[self.name]
        values = [at(place.outs[s], place.where) for s in place.node.inputs]
        inner = joiner.join(fmt(v) for v in values)
        text = inner if joiner.strip() in ("+", "−", "·") else f"{self.name.lower()}({inner})"
        computed = float(combine(values))
        names = ", ".join(place.graph.nodes[s].name for s in place.node.inputs)
        return OperationValue(**place.common(), inputs=values, formula=text, computed=computed,
                              note=f"the inputs ({names}) at this place: {text} = "
                              f"{fmt(computed)}")


def merge_kind(name: str) -> LayerKind:
    return type(f"{name}Kind", (_Elementwise,), {"name": name})()


KINDS: tuple[LayerKind, ...] = (ConcatenateKind(), *(merge_kind(n) for n in ELEMENTWISE))
