"""Finding what a request names in a model: a layer with spatial maps and one of its
channels (404 naming an unknown one; 422 naming the layers that have maps), the last
hidden layer (the embedding's default), and a class."""

from __future__ import annotations

from app.errors import InvalidInput, NotFound
from app.networks.explain.graph import Graph, Node
from app.networks.layers.core import IDENTITY_AT_INFERENCE


class UnknownLayer(NotFound):
    """No layer of that name in the model."""


def map_layers(graph: Graph) -> list[Node]:
    """The layers whose outputs are spatial maps (H×W×C), in order, the input left out."""
    return [n for n in graph.nodes[1:] if n.spatial]


def layer(graph: Graph, name: str, field: str = "path.layer") -> Node:
    found = graph.by_name.get(name)
    if found is None or found.index == 0:
        names = ", ".join(n.name for n in graph.nodes[1:])
        raise UnknownLayer(field, f"no layer named {name[:64]!r} in {graph.model_id}; its layers "
                           f"are {names}"[:800])
    return found


def map_layer(graph: Graph, name: str, field: str = "path.layer") -> Node:
    """A layer with spatial maps, by name."""
    node = layer(graph, name, field)
    if not node.spatial:
        having = ", ".join(n.name for n in map_layers(graph)) or "none"
        raise InvalidInput(field, f"{node.name} ({node.type}) outputs {list(node.shape)}, not "
                           f"spatial maps; the layers of {graph.model_id} that have them: "
                           f"{having}"[:800])
    return node


def channel(node: Node, channel: int, field: str = "path.channel") -> int:
    channels = node.shape[-1]
    if not 0 <= channel < channels:
        raise NotFound(field, f"{node.name} has no channel {channel}: it has {channels} "
                       f"(0 to {channels - 1})")
    return channel


def hidden_layer(graph: Graph) -> Node:
    """The last hidden layer: what the output layer reads, through layers that pass their
    input on at inference (Dropout); the input itself for a model with no hidden layer."""
    node = graph.nodes[graph.output_index]
    if node.type in ("Softmax", "Activation") and node.inputs:  # a softmax after the logits
        node = graph.nodes[node.inputs[0]]
    src = graph.nodes[node.inputs[0]] if node.inputs else node
    while src.type in IDENTITY_AT_INFERENCE and src.inputs:
        src = graph.nodes[src.inputs[0]]
    return src


def check_class(k: int, classes: int, model_id: str, field: str = "class") -> int:
    if not 0 <= k < classes:
        raise InvalidInput(field, f"{k} is out of range: {model_id} has {classes} classes "
                           f"(0 to {classes - 1})")
    return k
