"""Insight's pictures: an input image enlarged with a rectangle outlined on it (a dataset
example's receptive field), a signed perturbation made visible, an image sprite."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from app.imaging.rendering import data_url, png_bytes

SHOWN_SIDE = 112  # examples and visualizations are enlarged to at least this many pixels
OUTLINE = np.array([255, 140, 0], np.uint8)  # orange: seen on black, white and photos alike


def scale_for(h: int, w: int, side: int = SHOWN_SIDE) -> int:
    return max(1, math.ceil(side / max(h, w)))


def rgb(x01: np.ndarray) -> np.ndarray:
    """An H×W×C image in 0–1 as H×W×3 bytes."""
    arr = np.clip(np.rint(x01 * 255), 0, 255).astype(np.uint8)
    return np.repeat(arr, 3, axis=2) if arr.shape[2] == 1 else arr[:, :, :3]


def enlarged(x01: np.ndarray, side: int = SHOWN_SIDE) -> np.ndarray:
    s = scale_for(x01.shape[0], x01.shape[1], side)
    return np.repeat(np.repeat(rgb(x01), s, axis=0), s, axis=1)


def outlined_url(x01: np.ndarray, rows: list[int], cols: list[int]) -> str:
    """The image enlarged (nearest neighbour, so pixels stay pixels), with the rectangle of
    input pixels rows[0]…rows[1] × cols[0]…cols[1] outlined just outside them."""
    s = scale_for(x01.shape[0], x01.shape[1])
    img = enlarged(x01)
    hh, ww = img.shape[:2]
    t = max(1, s // 2)  # line width
    top, bottom = max(0, rows[0] * s - t), min(hh, (rows[1] + 1) * s + t)
    left, right = max(0, cols[0] * s - t), min(ww, (cols[1] + 1) * s + t)
    img[top:top + t, left:right] = OUTLINE
    img[bottom - t:bottom, left:right] = OUTLINE
    img[top:bottom, left:left + t] = OUTLINE
    img[top:bottom, right - t:right] = OUTLINE
    return data_url(png_bytes(Image.fromarray(img)))


def image_url(x01: np.ndarray, side: int = SHOWN_SIDE) -> str:
    return data_url(png_bytes(Image.fromarray(enlarged(x01, side))))


def perturbation_url(delta: np.ndarray, epsilon: float, side: int = SHOWN_SIDE) -> str:
    """A change of at most ε each way, amplified to the whole grey scale: mid-grey is no
    change, white +ε, black −ε (per colour channel for a colour image)."""
    shown = 0.5 + 0.5 * delta / epsilon if epsilon > 0 else np.full_like(delta, 0.5)
    return image_url(np.clip(shown, 0, 1), side)


def sprite(x01: np.ndarray, columns: int) -> Image.Image:
    """Images (N×H×W×C in 0–1) side by side in rows of `columns`, at their own size."""
    n, h, w = x01.shape[:3]
    rows = math.ceil(n / columns)
    sheet = np.zeros((rows * h, columns * w, 3), np.uint8)
    for i in range(n):
        r, c = divmod(i, columns)
        sheet[r * h:(r + 1) * h, c * w:(c + 1) * w] = rgb(x01[i])
    return Image.fromarray(sheet)
