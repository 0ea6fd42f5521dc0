"""Layers that combine several inputs (residual and branching graphs): element-wise merges
take their inputs at the same place; Concatenate takes one input's channel."""

from __future__ import annotations

from dataclasses import dataclass

from app.networks.layers.base import LayerKind, Neuron, Place, Value

ELEMENTWISE = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")


@dataclass(kw_only=True)
class Source:
    layer: str
    channel: int


@dataclass(kw_only=True)
class ConcatValue(Value):
    source: Source | None = None


class ConcatenateKind(LayerKind):
    name = "Concatenate"

    def breakdown(self, place: Place) -> Neuron:
        where, graph = place.where, place.graph
        offset = where[-1]
        for src in place.node.inputs:
            n = graph.nodes[src].shape[-1]
            if offset < n:
                return ConcatValue(**place.common(),
                                   inputs=[float(place.outs[src][(*where[:-1], offset)])],
                                   source=Source(layer=graph.nodes[src].name, channel=offset),
                                   note="Concatenate is shown with the input it takes this "
                                   "channel from")
            offset -= n
        return Value(**place.common())


def merge_kind(name: str) -> LayerKind:
    return type(f"{name}Kind", (LayerKind,), {"name": name})()


KINDS: tuple[LayerKind, ...] = (ConcatenateKind(), *(merge_kind(n) for n in ELEMENTWISE))
