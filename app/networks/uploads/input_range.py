"""The input range an uploaded model reads (app/networks/ranges.py), as its first layers
say it: a Rescaling that divides by 255 (or 127.5) reads 0–255 pixels, a Normalization
whose means are pixel values (above 2) reads 0–255, one whose means are fractions reads
0–1. A model whose first layers say nothing (MobileNet, MobileNetV2: −1–1 by convention)
reads 0–1 unless its uploader says otherwise."""

from __future__ import annotations

from typing import Any

import numpy as np

from app.errors import InvalidInput
from app.networks.layers import operations_of
from app.networks.ranges import RANGES, range_label


def first_layers(model: Any, count: int = 2) -> list[Any]:
    """The layers right after the input, in order."""
    source = model.inputs[0]._keras_history.operation
    found = [op for op in operations_of(model) if op is not source
             and type(op).__name__ != "InputLayer"]
    return found[:count]


def said_by_layers(model: Any) -> tuple[str, str] | None:
    """(range, the layer that says so), or None when the first layers say nothing."""
    for layer in first_layers(model):
        kind = type(layer).__name__
        if kind == "Rescaling":
            scale = float(np.max(np.abs(np.asarray(layer.scale, dtype=np.float64))))
            if 0 < scale < 0.1:  # 1/255 or 1/127.5: it expects pixel values
                return "0-255", f"its first layer {layer.name} (Rescaling, scale {scale:.4g})"
            return "0-1", f"its first layer {layer.name} (Rescaling, scale {scale:.4g})"
        if kind == "Normalization":
            mean = np.asarray(layer.mean, dtype=np.float64)
            big = bool(mean.size and np.abs(mean).max() > 2)
            return ("0-255" if big else "0-1"), f"its layer {layer.name} (Normalization)"
    return None


def chosen_range(model: Any, asked: str | None, insist: bool) -> str:
    """The range to store: the uploader's, else what the first layers say, else 0–1. A choice
    the first layers contradict is refused unless the uploader insists."""
    said = said_by_layers(model)
    if asked is None:
        return said[0] if said else "0-1"
    if asked not in RANGES:
        raise InvalidInput("input_range", f"{asked!r} is not one of {', '.join(RANGES)}")
    if said and said[0] != asked and not insist:
        raise InvalidInput("input_range", f"{said[1]} says the model reads "
                           f"{range_label(said[0])} pixels, not {range_label(asked)}: choose "
                           f"{said[0]}, or send insist=true to keep {asked}")
    return asked
