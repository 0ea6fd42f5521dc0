"""What every layer description has, as Keras' own source gives each layer class its
arguments and shape maths (`keras/src/layers/convolutional/base_conv.py`).

A Keras layer class is described once, by a `LayerKind`: whether an uploaded model may
contain it, how a region of its output maps back to its inputs (receptive fields), and
how one number of its output is computed (its Explain breakdown, a typed `Neuron` that
the page and the API only render). Layers a learner can build also have a spec class (a
`Layer`, below): their arguments with Keras' names and defaults, their output shape and
parameters as Keras counts them, and the fields the Model Builder shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from app.geometry import Axis, pair

if TYPE_CHECKING:
    from app.networks.explain.graph import Graph, Node

Activation = Literal["relu", "sigmoid", "tanh", "softmax", "linear", "elu", "selu", "gelu",
                     "swish", "softplus", "leaky_relu"]
Padding = Literal["valid", "same"]
# Strict: JSON `true` or "3" is not a number of filters (the schema says integer).
PositiveInt = Annotated[int, Field(ge=1, le=4096, strict=True)]
IntPair = PositiveInt | tuple[PositiveInt, PositiveInt]
Shape = tuple[int, ...]
NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"

# How the builder shows an argument: an integer, a pair ("3,3"), an optional pair, a
# float, the padding choice, the activation choice, a factor (one number or a "lower,
# upper" pair of numbers), or a choice among the layer's `choices` for that argument.
FieldKind = Literal["int", "pair", "pair?", "float", "padding", "activation", "factor", "choice"]
SIZE_KINDS = ("pair", "pair?")
# A region of a 3-D output: (first row, last row, first col, last col); None: all of it.
Region = tuple[int, int, int, int]


class LayerProblem(ValueError):
    """Why a layer cannot take the shape it is given."""


# ------------------------------------------------------------------------- the spec


class Layer(BaseModel):
    """One layer of an architecture spec. Subclasses set `type`, their arguments, and
    override the shape and parameter rules where the layer changes them."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, pattern=NAME_PATTERN)

    builder_fields: ClassVar[tuple[tuple[str, FieldKind], ...]] = ()
    choices: ClassVar[dict[str, tuple[str, ...]]] = {}  # the options of "choice" fields
    starter: ClassVar[dict[str, Any]] = {}  # the arguments of a newly added layer
    spatial: ClassVar[bool] = False  # needs a (height, width, channels) input
    # Arguments Keras leaves unset meaning another one's value (pooling strides: the pool).
    defaults_from: ClassVar[dict[str, str]] = {}

    @property
    def kind(self) -> str:
        return str(getattr(self, "type"))  # noqa: B009  (set by every subclass)

    def output_shape(self, shape: Shape) -> Shape:
        return shape

    def params(self, shape: Shape) -> tuple[int, int]:
        """(all parameters, trainable ones) for this input shape."""
        return 0, 0

    def keras_arguments(self) -> dict[str, Any]:
        return self.model_dump(exclude={"type", "name"})

    def canonical(self) -> dict[str, Any]:
        """The layer as Keras sees it: every argument with Keras' default filled in, sizes as
        [height, width], no activation written "linear" as Keras writes it, so that
        `kernel_size=3` and `kernel_size=[3, 3]` are the same layer (the name is a label)."""
        args = self.model_dump(mode="json", exclude={"name"})
        for arg, source in self.defaults_from.items():
            if args.get(arg) is None:
                args[arg] = args.get(source)
        for arg, field_kind in self.builder_fields:
            if field_kind in SIZE_KINDS and args.get(arg) is not None:
                args[arg] = list(pair(args[arg]))
        if "activation" in args and args["activation"] is None:
            args["activation"] = "linear"
        return {"type": args.pop("type", self.kind), **args}


# ---------------------------------------------------------------- Explain's typed results


@dataclass(frozen=True)
class Field2D:
    """A rectangle of rows and columns, [first, last] each."""

    rows: list[int]
    cols: list[int]

    @classmethod
    def of(cls, region: Region) -> Field2D:
        return cls([region[0], region[1]], [region[2], region[3]])


@dataclass(kw_only=True)
class Neuron:
    """How one output number of one layer comes about. Each layer kind returns its own
    subclass; `view` names the part of the page that shows it."""

    layer: str
    type: str
    channel: int
    cell: list[int] | None
    output: float = field(metadata={"doc": "The Keras layer's output at this place."})
    receptive_field: Field2D | None = None
    input_field: Field2D | None = None
    note: str | None = None

    view: ClassVar[str] = "value"


