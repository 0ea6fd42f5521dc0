"""A model's graph as rows a learner can read, from the input down to the prediction.

Deep models are built from repeated blocks, and Keras names their layers after them
(`block_3_expand`, `block_3_depthwise_BN`, `expanded_conv_1_project`, `block1a_se_reduce`,
`conv2_block1_0_bn`). Consecutive layers that share such a prefix become one block row,
collapsed in a large graph (its channels are drawn only when it is opened), so the path
from the input to the prediction stays on one screen. Operation nodes and layers Keras named
on its own (`add_3`, `re_lu_1`) inside a block belong to it. Each row knows the rows its
inputs come from, so branches (a skip connection) and merges (Add, Multiply, Concatenate)
can be drawn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from app.networks.explain.graph import Graph, Node

COLLAPSE_OVER = 40  # nodes: a graph larger than this shows its blocks collapsed
MIN_BLOCK = 3  # consecutive layers with one prefix, at least, to make a block
_DIGITS = re.compile(r"\d")
_LETTERS_DIGITS = re.compile(r"^[A-Za-z]+\d+[A-Za-z]?$")


def block_key(name: str) -> str | None:
    """The block a layer's name says it belongs to, if any: its name up to its first part
    with a digit (and one more such part: `conv2_block1`), or, with no digit, its first two
    parts when it has three or more (`expanded_conv_depthwise`)."""
    parts = name.split("_")
    for i, part in enumerate(parts):
        if _DIGITS.search(part):
            end = i + 2 if i + 1 < len(parts) - 1 and _LETTERS_DIGITS.match(parts[i + 1]) else i + 1
            return "_".join(parts[:end])
    return "_".join(parts[:2]) if len(parts) >= 3 else None


@dataclass
class Row:
    """A node of the graph, or a block of consecutive nodes."""

    index: int  # the (first) node's index
    name: str
    nodes: list[Node]
    block: bool
    inputs: list[str] = field(default_factory=list)  # the rows it reads, by name
    merge: bool = False  # more than one input
    skip: bool = False  # an input that is not the row just above

    @property
    def node(self) -> Node:
        return self.nodes[0]

    @property
    def types(self) -> list[tuple[str, int]]:
        counts: dict[str, int] = {}
        for n in self.nodes:
            counts[n.type] = counts.get(n.type, 0) + 1
        return sorted(counts.items(), key=lambda kv: -kv[1])

    @property
    def shapes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return self.nodes[0].shape, self.nodes[-1].shape


def _keys(graph: Graph) -> list[str | None]:
    """Each node's block key, with unnamed nodes inside a block given that block's key."""
    keys = [None] + [block_key(n.name) for n in graph.nodes[1:]]
    counts: dict[str | None, int] = {}
    for k in keys:
        counts[k] = counts.get(k, 0) + 1
    keys = [k if k is not None and counts[k] >= MIN_BLOCK else None for k in keys]
    last: str | None = None
    for i in range(1, len(keys)):
        if keys[i] is None and last is not None:
            following = next((k for k in keys[i + 1:] if k is not None), None)
            keys[i] = last if following == last else None
        if keys[i] is not None:
            last = keys[i]
    return keys


def outline(graph: Graph) -> list[Row]:
    """The graph's rows, in order (the input first)."""
    keys = _keys(graph)
    rows: list[Row] = []
    i = 0
    while i < len(graph.nodes):
        j = i + 1
        while keys[i] is not None and j < len(graph.nodes) and keys[j] == keys[i]:
            j += 1
        nodes = graph.nodes[i:j]
        name = keys[i] if len(nodes) >= MIN_BLOCK and keys[i] else nodes[0].name
        if len(nodes) < MIN_BLOCK:  # too short for a block: one row each
            rows.extend(Row(n.index, n.name, [n], False) for n in nodes)
        else:
            rows.append(Row(nodes[0].index, str(name), nodes, True))
        i = j
    _connect(graph, rows)
    return rows


def _connect(graph: Graph, rows: list[Row]) -> None:
    """Each row's inputs from outside it, as rows; merges and skips marked."""
    row_of: dict[int, Row] = {n.index: r for r in rows for n in r.nodes}
    for k, row in enumerate(rows):
        members = {n.index for n in row.nodes}
        sources: list[Row] = []
        for n in row.nodes:
            for s in n.inputs:
                src = row_of[s]
                if s not in members and src not in sources:
                    sources.append(src)
        row.inputs = [s.name for s in sources]
        row.merge = len(sources) > 1 or any(len(n.inputs) > 1 for n in row.nodes)
        row.skip = any(s is not rows[k - 1] for s in sources) if k else False


def collapsed(graph: Graph) -> bool:
    return len(graph.nodes) > COLLAPSE_OVER
