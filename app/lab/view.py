"""The Kernel Lab: from the page's settings to panels a template can show.

Resolves the input (sample, lesson grid, typed matrix or upload) and the kernel
(catalog or edited grid), runs the convolution, and renders each stage as images on
a signed colour scale, or as tables with a worked-through output cell for small inputs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Literal

import numpy as np
from PIL import Image
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from app.config import Settings
from app.errors import InvalidInput, LimitExceeded
from app.geometry import Axis, axis
from app.imaging.decoding import ImageLimits, open_image
from app.imaging.rendering import (
    SignedScale,
    gray_image,
    png_data_urls,
    preview_url,
    signed_map_image,
)
from app.lab import convolution as conv
from app.lab.kernels import KernelName
from app.lab.samples import get_sample, lesson_matrix, load_sample
from app.lab.uploads import LabUploads, normalize

GRID_SIZES = (3, 5, 7)
CHANNEL_NAMES = ("R", "G", "B", "A")


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


class LabRequest(BaseModel):
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

    def settings(self) -> conv.ConvolutionSettings:
        pool = None
        if self.pool != "none":
            pool = conv.PoolSettings(type=self.pool, size=self.pool_size, stride=self.pool_stride)
        return conv.ConvolutionSettings(
            stride=self.stride, padding=self.padding,
            activation="relu" if self.relu else None, pool=pool,
        )


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


def fmt(v: float) -> str:
    """Short and exact where it can be: 4, -0.5, 0.0625, 12.35."""
    v = float(v)
    if v == int(v) and abs(v) < 1e12:
        return str(int(v))
    return f"{v:.4g}" if abs(v) < 1 else f"{v:.2f}".rstrip("0").rstrip(".")


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


# ---------------------------------------------------------------- presentation

@dataclass
class Cell:
    text: str
    css: str
    row: int
    col: int


@dataclass
class Table:
    rows: list[list[Cell]]
    pickable: str | None = None  # the form field a click sets ("cell" / "pool_cell")


@dataclass
class Panel:
    key: str
    title: str
    shape: list[int]
    images: list[tuple[str, str]] = field(default_factory=list)  # (channel label, data URL)
    scale: SignedScale | None = None
    table: Table | None = None


@dataclass
class Breakdown:
    title: str
    terms: list[str]
    result: str
    note: str = ""


@dataclass
class FormulaLine:
    axis: str
    text: str


@dataclass
class LabView:
    request: LabRequest
    kernel: np.ndarray
    kernel_name: str
    input_label: str
    numeric: bool
    panels: list[Panel]
    formulas: list[FormulaLine]
    pool_formulas: list[FormulaLine]
    conv_breakdown: Breakdown | None
    pool_breakdown: Breakdown | None
    result: conv.ConvolutionResult

    @property
    def kernel_rows(self) -> list[list[str]]:
        return [[fmt(v) for v in row] for row in self.kernel]

    def shapes(self) -> dict[str, list[int] | None]:
        return self.result.shapes()


def _color_class(v: float, scale: SignedScale) -> str:
    return f"c{round(v / scale.bound * 5) + 5}"


def _parse_cell(text: str, shape: tuple[int, ...]) -> tuple[int, int]:
    try:
        r, c = (int(p) for p in text.split(","))
    except ValueError:
        r, c = 0, 0
    return min(max(r, 0), shape[0] - 1), min(max(c, 0), shape[1] - 1)


def _formula(g: Axis, axis_name: str, kind: str) -> FormulaLine:
    return FormulaLine(axis_name, g.formula(kind))


def _channel_maps(x: np.ndarray, scale: SignedScale) -> list[tuple[str, Image.Image]]:
    """One image per channel, all on the stage's one scale so channels compare."""
    if x.ndim == 2:
        return [("", signed_map_image(x, scale))]
    return [(CHANNEL_NAMES[c], signed_map_image(x[:, :, c], scale)) for c in range(x.shape[2])]


def _table(
    x: np.ndarray,
    scale: SignedScale,
    pickable: str | None = None,
    marks: dict[tuple[int, int], str] | None = None,
    pad: tuple[int, int, int, int] = (0, 0, 0, 0),
) -> Table:
    """A numeric table; `pad` (top, bottom, left, right) adds zero cells marked as padding."""
    marks = marks or {}
    top, bottom, left, right = pad
    h, w = x.shape
    rows = []
    for r in range(-top, h + bottom):
        row = []
        for c in range(-left, w + right):
            inside = 0 <= r < h and 0 <= c < w
            v = float(x[r, c]) if inside else 0.0
            css = _color_class(v, scale) if inside else "pad"
            if (r, c) in marks:
                css += " " + marks[(r, c)]
            row.append(Cell(fmt(v), css, r, c))
        rows.append(row)
    return Table(rows, pickable)


