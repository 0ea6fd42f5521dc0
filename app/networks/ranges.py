"""A model's input range: the pixel values it reads, black to white.

The playground's own models read 0–1 (its datasets are scaled so). Models people bring read
what they were trained on: 0–255 (EfficientNet and MobileNetV3 rescale inside, with a
Rescaling or Normalization layer first), 0–1, or −1–1 (MobileNet and MobileNetV2, which say
nothing about it in their layers). A wrong range is the most common reason a real model
predicts nonsense, so every image is prepared in 0–1 and moved into the model's range once,
here, and moved back to be shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from app.networks.registry import ModelInfo

# A model's input range: the pixel values it reads (black to white).
RANGES: dict[str, tuple[float, float]] = {"0-1": (0.0, 1.0), "0-255": (0.0, 255.0),
                                          "-1-1": (-1.0, 1.0)}


def to_model(x: np.ndarray, info: ModelInfo) -> np.ndarray:
    """An image in 0–1 as the model reads it (its input range)."""
    lo, hi = RANGES.get(info.input_range, (0.0, 1.0))
    return x if (lo, hi) == (0.0, 1.0) else (x * np.float32(hi - lo) + np.float32(lo)).astype(np.float32)


def to_unit(x: np.ndarray, info: ModelInfo) -> np.ndarray:
    """The model's input back in 0–1, to be shown as a picture."""
    lo, hi = RANGES.get(info.input_range, (0.0, 1.0))
    return x if (lo, hi) == (0.0, 1.0) else ((x - np.float32(lo)) / np.float32(hi - lo)).astype(np.float32)


def range_label(name: str) -> str:
    """How a range is said: "0–255"."""
    lo, hi = RANGES[name]
    return f"{lo:g}–{hi:g}".replace("-", "−").replace("−–", "−") if lo < 0 else f"{lo:g}–{hi:g}"
