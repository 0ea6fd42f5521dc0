"""Reading a drawing the way MNIST was made.

MNIST digits are white ink on black, cropped to the ink, scaled to fit a 20×20 box
keeping their aspect ratio, and centred by centre of mass in 28×28. A canvas PNG or a
phone photo of a digit on paper goes through the same steps here: alpha composited onto
the background, EXIF orientation applied (imaging.open_image), grayscale, dark-on-light
inverted, background levelled, then crop, fit and centre.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from app.errors import InvalidInput

SIDE = 28
BOX = 20
WORK_SIDE = 112  # finer detail than this cannot survive the fit into 20×20
MIN_CONTRAST = 40  # of 255: less ink contrast than this is a blank canvas, not a digit


def _border_level(x: np.ndarray) -> float:
    border = np.concatenate([x[0], x[-1], x[:, 0], x[:, -1]])
    return float(np.median(border))


def to_ink(gray: np.ndarray, field: str = "image") -> np.ndarray:
    """0–255 grayscale → ink intensity in [0, 1] on a zero background (white on black)."""
    x = gray.astype(np.float32)
    if _border_level(x) > 127:  # dark ink on light paper or canvas
        x = 255.0 - x
    background = _border_level(x)
    peak = float(np.percentile(x, 99.9)) if x.size > 1000 else float(x.max())
    if peak - background < MIN_CONTRAST:
        raise InvalidInput(field, "no digit found: the image is blank or has too little contrast")
    return np.clip((x - background) / (peak - background), 0.0, 1.0)


def center_of_mass_shift(x: np.ndarray) -> tuple[int, int]:
    total = x.sum()
    rows, cols = np.indices(x.shape)
    cy, cx = (rows * x).sum() / total, (cols * x).sum() / total
    return round(SIDE / 2 - 0.5 - cy), round(SIDE / 2 - 0.5 - cx)


def normalize(gray: np.ndarray, field: str = "image") -> np.ndarray:
    """Any-size grayscale (dark-on-light or light-on-dark) → 28×28 float32 MNIST-style."""
    ink = to_ink(gray, field)
    mask = ink > 0.2
    if not mask.any():
        raise InvalidInput(field, "no digit found")
    ys, xs = np.nonzero(mask)
    crop = ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    h, w = crop.shape
    scale = BOX / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    img = Image.fromarray(crop.astype(np.float32), mode="F")
    fitted = np.asarray(img.resize((nw, nh), Image.Resampling.LANCZOS if scale < 1
                                   else Image.Resampling.BILINEAR), dtype=np.float32)
    fitted = np.clip(fitted, 0.0, 1.0)
    out = np.zeros((SIDE, SIDE), dtype=np.float32)
    top, left = (SIDE - nh) // 2, (SIDE - nw) // 2
    out[top : top + nh, left : left + nw] = fitted
    dy, dx = center_of_mass_shift(out)
    # Shift, but never push ink off the canvas.
    dy = int(np.clip(dy, -top, SIDE - nh - top))
    dx = int(np.clip(dx, -left, SIDE - nw - left))
    return np.roll(out, (dy, dx), axis=(0, 1))


def from_image(img: Image.Image, field: str = "image") -> np.ndarray:
    """A decoded image (any mode, already EXIF-rotated) → 28×28 in [0, 1]."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        # Transparent canvas: composite onto the opposite of the ink, so strokes stay visible.
        alpha = np.asarray(rgba)[:, :, 3]
        ink_rgb = np.asarray(rgba.convert("L"))[alpha > 127]
        light_ink = ink_rgb.size > 0 and np.median(ink_rgb) > 127
        base = Image.new("RGBA", rgba.size, (0, 0, 0, 255) if light_ink else (255, 255, 255, 255))
        img = Image.alpha_composite(base, rgba)
    img = img.convert("L")
    if max(img.size) > WORK_SIDE:  # a box filter first: 7× fewer pixels for a 280×280 canvas
        img = img.reduce(-(-max(img.size) // WORK_SIDE))
    return normalize(np.asarray(img, dtype=np.float32), field)


def check_pixels(value: object) -> np.ndarray:
    """JSON pixels: exactly 28×28 finite numbers within 0–255, as float32."""
    try:
        arr = np.asarray(value)
    except ValueError as exc:
        raise InvalidInput("pixels", "must be 28 rows of 28 numbers (the rows are ragged)") from exc
    if arr.dtype == object or arr.dtype.kind not in "iuf":
        raise InvalidInput("pixels", "must be 28 rows of 28 numbers")
    if arr.shape != (SIDE, SIDE):
        got = "×".join(map(str, arr.shape)) or "a single number"
        raise InvalidInput("pixels", f"must be 28×28, got {got}")
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise InvalidInput("pixels", "must not contain NaN or infinite values")
    if arr.min() < 0 or arr.max() > 255:
        raise InvalidInput("pixels", f"values must be 0–255, got {arr.min():g} to {arr.max():g}")
    return arr


def from_pixels(value: object) -> np.ndarray:
    """JSON pixels (either polarity) → 28×28 in [0, 1], normalised like a drawing."""
    return normalize(check_pixels(value), "pixels")
