"""Arrays as pictures: signed feature maps on a diverging colour scale, PNG data URLs."""

from __future__ import annotations

import base64
import io
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    # Level 1: these are shown once and thrown away; speed matters more than size.
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def preview_url(img: Image.Image) -> str:
    """A data URL to show a photo: JPEG for large ones (20× quicker to encode), PNG for small."""
    if min(img.size) < 256:
        return data_url(png_bytes(img))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return data_url(buf.getvalue(), "image/jpeg")


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


_ENCODERS = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2),
                               thread_name_prefix="png")


def png_data_urls(images: list[Image.Image]) -> list[str]:
    """PNG-encode several images at once: Pillow releases the GIL while compressing."""
    if len(images) <= 1:
        return [data_url(png_bytes(img)) for img in images]
    return [data_url(png) for png in _ENCODERS.map(png_bytes, images)]


def diverging_colours(n: int = 256) -> list[int]:
    """n colours (RGB, flat) from blue (negative) through near-white (zero) to red
    (positive): ColorBrewer's RdBu."""
    stops = np.array([(5, 48, 97), (67, 147, 195), (247, 247, 247), (214, 96, 77), (103, 0, 31)],
                     dtype=np.float64)
    pos = np.linspace(0, 1, len(stops))
    t = np.linspace(0, 1, n)
    rgb = np.stack([np.interp(t, pos, stops[:, c]) for c in range(3)], axis=1)
    return np.round(rgb).astype(np.uint8).reshape(-1).tolist()


DIVERGING_PALETTE = diverging_colours(256)


def palette_hex() -> str:
    """The palette as 256 × "rrggbb", for the page that draws maps in the browser."""
    return bytes(DIVERGING_PALETTE).hex()


@dataclass(frozen=True)
class SignedScale:
    """A colour scale symmetric about zero, so white is always exactly 0."""

    minimum: float
    maximum: float

    @property
    def bound(self) -> float:
        return max(abs(self.minimum), abs(self.maximum)) or 1.0

    @classmethod
    def of(cls, x: np.ndarray) -> SignedScale:
        return cls(float(x.min()), float(x.max()))


def signed_map_image(x: np.ndarray, scale: SignedScale | None = None) -> Image.Image:
    """A 2-D map as a palette image on a diverging scale (one byte a pixel, quick to encode)."""
    scale = scale or SignedScale.of(x)
    idx = np.clip(np.rint(x * (127.5 / scale.bound) + 127.5), 0, 255).astype(np.uint8)
    img = Image.fromarray(idx)  # mode "L"; a palette turns it into "P"
    img.putpalette(DIVERGING_PALETTE)
    return img


def gray_image(x: np.ndarray) -> Image.Image:
    """An array of 0–255 intensities (or any range, clipped) as an 8-bit image."""
    arr = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    return Image.fromarray(arr)


# Heatmaps (Grad-CAM, saliency): inferno, a perceptually uniform sequential map (equal
# steps in value look like equal steps in colour, and it reads in grayscale), where
# the rainbow "jet" made some values look larger than others.
def _inferno() -> np.ndarray:
    import cv2

    lut = cv2.applyColorMap(np.arange(256, dtype=np.uint8).reshape(256, 1), cv2.COLORMAP_INFERNO)
    return np.ascontiguousarray(lut[:, 0, ::-1], dtype=np.uint8)


HEAT_PALETTE: np.ndarray = _inferno()  # 256 × RGB


def heat_colours(heat: np.ndarray) -> np.ndarray:
    """Values in [0, 1] as RGB (uint8) on the heat palette."""
    return HEAT_PALETTE[np.clip(np.rint(heat * 255), 0, 255).astype(np.uint8)]


def heat_legend_url(width: int = 256, height: int = 12) -> str:
    """The heat palette as a horizontal bar, low (left) to high (right), for a legend."""
    row = HEAT_PALETTE[np.linspace(0, 255, width).astype(np.uint8)]
    return data_url(png_bytes(Image.fromarray(np.repeat(row[None], height, axis=0))))
