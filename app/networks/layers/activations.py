"""Activation layers (Activation, ReLU, LeakyReLU, ELU) and the activation functions Keras
names: each output number is one function of one input number, shown with its formula and
the numbers filled in. ReLU6, hard-sigmoid and hard-swish are what MobileNet and
MobileNetV3 use; the value computed here is checked against Keras' own output."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.formatting import fmt
from app.networks.layers.base import LayerKind, Neuron, Place, Value, activation_name


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= -700 else 0.0


def _relu6(x: float) -> float:
    return min(max(x, 0.0), 6.0)


# name → (formula in x, the function): Keras' definitions (keras/src/activations).
FUNCTIONS: dict[str, tuple[str, Callable[[float], float]]] = {
    "linear": ("x", lambda x: x),
    "relu": ("max(x, 0)", lambda x: max(x, 0.0)),
    "relu6": ("min(max(x, 0), 6)", _relu6),
    "sigmoid": ("1 / (1 + e^(−x))", _sigmoid),
    "hard_sigmoid": ("relu6(x + 3) / 6", lambda x: _relu6(x + 3) / 6),
    "hard_silu": ("x · relu6(x + 3) / 6", lambda x: x * _relu6(x + 3) / 6),
    "hard_swish": ("x · relu6(x + 3) / 6", lambda x: x * _relu6(x + 3) / 6),
    "silu": ("x · sigmoid(x)", lambda x: x * _sigmoid(x)),
    "swish": ("x · sigmoid(x)", lambda x: x * _sigmoid(x)),
    "tanh": ("tanh(x)", math.tanh),
    "elu": ("x if x > 0, else e^x − 1", lambda x: x if x > 0 else math.expm1(x)),
    "softplus": ("ln(1 + e^x)", lambda x: math.log1p(math.exp(-abs(x))) + max(x, 0.0)),
}


@dataclass(kw_only=True)
class FunctionValue(Value):
    """One number through one function: its formula, with the number filled in, and the
    value computed from it (equal to Keras' `output`)."""

    function: str
    formula: str
    computed: float | None = None

    view = "function"


def function_value(place: Place, name: str, formula: str,
                   fn: Callable[[float], float] | None) -> Neuron:
    x = float(place.src[place.where])
    computed = float(fn(x)) if fn is not None else None
    filled = re.sub(r"(?<![a-z_])x(?![a-z_])", f"({fmt(x)})", formula) if fn is not None else formula
    return FunctionValue(**place.common(), inputs=[x], function=name,
                         formula=f"{name}(x) = {formula}", computed=computed,
                         note=f"{name}({fmt(x)}) = {filled}")


class ActivationKind(LayerKind):
    name = "Activation"
    explains = True

    def breakdown(self, place: Place) -> Neuron:
        fn_name = activation_name(place.layer)
        if fn_name == "softmax":
            from app.networks.layers.core import SoftmaxKind

            return SoftmaxKind().breakdown(place)
        formula, fn = FUNCTIONS.get(fn_name, (f"{fn_name}(x)", None))
        return function_value(place, fn_name, formula, fn)


class ReLUKind(LayerKind):
    """Keras' ReLU layer: max_value (6 for ReLU6), negative_slope and threshold."""

    name = "ReLU"
    explains = True

    def breakdown(self, place: Place) -> Neuron:
        layer: Any = place.layer
        top = layer.max_value
        slope, threshold = float(layer.negative_slope), float(layer.threshold)
        if top is not None and float(top) == 6.0 and slope == 0 and threshold == 0:
            formula, fn = FUNCTIONS["relu6"]
            return function_value(place, "relu6", formula, fn)
        if top is None and slope == 0 and threshold == 0:
            formula, fn = FUNCTIONS["relu"]
            return function_value(place, "relu", formula, fn)

        def relu(x: float) -> float:
            y = x if x >= threshold else slope * (x - threshold)
            return min(y, float(top)) if top is not None else y

        parts = [f"x if x ≥ {fmt(threshold)}, else {fmt(slope)} · (x − {fmt(threshold)})"]
        if top is not None:
            parts.append(f"at most {fmt(float(top))}")
        return function_value(place, "relu", ", ".join(parts), relu)


class LeakyReLUKind(LayerKind):
    name = "LeakyReLU"
    explains = True

    def breakdown(self, place: Place) -> Neuron:
        slope = float(getattr(place.layer, "negative_slope", 0.3))
        return function_value(place, "leaky_relu", f"x if x ≥ 0, else {fmt(slope)} · x",
                              lambda x: x if x >= 0 else slope * x)


class ELUKind(LayerKind):
    name = "ELU"
    explains = True

    def breakdown(self, place: Place) -> Neuron:
        alpha = float(getattr(place.layer, "alpha", 1.0))
        return function_value(place, "elu", f"x if x > 0, else {fmt(alpha)} · (e^x − 1)",
                              lambda x: x if x > 0 else alpha * math.expm1(x))


def check_functions() -> None:
    """The formulas' functions agree with Keras' on a few numbers (tests call this)."""
    import keras

    xs = np.linspace(-8, 8, 33).astype(np.float32)
    for name, (_, fn) in FUNCTIONS.items():
        want = np.asarray(keras.activations.get(name)(xs), dtype=np.float64)
        got = np.array([fn(float(x)) for x in xs])
        assert np.allclose(got, want, atol=1e-5), name


KINDS: tuple[LayerKind, ...] = (ActivationKind(), ReLUKind(), LeakyReLUKind(), ELUKind())
