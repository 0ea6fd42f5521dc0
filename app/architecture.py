"""The architecture spec: JSON that mirrors Keras layer classes and their arguments.

`check` walks the layers computing each output shape and parameter count the way
Keras does, so an impossible model is refused with the layer's position and the
problem before anything is built; `build_model` then makes the Keras model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.errors import InvalidInput, LimitExceeded

Activation = Literal["relu", "sigmoid", "tanh", "softmax", "linear", "elu", "selu", "gelu",
                     "swish", "softplus", "leaky_relu"]
Padding = Literal["valid", "same"]
PositiveInt = Annotated[int, Field(ge=1, le=4096)]
IntPair = PositiveInt | tuple[PositiveInt, PositiveInt]


def _pair(v: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


class _Layer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


class Conv2D(_Layer):
    type: Literal["Conv2D"]
    filters: PositiveInt
    kernel_size: IntPair
    strides: IntPair = 1
    padding: Padding = "valid"
    activation: Activation | None = None
    use_bias: bool = True


class _Pool(_Layer):
    pool_size: IntPair = 2
    strides: IntPair | None = None
    padding: Padding = "valid"


class MaxPooling2D(_Pool):
    type: Literal["MaxPooling2D"]


class AveragePooling2D(_Pool):
    type: Literal["AveragePooling2D"]


class Dropout(_Layer):
    type: Literal["Dropout"]
    rate: float = Field(ge=0, lt=1)


class Flatten(_Layer):
    type: Literal["Flatten"]


class Dense(_Layer):
    type: Literal["Dense"]
    units: PositiveInt
    activation: Activation | None = None
    use_bias: bool = True


class BatchNormalization(_Layer):
    type: Literal["BatchNormalization"]
    momentum: float = Field(0.99, gt=0, lt=1)
    epsilon: float = Field(0.001, gt=0, le=1)


class GlobalAveragePooling2D(_Layer):
    type: Literal["GlobalAveragePooling2D"]


LayerSpec = Annotated[
    Conv2D | MaxPooling2D | AveragePooling2D | Dropout | Flatten | Dense | BatchNormalization
    | GlobalAveragePooling2D,
    Field(discriminator="type"),
]


class ArchitectureSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("model", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    input_shape: tuple[PositiveInt, PositiveInt, PositiveInt]
    layers: list[LayerSpec] = Field(min_length=1)

    @field_validator("input_shape")
    @classmethod
    def _channels(cls, v: tuple[int, int, int]) -> tuple[int, int, int]:
        if v[2] > 4:
            raise ValueError("the last axis is channels: 1 (grayscale) to 4")
        return v


@dataclass(frozen=True)
class LayerSummary:
    name: str
    type: str
    output_shape: tuple[int | None, ...]
    params: int
    trainable: int


@dataclass(frozen=True)
class Summary:
    layers: list[LayerSummary]

    @property
    def total_params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def trainable_params(self) -> int:
        return sum(layer.trainable for layer in self.layers)


def _snake(type_name: str) -> str:
    out = "".join("_" + c.lower() if c.isupper() else c for c in type_name).lstrip("_")
    return out.replace("2_d", "2d")


def _conv_out(n: int, k: int, s: int, padding: str) -> int:
    return math.ceil(n / s) if padding == "same" else (n - k) // s + 1


def check(spec: ArchitectureSpec, max_layers: int = 50, max_params: int = 5_000_000) -> Summary:
    """Output shape and parameters per layer, as Keras' model.summary() counts them."""
    if len(spec.layers) > max_layers:
        raise LimitExceeded("layers", f"{len(spec.layers)} layers is over the limit of {max_layers}")
    shape: tuple[int, ...] = tuple(spec.input_shape)
    counts: dict[str, int] = {}
    names: set[str] = set()
    rows: list[LayerSummary] = []
    for i, layer in enumerate(spec.layers):
        where = f"layers.{i}"

        def bad(msg: str, where: str = where, layer=layer) -> InvalidInput:
            return InvalidInput(where, f"layer {where.split('.')[1]} ({layer.type}): {msg}")

        params = trainable = 0
        spatial = isinstance(layer, Conv2D | MaxPooling2D | AveragePooling2D | GlobalAveragePooling2D)
        if spatial and len(shape) != 3:
            raise bad(f"needs a 3-D input (height, width, channels), got {shape}; "
                          "it cannot follow Flatten, Dense or global pooling")
        h = w = c = 0
        if len(shape) == 3:
            h, w, c = shape
        if isinstance(layer, Conv2D):
            kh, kw = _pair(layer.kernel_size)
            sh, sw = _pair(layer.strides)
            if layer.padding == "valid" and (kh > h or kw > w):
                raise bad(f"kernel {kh}×{kw} is larger than its {h}×{w} input; use a smaller "
                          'kernel or padding "same"')
            shape = (_conv_out(h, kh, sh, layer.padding), _conv_out(w, kw, sw, layer.padding),
                     layer.filters)
            params = trainable = kh * kw * c * layer.filters + (layer.filters if layer.use_bias else 0)
        elif isinstance(layer, MaxPooling2D | AveragePooling2D):
            ph, pw = _pair(layer.pool_size)
            sh, sw = _pair(layer.strides if layer.strides is not None else layer.pool_size)
            if layer.padding == "valid" and (ph > h or pw > w):
                raise bad(f"pool {ph}×{pw} is larger than its {h}×{w} input")
            shape = (_conv_out(h, ph, sh, layer.padding), _conv_out(w, pw, sw, layer.padding), c)
        elif isinstance(layer, GlobalAveragePooling2D):
            shape = (c,)
        elif isinstance(layer, Flatten):
            shape = (math.prod(shape),)
        elif isinstance(layer, Dense):
            params = trainable = shape[-1] * layer.units + (layer.units if layer.use_bias else 0)
            shape = (*shape[:-1], layer.units)
        elif isinstance(layer, BatchNormalization):
            params, trainable = 4 * shape[-1], 2 * shape[-1]
        if any(d <= 0 for d in shape):
            raise bad(f"its output would be {shape}: the input is too small for it")
        base = _snake(layer.type)
        name = layer.name
        if name is None:
            n = counts.get(base, 0)
            counts[base] = n + 1
            name = base if n == 0 else f"{base}_{n}"
        if name in names:
            raise bad(f"the name {name!r} is used twice")
        names.add(name)
        rows.append(LayerSummary(name, layer.type, (None, *shape), params, trainable))
    summary = Summary(rows)
    if summary.total_params > max_params:
        raise LimitExceeded("layers", f"{summary.total_params:,} parameters is over the limit of "
                            f"{max_params:,}")
    return summary


def build_model(spec: ArchitectureSpec, summary: Summary | None = None):
    """The Keras model for a spec (checked first, so nothing impossible is ever built)."""
    import keras

    summary = summary or check(spec)
    inputs = keras.Input(shape=spec.input_shape, name="image")
    x = inputs
    for layer, row in zip(spec.layers, summary.layers, strict=True):
        args = layer.model_dump(exclude={"type", "name"}, exclude_none=False)
        if layer.type in ("MaxPooling2D", "AveragePooling2D") and args.get("strides") is None:
            args.pop("strides")
        x = getattr(keras.layers, layer.type)(name=row.name, **args)(x)
    return keras.Model(inputs, x, name=spec.name)
