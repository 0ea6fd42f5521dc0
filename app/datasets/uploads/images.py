"""Each planned member read from the zip, decoded and fitted into the dataset's size and
colour; a member that is not a usable image is skipped with its reason (or refuses the zip,
as the uploader chose)."""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from app.datasets.uploads.options import DatasetOptions, UploadLimits
from app.datasets.uploads.refusals import ZipTooLarge, refusal
from app.datasets.uploads.zip_checks import ZipPlan
from app.imaging.decoding import ALLOWED_FORMATS, flatten_alpha
from app.imaging.fitting import draft_for, fit_image

Progress = Callable[[str, int, int], None]  # (phase, done, total)


class BadImage(ValueError):
    """One member that is not an image this dataset can use; the message says why."""


def decode_image(data: bytes, options: DatasetOptions, max_pixels: int) -> np.ndarray:
    """A member's bytes → (size, size, channels) uint8, fitted as the options say."""
    try:
        img = Image.open(io.BytesIO(data))  # the header only
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise BadImage("not an image Pillow can read") from exc
    if img.format not in ALLOWED_FORMATS:
        raise BadImage(f"a {img.format} image; PNG, JPEG, WebP or GIF are read")
    width, height = img.size
    if width * height > max_pixels:
        raise BadImage(f"{width}×{height} = {width * height} pixels, over the limit of "
                       f"{max_pixels} (CNNPG_MAX_IMAGE_PIXELS)")
    size, mode = options.image_size, ("L" if options.channels == 1 else "RGB")
    try:
        draft_for(img, size, size, mode)
        img.load()
        upright = flatten_alpha(ImageOps.exif_transpose(img)).convert(mode)
    except Exception as exc:  # whatever a malformed file makes a decoder (or its EXIF) raise
        raise BadImage(f"truncated or corrupt ({exc or type(exc).__name__})") from exc
    arr = np.asarray(fit_image(upright, size, size, options.fit), dtype=np.uint8)
    return arr.reshape(size, size, options.channels)


def read_images(path: Path, plan: ZipPlan, options: DatasetOptions, limits: UploadLimits,
                progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray,
                                                          list[dict[str, str]]]:
    """Decode every planned member: (images, labels, files skipped and why)."""
    n = len(plan.members)
    size, channels = options.image_size, options.channels
    images = np.empty((n, size, size, channels), np.uint8)
    labels = np.empty(n, np.int64)
    kept = 0
    skipped: list[dict[str, str]] = []
    expanded = 0
    with zipfile.ZipFile(path) as zf:
        for i, member in enumerate(plan.members):
            if progress is not None:
                progress("decoding", i, n)
            try:
                # zipfile stops at the declared size and checks the CRC: a member cannot
                # expand past what the directory (already checked) says.
                with zf.open(member.info) as f:
                    data = f.read(member.info.file_size + 1)
            except (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError,
                    OSError, ValueError) as exc:
                skipped.append({"file": member.name, "reason": f"cannot be read from the zip "
                                f"({exc})"})
                continue
            expanded += len(data)
            if expanded > limits.expanded_bytes:
                raise ZipTooLarge(f"the zip's files expand past the limit of "
                                  f"{limits.expanded_bytes} bytes "
                                  "(CNNPG_MAX_DATASET_EXPANDED_BYTES)")
            try:
                images[kept] = decode_image(data, options, limits.image_pixels)
            except BadImage as exc:
                skipped.append({"file": member.name, "reason": str(exc)})
                continue
            labels[kept] = member.class_index
            kept += 1
    if progress is not None:
        progress("decoding", n, n)
    if skipped and options.on_bad_file == "refuse":
        raise refusal("not images that can be read (refused, as asked: on_bad_file=refuse)",
                      skipped, reasons=True)
    return images[:kept], labels[:kept], skipped
