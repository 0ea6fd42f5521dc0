"""The Kernel Lab: from the page's settings to panels a template can show.

Resolves the input (sample, lesson grid, typed matrix or upload) and the kernel
(catalog or edited grid), runs the convolution, and renders each stage as images on
a signed colour scale, or as tables with a worked-through output cell for small inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from app.config import Settings
from app.formatting import fmt
from app.geometry import Axis, axis
from app.imaging.rendering import (
    SignedScale,
    gray_image,
    png_data_urls,
    preview_url,
    signed_map_image,
)
from app.lab import convolution as conv
from app.lab.sources import LabInput, resolve_input, resolve_lab_kernel
from app.lab.state import LabRequest, parse_cell
from app.lab.uploads import LabUploads

CHANNEL_NAMES = ("R", "G", "B", "A")


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
    r, c = parse_cell(req.cell, fmap.shape)
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
        pr, pc = parse_cell(req.pool_cell, result.pooled.shape)
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
