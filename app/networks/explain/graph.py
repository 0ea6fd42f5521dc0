"""A model as a graph Explain can walk: one node per layer (index 0: the model's input),
each with the nodes it reads, its output shape, its weights and its description
(app/networks/layers), and the regions of the input that reach any place of it.

Nothing here dispatches on a layer's name: what a layer does to a region is its kind's
`back`, what one number of it means is its kind's `breakdown`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from app.errors import InvalidInput
from app.networks.layers import LayerKind, kind_of, operations_of
from app.networks.layers.base import Field2D, Operand, Region
from app.networks.layers.core import IDENTITY_AT_INFERENCE


@dataclass(frozen=True)
class Node:
    """One layer or operation of the graph (index 0: the model's input)."""

    index: int
    name: str
    type: str
    layer: Any
    inputs: tuple[int, ...]
    shape: tuple[int, ...]  # without the batch axis
    operands: tuple[Operand, ...] = ()  # what it was called with, constants included
    module: str = "keras.layers"

    @property
    def spatial(self) -> bool:
        return len(self.shape) == 3

    @property
    def kind(self) -> LayerKind:
        return kind_of(self.type, self.module)


def _inputs_of(layer: Any) -> list[Any]:
    tensors = layer.input
    return list(tensors) if isinstance(tensors, list | tuple) else [tensors]


def _flat(args: Any) -> list[Any]:
    if isinstance(args, list | tuple):
        return [a for arg in args for a in _flat(arg)]
    return [args]


def _operands(op: Any, index_of: dict[int, int]) -> tuple[Operand, ...]:
    """The node's call arguments: tensors as the nodes they come from, numbers as they are."""
    nodes = getattr(op, "_inbound_nodes", None)
    if not nodes:
        return ()
    out = []
    for arg in _flat(nodes[0].arguments.args):
        history = getattr(arg, "_keras_history", None)
        if history is not None:
            out.append(Operand(index_of[id(history.operation)]))
        elif isinstance(arg, int | float) and not isinstance(arg, bool):
            out.append(Operand(None, float(arg)))
    return tuple(out)


class Graph:
    def __init__(self, model: Any, input_shape: tuple[int, int, int], model_id: str) -> None:
        self.model_id = model_id
        self.input_shape = input_shape
        source = model.inputs[0]._keras_history.operation
        index_of = {id(source): 0}
        nodes = [Node(0, source.name, "InputLayer", None, (), tuple(input_shape))]
        for layer in operations_of(model):  # layers and operation nodes (`x + 3`), in order
            if layer is source or type(layer).__name__ == "InputLayer":
                continue
            srcs = tuple(index_of[id(t._keras_history.operation)] for t in _inputs_of(layer))
            index_of[id(layer)] = len(nodes)
            module = type(layer).__module__
            nodes.append(Node(len(nodes), layer.name, type(layer).__name__, layer, srcs,
                              tuple(int(d) for d in layer.output.shape[1:]),
                              _operands(layer, index_of),
                              module if module.startswith("keras.src.ops") else "keras.layers"))
        self.nodes = nodes
        self.by_name = {n.name: n for n in nodes}
        self.output_index = index_of[id(model.outputs[0]._keras_history.operation)]
        self.weights = {n.index: [np.asarray(w) for w in n.layer.get_weights()]
                        if hasattr(n.layer, "get_weights") else [] for n in nodes[1:]}
        self._centres: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def node(self, name: str) -> Node:
        found = self.by_name.get(name)
        if found is None:
            names = ", ".join(n.name for n in self.nodes)
            raise InvalidInput("layer", f"no layer named {name[:64]!r} in {self.model_id}; its "
                               f"layers are {names}"[:800])
        return found

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

    # ------------------------------------------------------------------ fields

    def back(self, node: Node, src: int, region: Region | None) -> Region | None:
        """A region of node's output → the region of input `src` it is computed from."""
        shape = self.nodes[src].shape
        if region is None or not node.spatial or len(shape) != 3:
            return None
        return node.kind.back(node.layer, shape, region)

    def receptive_field(self, node: Node, cell: tuple[int, int]) -> Field2D:
        """The cell's field in the layer's (first) input, clipped to it."""
        region = self.back(node, node.inputs[0], (cell[0], cell[0], cell[1], cell[1]))
        if region is None:
            return Field2D([0, 0], [0, 0])
        return Field2D.of(region)

    def input_field(self, index: int, region: Region | None) -> Field2D:
        """The region of the model's input that can affect this region of node `index`."""
        found = self._field(index, region)
        h, w = self.input_shape[:2]
        return Field2D.of(found if found is not None else (0, h - 1, 0, w - 1))

    def _field(self, index: int, region: Region | None) -> Region | None:
        """The input region node `index`'s region depends on (None: all of it), walked back
        once through the graph (nodes are in order: inputs come first), so a graph with
        many branches and merges costs one pass, not one per path."""
        if index == 0:
            return region
        pending: dict[int, Region | None] = {index: region}
        for i in range(index, 0, -1):
            if i not in pending:
                continue
            here = pending.pop(i)
            node = self.nodes[i]
            for src in node.inputs:
                back = self.back(node, src, here) if here is not None else None
                if back is not None and (back[0] > back[1] or back[2] > back[3]):
                    continue  # nothing of this input reaches it (zero padding)
                if src in pending and (pending[src] is None or back is None):
                    pending[src] = None
                elif src in pending:
                    a, b = pending[src], back
                    assert a is not None and b is not None
                    pending[src] = (min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]),
                                    max(a[3], b[3]))
                else:
                    pending[src] = back
        return pending.get(0, (0, -1, 0, -1))

    def centres(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Where each row and each column of node `index` is centred on the model's input."""
        if index not in self._centres:
            h, w = self.nodes[index].shape[:2]
            self._centres[index] = (
                np.array([sum(self.input_field(index, (r, r, 0, 0)).rows) / 2 for r in range(h)]),
                np.array([sum(self.input_field(index, (0, 0, c, c)).cols) / 2 for c in range(w)]))
        return self._centres[index]

    def dense_sources(self, node: Node) -> tuple[int, int | None]:
        """The node a Dense layer's inputs come from (through layers that pass their input on
        at inference), and the 3-D node behind a Flatten there, if any."""
        src = self.nodes[node.inputs[0]]
        while src.type in IDENTITY_AT_INFERENCE and src.inputs:
            src = self.nodes[src.inputs[0]]
        if src.type == "Flatten" and src.inputs:
            behind = self.nodes[src.inputs[0]]
            return src.index, behind.index if behind.spatial else None
        return src.index, None
