"""Dataset zips built in the tests from real CIFAR-10 images (tests/data/cifar10.npz)."""

from __future__ import annotations

import io
import stat
import zipfile
from functools import lru_cache

import numpy as np
from PIL import Image

from tests.digits_data import DATA, encode

# Three CIFAR-10 classes a tiny CNN tells apart from ~60 photos each.
CLASSES = {0: "airplane", 6: "frog", 9: "truck"}


@lru_cache
def cifar() -> tuple[np.ndarray, np.ndarray]:
    with np.load(DATA / "cifar10.npz") as f:
        x = np.concatenate([f["x_train"], f["x_test"]])
        y = np.concatenate([f["y_train"], f["y_test"]]).reshape(-1)
    return x, y


def photo(i: int) -> Image.Image:
    return Image.fromarray(cifar()[0][i])


def as_photo_file(i: int) -> tuple[str, bytes]:
    """CIFAR-10 image i as an uploaded photo would be: every other one a PNG at its own
    32×32, the rest JPEGs upscaled to 96×72 (not square: the dataset crops their centre)."""
    img = photo(i)
    if i % 2:
        return "jpg", encode(img.resize((96, 72), Image.Resampling.BICUBIC), "JPEG", quality=92)
    return "png", encode(img, "PNG")


def class_images(classes: dict[int, str] = CLASSES) -> dict[str, list[int]]:
    y = cifar()[1]
    return {name: np.flatnonzero(y == label).tolist() for label, name in classes.items()}


def zip_bytes(files: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def cifar_zip(top: str = "cifar3", extra: dict[str, bytes] | None = None,
              classes: dict[int, str] = CLASSES) -> bytes:
    """A zip of the folder `top` holding one folder per class, as a file manager makes it."""
    files = {}
    for name, indices in class_images(classes).items():
        for i in indices:
            ext, data = as_photo_file(i)
            files[f"{top}/{name}/{i:04d}.{ext}"] = data
    files.update(extra or {})
    return zip_bytes(files)


def tiny_png(value: int = 128, size: tuple[int, int] = (8, 8)) -> bytes:
    return encode(Image.new("RGB", size, (value, 255 - value, 60)), "PNG")


def symlink_zip(files: dict[str, bytes], link: str, target: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        info = zipfile.ZipInfo(link)
        info.create_system = 3  # Unix, so the mode bits say "symbolic link"
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, target)
    return buf.getvalue()


def encrypted_flag_zip(files: dict[str, bytes], secret: str) -> bytes:
    """A member marked encrypted, as readers see it (zipfile cannot encrypt: the flag is
    set in its headers afterwards)."""
    return _patch_headers(zip_bytes({**files, secret: b"\x00" * 64}), secret,
                          ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)), lambda old: old | 0x1, 2)


def _patch_headers(data: bytes, member: str, fields: tuple[tuple[bytes, int], ...],
                   change, width: int) -> bytes:
    """Change one field of a member's local header and its central directory entry."""
    raw = bytearray(data)
    name = member.encode()
    for signature, at_field in fields:
        name_at = 30 if signature == b"PK\x03\x04" else 46
        start = 0
        while (at := raw.find(signature, start)) >= 0:
            start = at + 4
            if raw[at + name_at: at + name_at + len(name)] == name:
                old = int.from_bytes(raw[at + at_field: at + at_field + width], "little")
                raw[at + at_field: at + at_field + width] = change(old).to_bytes(width, "little")
    return bytes(raw)


def understated_zip(files: dict[str, bytes], liar: str, real_size: int, claimed: int) -> bytes:
    """A member whose headers claim `claimed` bytes but which inflates to `real_size`: the
    directory looks small, the data is a bomb."""
    return _patch_headers(zip_bytes({**files, liar: b"\x00" * real_size}), liar,
                          ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)), lambda _: claimed, 4)
