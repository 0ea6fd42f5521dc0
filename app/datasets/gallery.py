"""A dataset at a glance: each class with its counts and a few of its images."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from app.imaging.rendering import png_data_urls

PER_CLASS = 8


@dataclass(frozen=True)
class ClassSamples:
    name: str
    train: int
    test: int
    images: list[str]  # PNG data URLs


def class_samples(class_names: list[str] | tuple[str, ...], x: np.ndarray, y: np.ndarray,
                  train_counts: list[int], test_counts: list[int],
                  per_class: int = PER_CLASS) -> list[ClassSamples]:
    """The first `per_class` images of each class in `x` (uint8, N×H×W×C), as PNGs."""
    picks = [np.flatnonzero(y == c)[:per_class] for c in range(len(class_names))]
    images = [Image.fromarray(x[i, :, :, 0] if x.shape[-1] == 1 else x[i])
              for idx in picks for i in idx]
    urls = png_data_urls(images)
    out: list[ClassSamples] = []
    for c, idx in enumerate(picks):
        out.append(ClassSamples(class_names[c], train_counts[c], test_counts[c], urls[:len(idx)]))
        urls = urls[len(idx):]
    return out
