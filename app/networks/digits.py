"""Reading a drawing the way MNIST was made.

MNIST digits are white ink on black, cropped to the ink, scaled to fit a 20×20 box
keeping their aspect ratio, and centred by centre of mass in 28×28. A canvas PNG or a
phone photo of a digit on paper goes through the same steps here: alpha composited onto
the background, EXIF orientation applied (imaging.open_image), grayscale, dark-on-light
inverted, background levelled, then crop, fit and centre.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from app.errors import InvalidInput

SIDE = 28
BOX = 20
WORK_SIDE = 112  # finer detail than this cannot survive the fit into 20×20
MIN_CONTRAST = 40  # of 255: less ink contrast than this is a blank canvas, not a digit


def _median(values: np.ndarray) -> float:
    k = values.size // 2
    return float(np.partition(values, k)[k])


def _border_level(x: np.ndarray) -> float:
    return _median(np.concatenate([x[0], x[-1], x[:, 0], x[:, -1]]))


def to_ink(gray: np.ndarray, field: str = "image") -> np.ndarray:
    """0–255 grayscale → ink intensity in [0, 1] on a zero background (white on black)."""
    x = np.asarray(gray)
    if _border_level(x) > 127:  # dark ink on light paper or canvas
        x = 255 - x
    background = _border_level(x)
    flat = x.reshape(-1)
    k = int(flat.size * 0.999)  # the 99.9th percentile: one hot pixel is not the ink
    peak = float(np.partition(flat, k)[k])
    if peak - background < MIN_CONTRAST:
        raise InvalidInput(field, "no digit found: the image is blank or has too little contrast")
    ink = (x.astype(np.float32) - background) * np.float32(1.0 / (peak - background))
    return np.clip(ink, 0.0, 1.0, out=ink)


def normalize(gray: np.ndarray, field: str = "image") -> np.ndarray:
    """Any-size grayscale (dark-on-light or light-on-dark) → 28×28 float32 MNIST-style."""
    ink = to_ink(gray, field)
    left, top, w, h = cv2.boundingRect((ink > 0.2).astype(np.uint8))
    if w == 0 or h == 0:
        raise InvalidInput(field, "no digit found")
    crop = ink[top : top + h, left : left + w]
    scale = BOX / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    fitted = cv2.resize(crop, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1
                        else cv2.INTER_LINEAR)
    # Centre of mass of the fitted digit → the centre of the 28×28 field, ink kept inside.
    m = cv2.moments(fitted)
    if m["m00"] > 0:
        cy, cx = m["m01"] / m["m00"], m["m10"] / m["m00"]
    else:
        cy, cx = (nh - 1) / 2, (nw - 1) / 2
    y0 = int(np.clip(round(SIDE / 2 - 0.5 - cy), 0, SIDE - nh))
    x0 = int(np.clip(round(SIDE / 2 - 0.5 - cx), 0, SIDE - nw))
    out = np.zeros((SIDE, SIDE), dtype=np.float32)
    out[y0 : y0 + nh, x0 : x0 + nw] = np.clip(fitted, 0.0, 1.0)
    return out


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
    return normalize(np.asarray(img), field)
