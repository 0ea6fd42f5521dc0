"""Decoding uploaded images with limits, before anything large is allocated."""

from __future__ import annotations

import base64
import binascii
import io
import re
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from app.errors import InvalidInput, TooLarge

ALLOWED_FORMATS = {"PNG", "JPEG", "WEBP", "GIF"}

# The configured pixel limit (checked in open_image from the header) replaces Pillow's
# global one, which would refuse large images with a message that does not name our limit.
Image.MAX_IMAGE_PIXELS = None


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int
    max_pixels: int


def open_image(data: bytes, limits: ImageLimits, field: str = "file") -> Image.Image:
    """Decode an uploaded image, refusing anything over a limit before decoding it.

    Only the header is read before the pixel count is checked, so a small PNG that
    claims 50,000 × 50,000 pixels is refused without allocating them. EXIF orientation
    is applied; animated images give their first frame.
    """
    if not data:
        raise InvalidInput(field, "the file is empty")
    if len(data) > limits.max_bytes:
        raise TooLarge(field, f"{len(data)} bytes is over the upload limit of {limits.max_bytes} "
                       "bytes (CNNPG_MAX_UPLOAD_BYTES)")
    try:
        img = Image.open(io.BytesIO(data))  # reads the header only
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise InvalidInput(field, "not an image Pillow can read (PNG, JPEG, WebP or GIF)") from exc
    if img.format not in ALLOWED_FORMATS:
        raise InvalidInput(field, f"{img.format} images are not accepted; use PNG, JPEG, WebP or GIF")
    width, height = img.size
    if width * height > limits.max_pixels:
        raise TooLarge(field, f"{width}×{height} = {width * height} pixels is over the limit of "
                       f"{limits.max_pixels} pixels (CNNPG_MAX_IMAGE_PIXELS)")
    try:
        img.load()
        upright = ImageOps.exif_transpose(img)
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise InvalidInput(field, f"the image is truncated or corrupt ({exc})") from exc
    return upright


def flatten_alpha(img: Image.Image, background: int = 255) -> Image.Image:
    """RGB or L with any transparency composited onto a plain background."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (background,) * 3 + (255,))
        return Image.alpha_composite(base, rgba).convert("RGB")
    if img.mode in ("L", "RGB"):
        return img
    if img.mode.startswith("I"):  # 16-bit grayscale: 0–65535 down to 0–255
        return Image.fromarray((np.asarray(img, dtype=np.float32) / 257).clip(0, 255)
                               .astype(np.uint8))
    if img.mode == "F":
        return Image.fromarray(np.asarray(img).clip(0, 255).astype(np.uint8))
    return img.convert("RGB")


def fit_within(img: Image.Image, max_side: int) -> Image.Image:
    """Scale down (never up) so neither side exceeds `max_side`, keeping the aspect ratio."""
    if max(img.size) <= max_side:
        return img
    img = img.copy()
    img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return img


DATA_URL_PATTERN = r"^data:image/(png|jpeg|webp|gif);base64,([A-Za-z0-9+/=\s]*)$"
_DATA_URL = re.compile(DATA_URL_PATTERN)


def decode_data_url(value: str, limits: ImageLimits, field: str = "image") -> Image.Image:
    """A data URL of a PNG, JPEG, WebP or GIF image, decoded with the same limits as a file."""
    m = _DATA_URL.match(value.strip())
    if not m:
        raise InvalidInput(field, "must be a data URL of a PNG, JPEG, WebP or GIF image "
                           "(data:image/png;base64,…)")
    try:
        raw = base64.b64decode(m.group(2), validate=False)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(field, "the data URL's base64 is malformed") from exc
    return open_image(raw, limits, field)
