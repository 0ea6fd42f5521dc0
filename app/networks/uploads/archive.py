"""The bytes and the zip of an uploaded `.keras` file (steps 1 and 2 of app/networks/uploads)."""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from typing import Any

from app.errors import InvalidInput, TooLarge
from app.networks.uploads.limits import FIELD, Refused, UploadLimits

MEMBERS = ("metadata.json", "config.json", "model.weights.h5")
MAX_JSON_MEMBER = 4 * 1024 * 1024  # config.json and metadata.json
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def check_bytes(raw: bytes, filename: str, limits: UploadLimits) -> dict[str, bytes]:
    """The archive's three members, read within the limits."""
    if not raw:
        raise Refused("the file is empty")
    if len(raw) > limits.max_bytes:
        raise TooLarge(FIELD, f"{len(raw)} bytes is over the limit of {limits.max_bytes} bytes "
                       "(CNNPG_MAX_MODEL_UPLOAD_BYTES)")
    lower = filename.lower()
    if lower.endswith((".h5", ".hdf5")) or any(raw.startswith(HDF5_SIGNATURE, at)
                                               for at in (0, 512, 1024, 2048)):
        raise Refused("HDF5 (.h5) models are refused: Keras ignores safe mode for them "
                      "(CVE-2025-9905). Save the model as a Keras 3 archive: "
                      "model.save('model.keras')")
    if not lower.endswith(".keras"):
        raise Refused("must be a Keras 3 .keras file (made by model.save('model.keras'))")
    if not zipfile.is_zipfile(io.BytesIO(raw)):
        raise Refused("not a .keras archive: a .keras file is a zip, and this is not one")
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            return _members(zf, limits)
    except InvalidInput:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError,
            RuntimeError, ValueError) as exc:
        raise Refused(f"the zip archive is damaged or uses what Keras does not ({exc})") from None


def _members(zf: zipfile.ZipFile, limits: UploadLimits) -> dict[str, bytes]:
    infos = zf.infolist()
    names = [i.filename for i in infos]
    if len(infos) > 16 or len(set(names)) != len(names):
        raise Refused("not a Keras model archive: it holds more, or other, files than "
                      f"{', '.join(MEMBERS)}")
    unexpected = sorted(set(names) - set(MEMBERS))
    if unexpected:
        shown = ", ".join(repr(n[:80]) for n in unexpected[:5])
        raise Refused(f"not a Keras model archive the playground accepts: it holds {shown}; "
                      f"only {', '.join(MEMBERS)} are allowed (no assets, no sharded weights)")
    missing = [m for m in MEMBERS if m not in names]
    if missing:
        raise Refused(f"not a Keras 3 model archive: {', '.join(missing)} is missing")
    expanded = sum(i.file_size for i in infos)
    if expanded > limits.max_expanded_bytes:
        raise TooLarge(FIELD, f"the archive would expand to {expanded} bytes, over the limit of "
                       f"{limits.max_expanded_bytes} bytes (CNNPG_MAX_MODEL_EXPANDED_BYTES)")
    out: dict[str, bytes] = {}
    for info in infos:
        if info.flag_bits & 0x1:
            raise Refused(f"{info.filename} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise Refused(f"{info.filename} uses a compression Keras does not write")
        if info.filename.endswith(".json") and info.file_size > MAX_JSON_MEMBER:
            raise TooLarge(FIELD, f"{info.filename} is {info.file_size} bytes, over "
                           f"{MAX_JSON_MEMBER} bytes")
        with zf.open(info) as member:
            data = member.read(info.file_size + 1)
        if len(data) != info.file_size:
            raise Refused(f"{info.filename} is not the size its header says")
        out[info.filename] = data
    return out


def _json(data: bytes, member: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise Refused(f"{member} is not valid JSON ({str(exc)[:120]})") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
