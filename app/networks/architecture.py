"""The architecture spec: JSON that mirrors Keras layer classes and their arguments.

Each layer type is one class here holding everything about it: its Keras arguments (with
Keras' names and defaults), its output shape and parameter count (as Keras counts them),
and the fields the Model Builder lets a learner edit. `check` walks the layers with
those, so an impossible model is refused with the layer's position and the problem
before anything is built; `build_model` then makes the Keras model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from app.errors import InvalidInput, LimitExceeded
from app.geometry import out_size, pair

Activation = Literal["relu", "sigmoid", "tanh", "softmax", "linear", "elu", "selu", "gelu",
                     "swish", "softplus", "leaky_relu"]
Padding = Literal["valid", "same"]
# Strict: JSON `true` or "3" is not a number of filters (the schema says integer).
PositiveInt = Annotated[int, Field(ge=1, le=4096, strict=True)]
IntPair = PositiveInt | tuple[PositiveInt, PositiveInt]
Shape = tuple[int, ...]
NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

# How the builder shows an argument: an integer, a pair ("3,3"), an optional pair, a
# float, the padding choice, the activation choice, a factor (one number or a "lower,
# upper" pair of numbers), or a choice among the layer's `choices` for that argument.
FieldKind = Literal["int", "pair", "pair?", "float", "padding", "activation", "factor", "choice"]


class LayerProblem(ValueError):
    """Why a layer cannot take the shape it is given."""


class Layer(BaseModel):
    """One Keras layer. Subclasses set `type`, their arguments, and override the shape and
    parameter rules where the layer changes them."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, pattern=NAME_PATTERN)

    builder_fields: ClassVar[tuple[tuple[str, FieldKind], ...]] = ()
    choices: ClassVar[dict[str, tuple[str, ...]]] = {}  # the options of "choice" fields
    starter: ClassVar[dict[str, Any]] = {}  # the arguments of a newly added layer
    spatial: ClassVar[bool] = False  # needs a (height, width, channels) input

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


class Conv2D(Layer):
    type: Literal["Conv2D"]
    filters: PositiveInt
    kernel_size: IntPair
    strides: IntPair = 1
    padding: Padding = "valid"
    activation: Activation | None = None
    use_bias: StrictBool = True

    builder_fields = (("filters", "int"), ("kernel_size", "pair"), ("strides", "pair"),
                      ("padding", "padding"), ("activation", "activation"))
    starter = {"filters": 16, "kernel_size": [3, 3], "activation": "relu"}
    spatial = True

    def output_shape(self, shape: Shape) -> Shape:
        h, w, _ = shape
        kh, kw = pair(self.kernel_size)
        sh, sw = pair(self.strides)
        if self.padding == "valid" and (kh > h or kw > w):
            raise LayerProblem(f"kernel {kh}×{kw} is larger than its {h}×{w} input; use a smaller "
                               'kernel or padding "same"')
        return out_size(h, kh, sh, self.padding), out_size(w, kw, sw, self.padding), self.filters

    def params(self, shape: Shape) -> tuple[int, int]:
        kh, kw = pair(self.kernel_size)
        n = kh * kw * shape[-1] * self.filters + (self.filters if self.use_bias else 0)
        return n, n

    def formula(self, shape: Shape) -> str:
        """((k_h·k_w·c_in) + 1) · filters, with the numbers filled in."""
        kh, kw = pair(self.kernel_size)
        bias = " + 1" if self.use_bias else ""
        return (f"(({kh}·{kw}·{shape[-1]}){bias}) · {self.filters} = "
                f"{self.params(shape)[0]:,}")


class _Pooling(Layer):
    pool_size: IntPair = 2
    strides: IntPair | None = None
    padding: Padding = "valid"

    builder_fields = (("pool_size", "pair"), ("strides", "pair?"), ("padding", "padding"))
    starter = {"pool_size": [2, 2]}
    spatial = True

    def output_shape(self, shape: Shape) -> Shape:
        h, w, c = shape
        ph, pw = pair(self.pool_size)
        sh, sw = pair(self.strides if self.strides is not None else self.pool_size)
        if self.padding == "valid" and (ph > h or pw > w):
            raise LayerProblem(f"pool {ph}×{pw} is larger than its {h}×{w} input")
        return out_size(h, ph, sh, self.padding), out_size(w, pw, sw, self.padding), c

    def keras_arguments(self) -> dict[str, Any]:
        args = super().keras_arguments()
        if args.get("strides") is None:
            args.pop("strides", None)  # Keras' default: the pool size
        return args


class MaxPooling2D(_Pooling):
    type: Literal["MaxPooling2D"]


class AveragePooling2D(_Pooling):
    type: Literal["AveragePooling2D"]


class Dropout(Layer):
    type: Literal["Dropout"]
    rate: float = Field(ge=0, lt=1, strict=True)

    builder_fields = (("rate", "float"),)
    starter = {"rate": 0.25}


class Flatten(Layer):
    type: Literal["Flatten"]

    def output_shape(self, shape: Shape) -> Shape:
        return (math.prod(shape),)


class Dense(Layer):
    type: Literal["Dense"]
    units: PositiveInt
    activation: Activation | None = None
    use_bias: StrictBool = True

    builder_fields = (("units", "int"), ("activation", "activation"))
    starter = {"units": 10, "activation": "softmax"}

    def output_shape(self, shape: Shape) -> Shape:
        return (*shape[:-1], self.units)

    def params(self, shape: Shape) -> tuple[int, int]:
        n = shape[-1] * self.units + (self.units if self.use_bias else 0)
        return n, n


