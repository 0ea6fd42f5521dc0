"""Augmentation: Keras' own random preprocessing layers. Keras applies them only while
training (`model(x, training=True)`, as `fit` calls it); at inference they pass the image
through unchanged. They change no shape and have no parameters."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from app.networks.layers.base import Layer, LayerKind

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


AUGMENTATION_SPECS: tuple[type[Layer], ...] = (RandomFlip, RandomRotation, RandomTranslation,
                                               RandomZoom, RandomContrast)


class _AugmentationKind(LayerKind):
    passes_input = True
    note = "Augmentation changes images only while training; here it passes its input on"


def _kind(name: str, spec: type[Layer] | None) -> LayerKind:
    return type(f"{name}Kind", (_AugmentationKind,), {"name": name, "spec": spec})()


KINDS: tuple[LayerKind, ...] = (
    *(_kind(s.__name__, s) for s in AUGMENTATION_SPECS), _kind("RandomBrightness", None))
