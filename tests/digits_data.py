"""Real MNIST test digits from tests/data, and renderings of them as a browser would send."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

DATA = Path(__file__).resolve().parent / "data"


@lru_cache
def mnist_test() -> tuple[np.ndarray, np.ndarray]:
    with np.load(DATA / "mnist.npz") as f:
        return f["x_test"], f["y_test"]


def as_canvas_png(digit: np.ndarray, side: int = 280) -> bytes:
    """Upscaled to side×side, dark ink on white, PNG: what the Draw page's canvas sends."""
    img = Image.fromarray(255 - digit).resize((side, side), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()
