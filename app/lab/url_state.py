"""The Kernel Lab's state as a link: read leniently, repaired to the nearest valid state.

Every setting of the lab lives in its URL (the page rewrites it as it changes), so a link
reopens exactly what was on the screen. A link can be wrong (typed by hand, cut short,
made for a server with other limits, pointing at an upload that has since gone): then
the lab opens with the nearest state that works and says, setting by setting, what it
changed, rather than answering with an error page.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from app.config import Settings
from app.errors import InvalidInput
from app.lab import convolution as conv
from app.lab.uploads import LabUploads
from app.lab.view import (
    GRID_SIZES,
    LabRequest,
    _parse_cell,
    fmt,
    resolve_input,
    resolve_lab_kernel,
)

LIST_FIELDS = ("k",)
DEFAULTS = LabRequest()


def _default_text(name: str) -> str:
    value = getattr(DEFAULTS, name)
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value) or "empty"


def query_dict(items: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """A query string's fields: `k` repeated (the kernel grid), others once (the last)."""
    out: dict[str, Any] = {}
    for key, value in items:
        if key in LIST_FIELDS:
            out.setdefault(key, []).append(value)
        elif key in LabRequest.model_fields:
            out[key] = value
    return out


def _whole(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _clamp_numbers(data: dict[str, Any], settings: Settings, changes: list[str]) -> None:
    limits = {"stride": ("stride", settings.max_stride, "CNNPG_MAX_STRIDE"),
              "pool_size": ("pooling size", settings.max_pool_size, "CNNPG_MAX_POOL_SIZE"),
              "pool_stride": ("pooling stride", settings.max_pool_size, "CNNPG_MAX_POOL_SIZE")}
    for name, (label, top, setting) in limits.items():
        if name not in data:
            continue
        v = _whole(data[name])
        if v is None:
            changes.append(f"{label} {str(data[name])[:20]!r} is not a whole number: using "
                           f"{_default_text(name)}")
            del data[name]
        elif v < 1:
            changes.append(f"{label} {v} is less than 1: using 1")
            data[name] = 1
        elif v > top:
            changes.append(f"{label} {v} is over the limit of {top} ({setting}): using {top}")
            data[name] = top
        else:
            data[name] = v
    if "ksize" in data:
        v = _whole(data["ksize"])
        if v not in GRID_SIZES:
            near = 3 if v is None else min(GRID_SIZES, key=lambda g: (abs(g - v), g))
            changes.append(f"a {str(data['ksize'])[:8]}×… kernel grid is not offered (3, 5 or "
                           f"7): using {near}×{near}")
            data["ksize"] = near


def _repair_grid(data: dict[str, Any], changes: list[str]) -> None:
    """Custom weights: anything that is not a number counts as 0; a grid of the wrong
    length is padded with zeros (or cut) to the grid size."""
    if "k" not in data:
        return
    values: list[float] = []
    bad = 0
    for raw in data["k"][:49]:
        text = str(raw).strip()
        if text == "":
            values.append(0.0)
            continue
        try:
            v = float(text)
        except ValueError:
            v = float("nan")
        if v != v or v in (float("inf"), float("-inf")):
            bad += 1
            v = 0.0
        values.append(v)
    if bad:
        changes.append(f"{bad} kernel weight{'s' * (bad != 1)} {'were' if bad != 1 else 'was'} "
                       "not a number: using 0")
    size = data.get("ksize", DEFAULTS.ksize)
    side = round(len(values) ** 0.5)
    if side * side != len(values) or side not in GRID_SIZES:
        want = size * size
        changes.append(f"the kernel grid had {len(data['k'])} weights, not {want}: "
                       + ("padded with zeros" if len(values) < want else "cut to size"))
        values = (values + [0.0] * want)[:want]
    data["k"] = [fmt(v) for v in values]


def _validated(data: dict[str, Any], changes: list[str]) -> LabRequest:
    """Each field pydantic refuses goes back to its default, said so."""
    for _ in range(len(LabRequest.model_fields) + 1):
        try:
            return LabRequest.model_validate(data)
        except ValidationError as exc:
            for e in exc.errors(include_url=False):
                name = str(e["loc"][0]) if e["loc"] else ""
                if name in data:
                    shown = data.pop(name)
                    shown = shown if isinstance(shown, str) else "…"
                    changes.append(f"{name} {shown[:30]!r} is not valid ({e['msg']}): using "
                                   f"{_default_text(name)}")
    return LabRequest()


def repair(raw: dict[str, Any], settings: Settings,
           uploads: LabUploads | None) -> tuple[LabRequest, list[str]]:
    """The nearest valid state to `raw` (a query string's fields), and what was changed."""
    changes: list[str] = []
    data = dict(raw)
    _clamp_numbers(data, settings, changes)
    _repair_grid(data, changes)
    req = _validated(data, changes)
    if req.kernel == "custom" and not req.k:
        changes.append("kernel \"custom\" came without its weights (k): using the identity")
        req = req.model_copy(update={"kernel": "identity"})
    if req.source == "webcam":  # the browser reads it: nothing to check here
        return req, changes
    # Settings that are each valid but do not work together (or with this input).
    for _ in range(6):
        try:
            pixels = resolve_input(req, None, settings, uploads).pixels
            kernel, _ = resolve_lab_kernel(req, settings)
            result = conv.run(pixels, kernel, req.settings(), max_stride=settings.max_stride,
                              max_pool_size=settings.max_pool_size)
        except InvalidInput as exc:
            req = _fix(req, exc, changes)
            continue
        return _fix_cells(req, result, changes), changes
    return LabRequest(), [*changes, "these settings do not work together: the lab's defaults"]


def _fix(req: LabRequest, exc: InvalidInput, changes: list[str]) -> LabRequest:
    if exc.field in ("upload", "file", "source"):
        changes.append(f"{exc.message}: showing the cat instead")
        return req.model_copy(update={"source": "sample:cat", "upload": ""})
    if exc.field == "matrix":
        changes.append(f"the typed numbers: {exc.message}; showing the lesson's 5×5 image")
        return req.model_copy(update={"source": "lesson"})
    if exc.field == "kernel" and req.padding == "valid":
        changes.append(f"{exc.message}: padding set to \"same\"")
        return req.model_copy(update={"padding": "same"})
    if exc.field.startswith("pool"):
        changes.append(f"{exc.message}: pooling switched off")
        return req.model_copy(update={"pool": "none"})
    changes.append(f"{exc.field}: {exc.message}; using the lab's defaults for the kernel")
    return req.model_copy(update={"kernel": DEFAULTS.kernel, "k": [], "stride": 1,
                                  "padding": "valid"})


def _fix_cells(req: LabRequest, result: conv.ConvolutionResult,
               changes: list[str]) -> LabRequest:
    """A picked cell outside its map moves to the nearest cell of the map."""
    update: dict[str, str] = {}
    maps = (("cell", "feature map", result.feature_map), ("pool_cell", "pooled map", result.pooled))
    for name, label, x in maps:
        text = getattr(req, name)
        if x is None or not text:
            continue
        r, c = _parse_cell(text, x.shape)
        if f"{r},{c}" != text:
            changes.append(f"cell ({text}) is outside the {x.shape[0]}×{x.shape[1]} {label}: "
                           f"picked ({r}, {c}), the nearest")
            update[name] = f"{r},{c}"
    return req.model_copy(update=update) if update else req
