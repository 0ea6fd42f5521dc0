"""Sample inputs for the Kernel Lab: photographs, real MNIST digits and the lesson's grid."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

from app.resources import STATIC_DIR

# The course task's 5×5 binary image (lesson 001), convolved there with the X filter.
LESSON_5X5: tuple[tuple[int, ...], ...] = (
    (1, 1, 1, 0, 0),
    (0, 1, 1, 1, 0),
    (0, 0, 1, 1, 1),
    (0, 0, 1, 1, 0),
    (0, 1, 1, 0, 0),
)


@dataclass(frozen=True)
class Sample:
    name: str
    label: str
    filename: str

    @property
    def url(self) -> str:
        return f"/static/samples/{self.filename}"


SAMPLES: tuple[Sample, ...] = (
    Sample("cat", "Cat (photo)", "cat.png"),
    Sample("astronaut", "Astronaut (photo)", "astronaut.png"),
    Sample("digit-0", "MNIST digit 0", "digit-0.png"),
    Sample("digit-3", "MNIST digit 3", "digit-3.png"),
    Sample("digit-7", "MNIST digit 7", "digit-7.png"),
)
_BY_NAME = {s.name: s for s in SAMPLES}


def get_sample(name: str) -> Sample | None:
    return _BY_NAME.get(name)


@lru_cache(maxsize=len(SAMPLES))
def load_sample(name: str) -> Image.Image:
    sample = _BY_NAME[name]
    with Image.open(STATIC_DIR / "samples" / sample.filename) as img:
        img.load()
        return img.copy()


def lesson_matrix() -> np.ndarray:
    return np.asarray(LESSON_5X5, dtype=np.float32)