def build_view(req: LabRequest, upload: bytes | None, settings: Settings,
               uploads: LabUploads | None = None) -> LabView:
    lab_input = resolve_input(req, upload, settings, uploads)
    kernel, kernel_name = resolve_lab_kernel(req, settings)
    result = conv.run(lab_input.pixels, kernel, req.settings(),
                      max_stride=settings.max_stride, max_pool_size=settings.max_pool_size)
    numeric = lab_input.pixels.ndim == 2 and max(lab_input.pixels.shape) <= settings.numeric_max_side
    gy, gx = result.geometry
    formulas = [_formula(gy, "height", req.padding), _formula(gx, "width", req.padding)]
    pool_formulas: list[FormulaLine] = []
    if result.pooled is not None:
        ps, pst = req.pool_size, result.pool_stride or req.pool_size
        pool_formulas = [_formula(axis(result.activated.shape[0], ps, pst), "height", "pool"),
                         _formula(axis(result.activated.shape[1], ps, pst), "width", "pool")]

    view = LabView(req, kernel, kernel_name, lab_input.label, numeric, [], formulas, pool_formulas,
                   None, None, result)
    if numeric:
        _numeric_panels(view, lab_input.pixels, gy, gx)
    else:
        _image_panels(view, lab_input)
    return view


def _image_panels(view: LabView, lab_input: LabInput) -> None:
    result = view.result
    preview = lab_input.preview if lab_input.preview is not None else gray_image(lab_input.pixels)
    view.panels.append(Panel("input", "Input", list(lab_input.pixels.shape),
                             [("", preview_url(preview))]))
    stages = [("feature_map", "Feature map", result.feature_map)]
    if view.request.relu:
        stages.append(("activated", "After ReLU", result.activated))
    if result.pooled is not None:
        stages.append(("pooled", f"{view.request.pool.title()} pooled", result.pooled))
    pending: list[tuple[Panel, str, Image.Image]] = []
    for key, title, x in stages:
        scale = SignedScale.of(x)
        panel = Panel(key, title, list(x.shape), scale=scale)
        view.panels.append(panel)
        pending += [(panel, label, img) for label, img in _channel_maps(x, scale)]
    urls = png_data_urls([img for _, _, img in pending])
    for (panel, label, _), url in zip(pending, urls, strict=True):
        panel.images.append((label, url))


def _numeric_panels(view: LabView, pixels: np.ndarray, gy: Axis,
                    gx: Axis) -> None:
    req, result = view.request, view.result
    fmap = result.feature_map
    r, c = _parse_cell(req.cell, fmap.shape)
    kh, kw = view.kernel.shape
    s = req.stride
    y0, x0 = r * s - gy.before, c * s - gx.before
    field_marks = {(y, x): "rf" for y in range(y0, y0 + kh) for x in range(x0, x0 + kw)}
    terms = []
    for i in range(kh):
        for j in range(kw):
            y, x = y0 + i, x0 + j
            inside = 0 <= y < pixels.shape[0] and 0 <= x < pixels.shape[1]
            v = float(pixels[y, x]) if inside else 0.0
            terms.append(f"{fmt(v)}×{fmt(view.kernel[i, j])}")
    view.conv_breakdown = Breakdown(
        f"Feature map cell ({r}, {c})", terms, fmt(fmap[r, c]),
        "Zero padding outside the image counts as 0." if req.padding == "same" else "",
    )

    in_scale = SignedScale.of(pixels)
    view.panels.append(Panel(
        "input", "Input", list(pixels.shape), scale=in_scale,
        table=_table(pixels, in_scale, marks=field_marks,
                     pad=(gy.before, gy.after, gx.before, gx.after)),
    ))
    f_scale = SignedScale.of(fmap)
    view.panels.append(Panel("feature_map", "Feature map", list(fmap.shape), scale=f_scale,
                             table=_table(fmap, f_scale, "cell", {(r, c): "picked"})))
    pool_marks: dict[tuple[int, int], str] = {}
    if result.pooled is not None:
        pr, pc = _parse_cell(req.pool_cell, result.pooled.shape)
        size, pst = req.pool_size, result.pool_stride or req.pool_size
        window = result.activated[pr * pst : pr * pst + size, pc * pst : pc * pst + size]
        pool_marks = {(pr * pst + i, pc * pst + j): "pw" for i in range(size) for j in range(size)}
        op = "max" if req.pool == "max" else "mean"
        view.pool_breakdown = Breakdown(
            f"Pooled cell ({pr}, {pc})", [fmt(v) for v in window.reshape(-1)],
            fmt(result.pooled[pr, pc]), f"the {op} of the {size}×{size} window",
        )
    if req.relu:
        a_scale = SignedScale.of(result.activated)
        view.panels.append(Panel("activated", "After ReLU", list(result.activated.shape),
                                 scale=a_scale, table=_table(result.activated, a_scale,
                                                             marks=pool_marks)))
    elif pool_marks:
        view.panels[-1].table = _table(fmap, f_scale, "cell",
                                       {**pool_marks, (r, c): "picked"})
    if result.pooled is not None:
        p_scale = SignedScale.of(result.pooled)
        view.panels.append(Panel(
            "pooled", f"{req.pool.title()} pooled", list(result.pooled.shape), scale=p_scale,
            table=_table(result.pooled, p_scale, "pool_cell", {(pr, pc): "picked"}),
        ))
