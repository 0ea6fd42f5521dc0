"""model.weights.h5 of an uploaded `.keras` file (step 4 of app/networks/uploads): plain,
local HDF5 datasets of numbers, within the parameter limit."""

from __future__ import annotations

import io
import math
from typing import Any

from app.errors import LimitExceeded
from app.networks.uploads.limits import FIELD, Refused


def check_weights(data: bytes, max_params: int) -> int:
    """The numbers in the layers' weights; refuses anything but plain, local datasets."""
    import h5py

    try:
        f = h5py.File(io.BytesIO(data), "r")
    except (OSError, ValueError) as exc:
        raise Refused(f"model.weights.h5 is not an HDF5 file ({str(exc)[:120]})") from None
    counts = {"layers": 0, "all": 0}
    with f:
        _walk_h5(f, "", counts, max_params, h5py)
    if counts["layers"] > max_params:
        raise LimitExceeded(FIELD, f"{counts['layers']:,} parameters is over the limit of "
                            f"{max_params:,} (CNNPG_MAX_PARAMS)")
    return counts["layers"]


def _walk_h5(group: Any, path: str, counts: dict[str, int], max_params: int, h5py: Any) -> None:
    for name in group:
        where = f"{path}/{name}"
        link = group.get(name, getlink=True)
        if not isinstance(link, h5py.HardLink):
            raise Refused(f"model.weights.h5 has a {type(link).__name__} at {where[:100]}: "
                          "links are refused")
        obj = group[name]
        if isinstance(obj, h5py.Group):
            _walk_h5(obj, where, counts, max_params, h5py)
        elif isinstance(obj, h5py.Dataset):
            if obj.is_virtual or obj.external:
                raise Refused(f"model.weights.h5 stores {where[:100]} outside the file: refused")
            if obj.dtype.kind not in "fiub":
                raise Refused(f"model.weights.h5 holds non-numeric data at {where[:100]}")
            n = math.prod(obj.shape) if obj.shape else 1
            counts["all"] += n
            if where.startswith("/layers/") or where.startswith("/_layer_checkpoint"):
                counts["layers"] += n
            # A declared shape far beyond the limit is refused before Keras allocates it
            # (CVE-2026-0897); optimizer state may hold twice or thrice the weights.
            if counts["all"] > 4 * max_params:
                raise LimitExceeded(FIELD, f"model.weights.h5 declares more than "
                                    f"{4 * max_params:,} numbers (CNNPG_MAX_PARAMS is "
                                    f"{max_params:,})")
        else:
            raise Refused(f"model.weights.h5 holds an unknown object at {where[:100]}")
