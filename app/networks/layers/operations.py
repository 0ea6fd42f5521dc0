"""Keras operations that appear in a model's graph as nodes of their own (MobileNetV3's
hard-sigmoid is `relu6(x + 3) * (1 / 6)`, written with `+` and `*` on Keras tensors).

Only pure element-wise arithmetic and activation functions are accepted from an upload:
each computes one number from the numbers at the same place of its inputs (or from a
constant written in the file), so it cannot read files, run code or allocate beyond its
input's size. Anything else an operation node could be (a slice, a reshape, a reduction, a
custom op) is refused by name.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.formatting import fmt
from app.networks.layers.activations import FUNCTIONS, function_value
from app.networks.layers.base import LayerKind, Neuron, Place, Value

NUMPY = "keras.src.ops.numpy"
NN = "keras.src.ops.nn"
OP_MODULES = (NUMPY, NN)

# Two operands (tensors or constants), combined place by place (with broadcasting).
BINARY: dict[str, tuple[str, Callable[[float, float], float]]] = {
    "Add": ("+", operator.add), "Subtract": ("−", operator.sub),
    "Multiply": ("·", operator.mul), "Divide": ("/", operator.truediv),
    "TrueDivide": ("/", operator.truediv), "Maximum": ("max", max), "Minimum": ("min", min),
}
# One operand, one function.
UNARY: dict[str, tuple[str, Callable[[float], float]]] = {
    "Negative": ("−x", operator.neg), "Abs": ("|x|", abs), "Square": ("x²", lambda x: x * x),
    "Sqrt": ("√x", math.sqrt),
}
# Keras' nn ops, by the activation they compute (app/networks/layers/activations.py).
ACTIVATION_OPS = {"Relu": "relu", "Relu6": "relu6", "Sigmoid": "sigmoid",
                  "HardSigmoid": "hard_sigmoid", "HardSilu": "hard_silu", "Silu": "silu",
                  "Tanh": "tanh", "Softplus": "softplus", "Elu": "elu"}


@dataclass(kw_only=True)
class OperationValue(Value):
    formula: str
    computed: float | None = None

    view = "function"


def at(array: np.ndarray, where: tuple[int, ...]) -> float:
    """The number of `array` that broadcasting puts at `where` (of a larger shape)."""
    shape = array.shape
    where = where[len(where) - len(shape):] if len(shape) < len(where) else where
    return float(array[tuple(0 if d == 1 else w for w, d in zip(where, shape, strict=True))])


def operand_values(place: Place) -> list[float]:
    """Each operand of the node at this place: a tensor's number there, or the constant."""
    return [at(place.outs[o.node], place.where) if o.node is not None else float(o.value)
            for o in place.node.operands]


class _Operation(LayerKind):
    explains = True
    module = NUMPY
    op = ""
    plain = {}  # an operation node's config holds its name only

    def label(self) -> str:
        return f"{self.op} (operation)"


class BinaryOp(_Operation):
    def breakdown(self, place: Place) -> Neuron:
        symbol, fn = BINARY[self.op]
        values = operand_values(place)
        if len(values) != 2:
            return Value(**place.common(), inputs=values)
        a, b = values
        text = (f"{symbol}({fmt(a)}, {fmt(b)})" if symbol.isalpha()
                else f"{fmt(a)} {symbol} {fmt(b)}")
        computed = float(np.float32(fn(a, b)))
        return OperationValue(**place.common(), inputs=values, formula=text, computed=computed,
                              note=f"{text} = {fmt(computed)}")


class UnaryOp(_Operation):
    def breakdown(self, place: Place) -> Neuron:
        symbol, fn = UNARY[self.op]
        (x,) = operand_values(place)[:1]
        return OperationValue(**place.common(), inputs=[x], formula=symbol.replace("x", fmt(x)),
                              computed=float(fn(x)))


class ActivationOp(_Operation):
    module = NN

    def breakdown(self, place: Place) -> Neuron:
        name = ACTIVATION_OPS[self.op]
        formula, fn = FUNCTIONS[name]
        return function_value(place, name, formula, fn)


def _kind(base: type[_Operation], module: str, op: str) -> LayerKind:
    return type(f"{op}Op", (base,), {"name": f"{module}.{op}", "module": module, "op": op})()


KINDS: tuple[LayerKind, ...] = (
    *(_kind(BinaryOp, NUMPY, op) for op in BINARY),
    *(_kind(UnaryOp, NUMPY, op) for op in UNARY),
    *(_kind(ActivationOp, NN, op) for op in ACTIVATION_OPS),
)


def accepted() -> list[str]:
    """The operations an upload may hold, as Keras names them."""
    return sorted(kind.name for kind in KINDS)


def is_operation(kind: Any) -> bool:
    return isinstance(kind, _Operation)
