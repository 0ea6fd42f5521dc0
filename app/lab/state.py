"""The Kernel Lab's settings: what its form sends, what an API form sends, and what its link
holds, read back to the nearest valid state (app/links.py).

Every setting of the lab lives in its URL (the page rewrites it as it changes), so a link
reopens exactly what was on the screen. A link can be wrong (typed by hand, cut short,
made for a server with other limits, pointing at an upload that has since gone): then the
lab opens with the nearest state that works and says, setting by setting, what it changed.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self, cast

from pydantic import BeforeValidator, ConfigDict, Field

from app.config import Settings
from app.errors import InvalidInput
from app.formatting import fmt
from app.lab import convolution as conv
from app.lab.kernels import KernelName
from app.lab.sources import resolve_input, resolve_lab_kernel
from app.lab.uploads import LabUploads
from app.links import LinkState

GRID_SIZES = (3, 5, 7)


# The largest settings any server accepts; CNNPG_MAX_STRIDE and CNNPG_MAX_POOL_SIZE may
# set lower ones.
STRIDE_CEILING = 16
POOL_CEILING = 16
SourceName = Literal["lesson", "matrix", "upload", "webcam", "sample:cat", "sample:astronaut",
                     "sample:digit-0", "sample:digit-3", "sample:digit-7"]
# Sources whose maps the page computes in the browser (static/js/lab-engine.js), from the
# exact pixels the server would use (GET /kernel-lab/source.png); "webcam" only there.
IMAGE_SOURCES = ("upload", "webcam", "sample:cat", "sample:astronaut", "sample:digit-0",
                 "sample:digit-3", "sample:digit-7")


def _as_int(v: object) -> object:
    """Forms and query strings send numbers as text."""
    return int(v) if isinstance(v, str) and v.strip().isdigit() else v


def _yes_no(v: object) -> object:
    """A checkbox sends "on"; APIs send true or false. Nothing else is a yes or a no."""
    if isinstance(v, str):
        if v.lower() in ("on", "true"):
            return True
        if v.lower() in ("off", "false"):
            return False
        raise ValueError('must be true or false (a checkbox sends "on")')
    return v


def _blank_or_number(v: object) -> object:
    """A grid cell the learner has just cleared is "" (and counts as 0) until they type."""
    return "" if isinstance(v, str) and v.strip() == "" else v


class LabRequest(LinkState):
    """The Kernel Lab's settings, as the page's form (or a query string, or an API form) sends them."""

    model_config = ConfigDict(extra="ignore")

    source: SourceName = Field("sample:cat", description='A sample photo or digit, the lesson\'s '
                               '5×5 grid, typed numbers ("matrix"), an uploaded file ("upload"), '
                               'or the webcam (the page only: the browser reads it).')
    upload: str = Field("", pattern=r"^([0-9a-f]{20})?$", description='With source "upload" and '
                        "no file: a photo uploaded before (its id), kept by the server.")
    matrix: str = Field("", max_length=20_000, description="Numbers, one row per line.")
    channels: Literal["gray", "per_channel"] = "gray"
    kernel: KernelName | Literal["custom"] = Field(
        KernelName("horizontal_edge"), description='A catalog name, or "custom" to use the grid k.')
    ksize: Annotated[Literal[3, 5, 7], BeforeValidator(_as_int)] = Field(
        3, description="Side of the editable kernel grid.")
    k: list[Annotated[float | Literal[""], BeforeValidator(_blank_or_number)]] = Field(
        default_factory=list, min_length=9, max_length=49,
        description='The grid, row by row; an empty cell ("") counts as 0.')
    stride: int = Field(1, ge=1, le=STRIDE_CEILING)
    padding: Literal["valid", "same"] = "valid"
    relu: Annotated[bool, BeforeValidator(_yes_no)] = False
    pool: Literal["none", "max", "average"] = "none"
    pool_size: int = Field(2, ge=1, le=POOL_CEILING)
    pool_stride: int = Field(2, ge=1, le=POOL_CEILING)
    # Empty: the first cell (forms send "" for a field the page has not set).
    cell: str = Field("0,0", pattern=r"^(\d{1,5},\d{1,5})?$",
                      description="Feature-map cell to work through, as row,column.")
    pool_cell: str = Field("0,0", pattern=r"^(\d{1,5},\d{1,5})?$",
                           description="Pooled cell to work through, as row,column.")

    list_fields = ("k",)

    def settings(self) -> conv.ConvolutionSettings:
        pool = None
        if self.pool != "none":
            pool = conv.PoolSettings(type=self.pool, size=self.pool_size, stride=self.pool_stride)
        return conv.ConvolutionSettings(
            stride=self.stride, padding=self.padding,
            activation="relu" if self.relu else None, pool=pool,
        )

    # ------------------------------------------------------------ read from a link

    @classmethod
    def clean(cls, data: dict[str, Any], context: Any, changes: list[str]) -> None:
        """This server's limits on the numbers, and the kernel grid mended."""
        settings, _ = context
        _clamp_numbers(data, settings, changes)
        _repair_grid(data, changes)

    @staticmethod
    def written(value: Any) -> str:
        if isinstance(value, bool):
            return "on" if value else "off"
        return str(value) or "empty"

    def fix(self, context: tuple[Settings, LabUploads | None], changes: list[str]) -> Self:
        """Settings that are each valid but do not work together (or with this input)."""
        settings, uploads = context
        req: LabRequest = self
        if req.kernel == "custom" and not req.k:
            changes.append("kernel \"custom\" came without its weights (k): using the identity")
            req = req.model_copy(update={"kernel": "identity"})
        if req.source == "webcam":  # the browser reads it: nothing to check here
            return cast(Self, req)
        for _ in range(6):
            try:
                pixels = resolve_input(req, None, settings, uploads).pixels
                kernel, _ = resolve_lab_kernel(req, settings)
                result = conv.run(pixels, kernel, req.settings(), max_stride=settings.max_stride,
                                  max_pool_size=settings.max_pool_size)
            except InvalidInput as exc:
                req = _fix(req, exc, changes)
                continue
            return cast(Self, _fix_cells(req, result, changes))
        changes.append("these settings do not work together: the lab's defaults")
        return type(self)()


DEFAULTS = LabRequest()


def _default_text(name: str) -> str:
    return LabRequest.written(getattr(DEFAULTS, name))


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


def _fix(req: LabRequest, exc: InvalidInput, changes: list[str]) -> LabRequest:
    """One setting changed so that the lab can show something, after its error."""
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
        r, c = parse_cell(text, x.shape)
        if f"{r},{c}" != text:
            changes.append(f"cell ({text}) is outside the {x.shape[0]}×{x.shape[1]} {label}: "
                           f"picked ({r}, {c}), the nearest")
            update[name] = f"{r},{c}"
    return req.model_copy(update=update) if update else req


def parse_cell(text: str, shape: tuple[int, ...]) -> tuple[int, int]:
    """A picked cell ("row,col"), moved onto a map of this shape."""
    try:
        r, c = (int(p) for p in text.split(","))
    except ValueError:
        r, c = 0, 0
    return min(max(r, 0), shape[0] - 1), min(max(c, 0), shape[1] - 1)
