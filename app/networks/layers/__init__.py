"""Every Keras layer class the playground knows, described once (app/networks/layers/base.py):
the architecture spec and the Model Builder take the spec classes, uploads take the kinds
that may be uploaded, Explain takes each kind's fields and breakdown.

    kind_of("Conv2D").spec            # the spec class: arguments, defaults, shapes, params
    kind_of("Conv2D").breakdown(place)  # one output number, explained
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from app.networks.layers import (
    activations,
    augmentation,
    convolution,
    core,
    merging,
    normalization,
    operations,
    pooling,
    reshaping,
)
from app.networks.layers.augmentation import (
    RandomContrast,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
)
from app.networks.layers.base import FieldKind, Layer, LayerKind, LayerProblem, Shape
from app.networks.layers.convolution import Conv2D
from app.networks.layers.core import Dense, Dropout, Flatten
from app.networks.layers.normalization import BatchNormalization
from app.networks.layers.pooling import AveragePooling2D, GlobalAveragePooling2D, MaxPooling2D

KINDS: dict[str, LayerKind] = {
    kind.name: kind
    for module in (convolution, pooling, core, activations, normalization, merging, reshaping,
                   augmentation, operations)
    for kind in module.KINDS
}
# What a layer the playground does not know is treated as (it is refused in uploads).
UNKNOWN = type("UnknownKind", (LayerKind,), {"name": "", "uploadable": False})()

# The layers a learner can build (Model Builder, architecture specs), in the builder's order.
SPEC_CLASSES: tuple[type[Layer], ...] = (
    Conv2D, MaxPooling2D, AveragePooling2D, Dropout, Flatten, Dense, BatchNormalization,
    GlobalAveragePooling2D, RandomFlip, RandomRotation, RandomTranslation, RandomZoom,
    RandomContrast)
LAYER_CLASSES: dict[str, type[Layer]] = {cls.__name__: cls for cls in SPEC_CLASSES}
assert all(KINDS[name].spec is cls for name, cls in LAYER_CLASSES.items())

LayerSpec = Annotated[
    Conv2D | MaxPooling2D | AveragePooling2D | Dropout | Flatten | Dense | BatchNormalization
    | GlobalAveragePooling2D | RandomFlip | RandomRotation | RandomTranslation | RandomZoom
    | RandomContrast,
    Field(discriminator="type"),
]


def operations_of(model: Any) -> list[Any]:
    """A model's layers and operation nodes (`x + 3`), in order: a functional model has
    both; a Sequential model only layers."""
    found = getattr(model, "operations", None)
    return list(found) if found is not None else list(model.layers)


def kind_of(class_name: str, module: str = "keras.layers") -> LayerKind:
    """The description of a Keras layer class, or of an operation (`module` one of Keras'
    ops modules); UNKNOWN for one the playground does not know."""
    key = class_name if module.startswith("keras.layers") else f"{module}.{class_name}"
    return KINDS.get(key, UNKNOWN)


__all__ = ["KINDS", "LAYER_CLASSES", "SPEC_CLASSES", "UNKNOWN", "AveragePooling2D",
           "BatchNormalization", "Conv2D", "Dense", "Dropout", "FieldKind", "Flatten",
           "GlobalAveragePooling2D", "Layer", "LayerKind", "LayerProblem", "LayerSpec",
           "MaxPooling2D", "RandomContrast", "RandomFlip", "RandomRotation",
           "RandomTranslation", "RandomZoom", "Shape", "kind_of", "operations_of"]