class BatchNormalization(Layer):
    type: Literal["BatchNormalization"]
    momentum: float = Field(0.99, gt=0, lt=1, strict=True)
    epsilon: float = Field(0.001, gt=0, le=1, strict=True)

    def params(self, shape: Shape) -> tuple[int, int]:
        # gamma and beta train; the moving mean and variance do not.
        return 4 * shape[-1], 2 * shape[-1]


class GlobalAveragePooling2D(Layer):
    type: Literal["GlobalAveragePooling2D"]
    spatial = True

    def output_shape(self, shape: Shape) -> Shape:
        return (shape[-1],)


# Augmentation: Keras' own random preprocessing layers. Keras applies them only while
# training (`model(x, training=True)`, as `fit` calls it); at inference they pass the image
# through unchanged. They change no shape and have no parameters.
Fraction = Annotated[float, Field(ge=-1, le=1, strict=True, allow_inf_nan=False)]
# A number f (the range [-f, f]) or a (lower, upper) pair, as Keras takes its factors.
Factor = Fraction | tuple[Fraction, Fraction]
UnitFactor = (Annotated[float, Field(ge=0, le=1, strict=True, allow_inf_nan=False)]
              | tuple[Annotated[float, Field(ge=0, le=1, strict=True, allow_inf_nan=False)],
                      Annotated[float, Field(ge=0, le=1, strict=True, allow_inf_nan=False)]])
FillMode = Literal["reflect", "wrap", "constant", "nearest"]
Interpolation = Literal["nearest", "bilinear"]
Seed = Annotated[int, Field(ge=0, le=2**31 - 1, strict=True)]
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
FlipMode = Literal["horizontal", "vertical", "horizontal_and_vertical"]
FILL_MODES: tuple[str, ...] = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS: tuple[str, ...] = ("bilinear", "nearest")


class _Augmentation(Layer):
    seed: Seed | None = None
    spatial = True


class _Geometric(_Augmentation):
    fill_mode: FillMode = "reflect"
    interpolation: Interpolation = "bilinear"
    fill_value: float = Field(0.0, strict=True, allow_inf_nan=False)

    choices = {"fill_mode": FILL_MODES, "interpolation": INTERPOLATIONS}


class RandomFlip(_Augmentation):
    type: Literal["RandomFlip"]
    mode: FlipMode = "horizontal_and_vertical"

    builder_fields = (("mode", "choice"),)
    choices = {"mode": ("horizontal", "vertical", "horizontal_and_vertical")}
    starter = {"mode": "horizontal"}


class RandomRotation(_Geometric):
    type: Literal["RandomRotation"]
    factor: Factor = Field(description="A fraction of a full turn: 0.1 rotates by up to ±36°.")

    builder_fields = (("factor", "factor"), ("fill_mode", "choice"))
    starter = {"factor": 0.05}


class RandomTranslation(_Geometric):
    type: Literal["RandomTranslation"]
    height_factor: Factor = Field(description="A fraction of the height: 0.1 shifts by up to ±10%.")
    width_factor: Factor = Field(description="A fraction of the width: 0.1 shifts by up to ±10%.")

    builder_fields = (("height_factor", "factor"), ("width_factor", "factor"),
                      ("fill_mode", "choice"))
    starter = {"height_factor": 0.1, "width_factor": 0.1}


class RandomZoom(_Geometric):
    type: Literal["RandomZoom"]
    height_factor: Factor = Field(description="Negative zooms in, positive out: 0.1 by up to ±10%.")
    width_factor: Factor | None = Field(None, description="None: the same as the height's.")

    builder_fields = (("height_factor", "factor"), ("width_factor", "factor"),
                      ("fill_mode", "choice"))
    starter = {"height_factor": 0.1}


class RandomContrast(_Augmentation):
    type: Literal["RandomContrast"]
    factor: UnitFactor = Field(description="0.2: contrast scaled by a random 0.8 to 1.2.")
    value_range: tuple[Number, Number] = Field(
        (0, 255), description="The inputs' range, kept after the change: [0, 1] for these "
        "datasets, whose pixels are scaled to 0–1 (Keras' default is [0, 255]).")

    builder_fields = (("factor", "factor"), ("value_range", "factor"))
    starter = {"factor": 0.2, "value_range": [0, 1]}

    @model_validator(mode="after")
    def _ordered_range(self) -> RandomContrast:
        low, high = self.value_range
        if not low < high:
            raise ValueError(f"value_range must be [low, high] with low < high, got {[low, high]}")
        return self


LAYER_TYPES: tuple[type[Layer], ...] = (Conv2D, MaxPooling2D, AveragePooling2D, Dropout,
                                        Flatten, Dense, BatchNormalization,
                                        GlobalAveragePooling2D, RandomFlip, RandomRotation,
                                        RandomTranslation, RandomZoom, RandomContrast)
LAYER_CLASSES: dict[str, type[Layer]] = {cls.__name__: cls for cls in LAYER_TYPES}

LayerSpec = Annotated[
    Conv2D | MaxPooling2D | AveragePooling2D | Dropout | Flatten | Dense | BatchNormalization
    | GlobalAveragePooling2D | RandomFlip | RandomRotation | RandomTranslation | RandomZoom
    | RandomContrast,
    Field(discriminator="type"),
]


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
            raise InvalidInput(where, f"layer {i} ({layer.kind}): {problem}") from None
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
