"""Fitting a photo of any shape into a model's square (or H×W) input.

One function for both sides of a model, so a photo is prepared for prediction exactly as
the dataset's images were prepared for training: `crop` takes the centred region of the
input's aspect ratio (nothing is squashed, the edges are lost), `pad` scales the whole
photo to fit and fills the rest with black (nothing is lost, the borders are empty).
"""

from __future__ import annotations

from typing import Literal

from PIL import Image, ImageOps

Fit = Literal["crop", "pad"]
FITS: tuple[Fit, ...] = ("crop", "pad")
# Box averaging, the filter inference uses to shrink photos (app/networks/inference.py).
RESAMPLE = Image.Resampling.BOX


def draft_for(img: Image.Image, width: int, height: int, mode: str | None = None) -> None:
    """Let a JPEG decode at a reduced scale (1/2, 1/4 or 1/8, in the DCT) when that still
    leaves twice the target size, and straight to grayscale when `mode` is "L": what
    `Image.thumbnail` does, and several times quicker than decoding every pixel of a large
    photo only to average most of them away. Call before the image is loaded."""
    if img.format == "JPEG":
        img.draft(mode, (2 * width, 2 * height))


def fit_image(img: Image.Image, width: int, height: int, fit: Fit) -> Image.Image:
    """`img` (already in its final mode, "L" or "RGB") as a `width`×`height` image."""
    if img.size == (width, height):
        return img
    if fit == "crop":
        return ImageOps.fit(img, (width, height), RESAMPLE)
    return ImageOps.pad(img, (width, height), RESAMPLE, color=0)
