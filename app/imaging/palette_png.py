"""Small palette PNGs written directly: a layer of 64 feature maps is 64 tiny images, and
Pillow's per-image overhead (about 0.3 ms each) would be most of an explanation's time.
The bytes are a standard 8-bit palette PNG, which any decoder (Pillow included) reads."""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np

from app.imaging.rendering import DIVERGING_PALETTE, SignedScale

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


_DIVERGING = chunk(b"PLTE", bytes(DIVERGING_PALETTE))
_END = chunk(b"IEND", b"")


def palette_png(indices: np.ndarray, palette_chunk: bytes = _DIVERGING,
                transparency: bytes = b"") -> bytes:
    """An H×W array of palette indices (uint8) as PNG bytes (with a tRNS chunk, when given,
    for the palette's alpha)."""
    h, w = indices.shape
    rows = np.empty((h, w + 1), np.uint8)
    rows[:, 0] = 0  # filter type None on every row
    rows[:, 1:] = indices
    header = struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0)
    return (_SIGNATURE + chunk(b"IHDR", header) + palette_chunk + transparency
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), 1)) + _END)


def signed_indices(x: np.ndarray, scale: SignedScale) -> np.ndarray:
    """Values on the diverging scale (white is 0), as palette indices, the way
    rendering.signed_map_image maps them."""
    return np.clip(np.rint(x * (127.5 / scale.bound) + 127.5), 0, 255).astype(np.uint8)


def signed_channel_urls(x: np.ndarray, scale: SignedScale) -> list[str]:
    """Each channel of an H×W×C array as a PNG data URL, all on one signed scale."""
    idx = signed_indices(x, scale)
    return ["data:image/png;base64," + base64.b64encode(palette_png(idx[:, :, c])).decode("ascii")
            for c in range(idx.shape[2])]
