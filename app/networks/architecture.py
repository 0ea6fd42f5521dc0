"""The architecture spec: JSON that mirrors Keras layer classes and their arguments.

Each layer type's spec class (app/networks/layers) holds everything about it: its Keras
arguments (with Keras' names and defaults), its output shape and parameter count (as Keras
counts them), and the fields the Model Builder lets a learner edit. `check` walks the
layers with those, so an impossible model is refused with the layer's position and the
problem before anything is built; `build_model` then makes the Keras model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from app.errors import InvalidInput, LimitExceeded
from app.networks.layers import LayerProblem, LayerSpec
from app.networks.layers.base import PositiveInt

Shape = tuple[int, ...]
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class ArchitectureSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("model", pattern=MODEL_NAME_PATTERN)
    input_shape: tuple[PositiveInt, PositiveInt, Annotated[int, Field(ge=1, le=4, strict=True)]] = Field(
        description="(height, width, channels); channels 1 (grayscale) to 4.")
    layers: list[LayerSpec] = Field(min_length=1, max_length=50)  # CNNPG_MAX_LAYERS may be lower


@dataclass(frozen=True)
class LayerSummary:
    name: str
    type: str
    output_shape: tuple[int | None, ...]
    params: int
    trainable: int
    input_shape: Shape = ()


@dataclass(frozen=True)
class Summary:
    layers: list[LayerSummary]

    @property
    def total_params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def trainable_params(self) -> int:
        return sum(layer.trainable for layer in self.layers)

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params


def snake_name(type_name: str) -> str:
    """Keras' automatic layer name: Conv2D → conv2d, MaxPooling2D → max_pooling2d."""
    out = "".join("_" + c.lower() if c.isupper() else c for c in type_name).lstrip("_")
    return out.replace("2_d", "2d")


def check(spec: ArchitectureSpec, max_layers: int = 50, max_params: int = 5_000_000) -> Summary:
    """Output shape and parameters per layer, as Keras' model.summary() counts them."""
    if len(spec.layers) > max_layers:
        raise LimitExceeded("layers", f"{len(spec.layers)} layers is over the limit of {max_layers}")
    shape: Shape = tuple(spec.input_shape)
    counts: dict[str, int] = {}
    names: set[str] = set()
    rows: list[LayerSummary] = []
    for i, layer in enumerate(spec.layers):
        where = f"layers.{i}"
        try:
            if layer.spatial and len(shape) != 3:
                raise LayerProblem(f"needs a 3-D input (height, width, channels), got {shape}; "
                                   "it cannot follow Flatten, Dense or global pooling")
            out = layer.output_shape(shape)
            if any(d <= 0 for d in out):
                raise LayerProblem(f"its output would be {out}: the input is too small for it")
            name = layer.name
            if name is None:
                base = snake_name(layer.kind)
                n = counts.get(base, 0)
                counts[base] = n + 1
                name = base if n == 0 else f"{base}_{n}"
            if name in names:
                raise LayerProblem(f"the name {name!r} is used twice")
        except LayerProblem as problem:
            # The field is the JSON index (layers.0); the words count from 1, as people do.
            raise InvalidInput(where, f"layer {i + 1} ({layer.kind}): {problem}") from None
        names.add(name)
        params, trainable = layer.params(shape)
        rows.append(LayerSummary(name, layer.kind, (None, *out), params, trainable, shape))
        shape = out
    summary = Summary(rows)
    if summary.total_params > max_params:
        raise LimitExceeded("layers", f"{summary.total_params:,} parameters is over the limit of "
                            f"{max_params:,}")
    return summary


def build_model(spec: ArchitectureSpec, summary: Summary | None = None) -> Any:
    """The Keras model for a spec (checked first, so nothing impossible is ever built)."""
    import keras

    summary = summary or check(spec)
    inputs = keras.Input(shape=spec.input_shape, name="image")
    x = inputs
    for layer, row in zip(spec.layers, summary.layers, strict=True):
        x = getattr(keras.layers, layer.kind)(name=row.name, **layer.keras_arguments())(x)
    return keras.Model(inputs, x, name=spec.name)
