"""The Kernel Lab's input and kernel from its settings: a sample, the lesson's 5×5 grid,
typed numbers or an upload; a catalog kernel or the edited grid."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from app.config import Settings
from app.errors import InvalidInput, LimitExceeded
from app.formatting import fmt
from app.imaging.decoding import ImageLimits, open_image
from app.lab import convolution as conv
from app.lab.samples import get_sample, lesson_matrix, load_sample
from app.lab.uploads import LabUploads, normalize

if TYPE_CHECKING:
    from app.lab.state import LabRequest


def parse_matrix(text: str, field_name: str = "matrix") -> np.ndarray:
    """Rows of numbers separated by spaces, commas or tabs, one row per line."""
    rows = [r for r in (line.strip() for line in text.strip().splitlines()) if r]
    if not rows:
        raise InvalidInput(field_name, "type at least one row of numbers")
    values: list[list[float]] = []
    for i, row in enumerate(rows, 1):
        try:
            values.append([float(v) for v in re.split(r"[\s,;]+", row.strip(" []")) if v])
        except ValueError as exc:
            raise InvalidInput(field_name, f"row {i} has something that is not a number") from exc
    return conv.as_image(values, field_name)


def matrix_text(m: np.ndarray) -> str:
    return "\n".join(" ".join(fmt(v) for v in row) for row in m)


def resize_grid(values: list[float], size: int) -> np.ndarray:
    """The edited grid at `size`×`size`, keeping its centre (zeros added, or edges cropped)."""
    n = round(len(values) ** 0.5)
    if n * n != len(values) or n == 0:
        raise InvalidInput("k", f"{len(values)} values do not make a square grid")
    grid = np.asarray(values, dtype=np.float32).reshape(n, n)
    if n == size:
        return grid
    out = np.zeros((size, size), dtype=np.float32)
    src, dst = max((n - size) // 2, 0), max((size - n) // 2, 0)
    m = min(n, size)
    out[dst : dst + m, dst : dst + m] = grid[src : src + m, src : src + m]
    return out


@dataclass
class LabInput:
    pixels: np.ndarray
    preview: Image.Image | None  # what the input looks like, for photos and digits
    label: str


def resolve_input(req: LabRequest, upload: bytes | None, settings: Settings,
                  uploads: LabUploads | None = None) -> LabInput:
    if req.source == "lesson":
        return LabInput(lesson_matrix(), None, "the lesson's 5×5 image")
    if req.source == "matrix":
        m = parse_matrix(req.matrix)
        side = settings.numeric_max_side * 4
        if max(m.shape) > side:
            raise LimitExceeded("matrix", f"{m.shape[0]}×{m.shape[1]} is over the limit of {side}×{side}")
        return LabInput(m, None, "your matrix")
    if req.source == "upload":
        if upload:
            img = normalize(open_image(upload, ImageLimits(settings.max_upload_bytes,
                                                           settings.max_image_pixels)),
                            settings.lab_max_side)
        elif req.upload and uploads is not None:
            kept = uploads.open(req.upload)
            if kept is None:
                raise InvalidInput("upload", f"the uploaded photo {req.upload} is no longer on "
                                   "this server (it keeps the newest CNNPG_LAB_UPLOADS); upload "
                                   "it again")
            img = kept
        else:
            raise InvalidInput("file", "choose an image file to upload")
        label = "your upload"
    elif req.source == "webcam":
        raise InvalidInput("source", "the webcam is read by your browser, not by the server")
    elif req.source.startswith("sample:") and (sample := get_sample(req.source[7:])):
        img = normalize(load_sample(sample.name), settings.lab_max_side)
        label = sample.label
    else:
        raise InvalidInput("source", f"unknown source {req.source!r}")
    img = img.convert("L") if req.channels == "gray" or img.mode == "L" else img.convert("RGB")
    return LabInput(np.asarray(img, dtype=np.float32), img, label)


def resolve_lab_kernel(req: LabRequest, settings: Settings) -> tuple[np.ndarray, str]:
    """The kernel and the name to show for it ("custom" when the grid was edited)."""
    if req.kernel != "custom":
        return conv.resolve_kernel(str(req.kernel), settings.max_kernel_size), str(req.kernel)
    if not req.k:
        raise InvalidInput("k", "the custom kernel grid is empty")
    grid = resize_grid([0.0 if v == "" else float(v) for v in req.k], req.ksize)
    return conv.resolve_kernel(grid.tolist(), settings.max_kernel_size), "custom"