@dataclass(kw_only=True)
class Value(Neuron):
    """A layer that is not broken down: its value, and its inputs at the same place."""

    inputs: list[float] | None = None
    position: list[int] | None = None


# ------------------------------------------------------------------- the description


@dataclass(frozen=True)
class Operand:
    """One argument a node was called with: another node's output (its index) or a
    constant written in the model (`x + 3.0`)."""

    node: int | None
    value: Any = None



@dataclass
class Place:
    """One output number of a node, with what a breakdown reads: every node's output for
    this input (`outs`, without the batch axis), the graph, and where."""

    graph: Graph
    node: Node
    outs: list[np.ndarray]
    channel: int
    cell: tuple[int, int] | None

    @property
    def layer(self) -> Any:
        return self.node.layer

    @property
    def src(self) -> np.ndarray:
        """The (first) input's output."""
        return self.outs[self.node.inputs[0]] if self.node.inputs else self.outs[0]

    @property
    def where(self) -> tuple[int, ...]:
        return (self.cell[0], self.cell[1], self.channel) if self.cell is not None else (self.channel,)

    @property
    def weights(self) -> list[np.ndarray]:
        return self.graph.weights[self.node.index]

    def common(self) -> dict[str, Any]:
        """The fields every `Neuron` has, for a subclass to be made with."""
        return {"layer": self.node.name, "type": self.node.type, "channel": self.channel,
                "cell": list(self.cell) if self.cell is not None else None,
                "output": float(self.outs[self.node.index][self.where])}


def activation_name(layer: Any) -> str:
    fn = getattr(layer, "activation", None)
    return str(getattr(fn, "__name__", "linear")) if fn is not None else "linear"


def activate(layer: Any, values: np.ndarray) -> list[float]:
    """The layer's own activation function on these numbers (Keras computes it)."""
    fn = getattr(layer, "activation", None)
    if fn is None:
        return [float(v) for v in values]
    return [float(v) for v in np.asarray(fn(values.astype(np.float32))).reshape(-1)]


def bias_of(layer: Any, weights: list[np.ndarray], channel: int) -> float:
    return float(weights[-1][channel]) if bool(getattr(layer, "use_bias", False)) else 0.0


def fsum(values: np.ndarray | list[float]) -> float:
    return math.fsum(np.asarray(values, dtype=np.float64).ravel().tolist())


class LayerKind:
    """A Keras layer class as the playground knows it. The default: a layer whose output at
    a place is computed from its inputs at the same place (an activation, a merge,
    dropout at inference), shown with those inputs."""

    name: ClassVar[str] = ""
    spec: ClassVar[type[Layer] | None] = None  # buildable in the Model Builder
    uploadable: ClassVar[bool] = True  # may be in an uploaded model
    map_layer: ClassVar[bool] = False  # Draw shows its maps (convolutions and pooling)
    explains: ClassVar[bool] = False  # the neuron view breaks its numbers down
    pooling: ClassVar[bool] = False  # summarises windows of a map (not Grad-CAM's layer)
    passes_input: ClassVar[bool] = False  # at inference its output is its input
    # Accepted in an upload only with these arguments, each of this kind of plain value
    # (app/networks/uploads/arguments.py); None: the general checks of every argument.
    plain: ClassVar[dict[str, str] | None] = None
    note: ClassVar[str] = ""  # what the neuron view says about it

    def axes(self, layer: Any, src_shape: Shape) -> tuple[Axis, Axis] | None:
        """The sliding window's rows and columns, for layers that slide one."""
        return None

    @property
    def windowed(self) -> bool:
        return type(self).axes is not LayerKind.axes

    def back(self, layer: Any, src_shape: Shape, region: Region) -> Region:
        """A region of the output → the region of an input it is computed from."""
        return (max(region[0], 0), min(region[1], src_shape[0] - 1),
                max(region[2], 0), min(region[3], src_shape[1] - 1))

    def breakdown(self, place: Place) -> Neuron:
        node = place.node
        note = self.note or (f"{node.type} is shown with its inputs at this place; it is not "
                             "broken down further")
        inputs = None
        if all(place.graph.nodes[s].shape == node.shape for s in node.inputs):
            inputs = [float(place.outs[s][place.where]) for s in node.inputs]
        return Value(**place.common(), note=note, inputs=inputs)
