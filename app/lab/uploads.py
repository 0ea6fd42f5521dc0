"""Photos uploaded to the Kernel Lab, kept so that they are sent once.

An upload is decoded once (with the limits), made upright, flattened onto white and
scaled to CNNPG_LAB_MAX_SIDE, then kept as a PNG named by the hash of its pixels. The
page then refers to it by that id: every later change of kernel or setting is computed
from it without sending or decoding the file again, and a link with `upload=ID` opens
the same photo on another screen. The newest CNNPG_LAB_UPLOADS are kept; a link to an
older one opens with the cat and says so.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from app.imaging.decoding import ImageLimits, fit_within, flatten_alpha, open_image
from app.lab.samples import get_sample, load_sample

UPLOAD_ID_PATTERN = r"^[0-9a-f]{20}$"
_UPLOAD_ID = re.compile(UPLOAD_ID_PATTERN)


@dataclass(frozen=True)
class StoredUpload:
    id: str
    width: int
    height: int
    channels: int


def normalize(img: Image.Image, max_side: int) -> Image.Image:
    """What the Kernel Lab convolves: L or RGB, no transparency, at most `max_side` on a
    side, with no colour profile (so a browser decodes exactly these numbers)."""
    img = fit_within(flatten_alpha(img), max_side)
    if img.mode not in ("L", "RGB"):
        img = img.convert("RGB")
    return Image.fromarray(np.asarray(img))  # a fresh image: no ICC profile, no metadata


def png_of(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


@lru_cache(maxsize=16)
def sample_png(name: str, max_side: int) -> tuple[bytes, int]:
    """A sample as the lab convolves it, as PNG bytes, and its number of channels."""
    sample = get_sample(name)
    if sample is None:
        raise KeyError(name)
    img = normalize(load_sample(sample.name), max_side)
    return png_of(img), 1 if img.mode == "L" else 3


class LabUploads:
    """The kept uploads, as files in one folder (so every process on the machine sees them)."""

    def __init__(self, directory: Path, max_items: int) -> None:
        self.directory = directory
        self.max_items = max_items

    def _path(self, upload_id: str) -> Path | None:
        if not _UPLOAD_ID.match(upload_id):
            return None
        return self.directory / f"{upload_id}.png"

    def add(self, raw: bytes, limits: ImageLimits, max_side: int) -> StoredUpload:
        """Decode (refusing anything over a limit), normalize and keep; the same photo sent
        twice is kept once."""
        img = normalize(open_image(raw, limits), max_side)
        pixels = np.asarray(img)
        digest = hashlib.sha256(f"{pixels.shape}".encode() + pixels.tobytes()).hexdigest()[:20]
        path = self.directory / f"{digest}.png"
        if path.is_file():
            os.utime(path)
        else:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{secrets.token_hex(4)}.tmp")
            tmp.write_bytes(png_of(img))
            tmp.replace(path)
            self._trim()
        return StoredUpload(digest, img.width, img.height, 1 if img.mode == "L" else 3)

    def png(self, upload_id: str) -> bytes | None:
        path = self._path(upload_id)
        if path is None or not path.is_file():
            return None
        try:
            data = path.read_bytes()
        except FileNotFoundError:  # trimmed meanwhile
            return None
        os.utime(path)
        return data

    def open(self, upload_id: str) -> Image.Image | None:
        data = self.png(upload_id)
        if data is None:
            return None
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return img.copy()

    def _trim(self) -> None:
        files = []
        for p in self.directory.glob("*.png"):
            try:
                files.append((p.stat().st_mtime, p))
            except FileNotFoundError:
                continue
        for _, p in sorted(files)[: max(0, len(files) - self.max_items)]:
            p.unlink(missing_ok=True)
