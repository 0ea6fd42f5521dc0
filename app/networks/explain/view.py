"""The Explain page's typed view: what its templates show, built from an `Explainer`.

Maps are palette PNGs at their own resolution (the browser scales them up, pixelated);
a receptive field, a window or a picked cell is drawn over them by the template as SVG,
in the map's own coordinates, so nothing here depends on the size shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from app.formatting import fmt
from app.imaging.palette_png import palette_png, signed_indices
from app.imaging.rendering import SignedScale, data_url, heat_colours, png_bytes
from app.networks.explain import Explainer, LayerOverview, Overview, seen_image
from app.networks.explain.graph import Node
from app.networks.explain.outline import Row
from app.networks.layers.base import Neuron, activation_name
from app.networks.layers.convolution import ConvCell, SeparableConv2DKind
from app.networks.layers.core import DenseUnit, SoftmaxUnit
from app.networks.layers.pooling import GlobalPoolUnit, PoolCell
from app.networks.ranges import to_unit

MAX_STRIP = 480  # widest bar strip, in bars
NUMBER_GRID_MAX = 7  # kernels and windows up to 7×7 are shown as numbers


@dataclass
class MapView:
    url: str
    rows: int
    cols: int
    title: str
    rect: tuple[int, int, int, int] | None = None  # first row, last row, first col, last col
    mark: tuple[int, int] | None = None  # a picked cell
    pickable: bool = False
    scale: SignedScale | None = None


@dataclass
class NumberGrid:
    rows: list[list[tuple[str, str]]]  # (text, css class)


@dataclass
class StripView:
    url: str
    units: int
    bars: int
    clickable: bool


@dataclass
class ChannelCard:
    channel: int
    input: MapView
    kernel: MapView
    correlation: MapView
    kernel_grid: NumberGrid | None = None
    term: float | None = None
    products: NumberGrid | None = None
    pointwise: float | None = None


@dataclass
class ChannelSummary:
    """A convolution's whole channel, for the formula above its maps."""

    bias: float
    max_difference: float
    activation: str
    inputs: int
    source: str


@dataclass
class NeuronView:
    kind: str  # the part of the page: conv, pool, global_pool, dense, softmax, value, pick
    node: Node
    channel: int
    cell: tuple[int, int] | None
    title: str
    description: str
    output: float | None = None
    detail: Neuron | None = None
    whole: ChannelSummary | None = None
    cards: list[ChannelCard] = field(default_factory=list)
    maps: dict[str, MapView] = field(default_factory=dict)
    grids: dict[str, NumberGrid] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)


def color(v: float, scale: SignedScale) -> str:
    return f"c{round(v / scale.bound * 5) + 5}"


def number_grid(values: np.ndarray, scale: SignedScale | None = None,
                marks: dict[tuple[int, int], str] | None = None) -> NumberGrid:
    scale = scale or SignedScale.of(np.nan_to_num(values))
    marks = marks or {}
    rows = []
    for r, row in enumerate(values):
        cells = []
        for c, v in enumerate(row):
            if v is None or (isinstance(v, float) and np.isnan(v)):
                cells.append(("·", "pad"))
                continue
            css = color(float(v), scale) + (" " + marks[(r, c)] if (r, c) in marks else "")
            cells.append((fmt(round(float(v), 4)), css))
        rows.append(cells)
    return NumberGrid(rows)


def signed_map(x: np.ndarray, scale: SignedScale, title: str, **extra: Any) -> MapView:
    url = data_url(palette_png(signed_indices(x, scale)))
    return MapView(url, x.shape[0], x.shape[1], title, scale=scale, **extra)


def seen_map(x: np.ndarray, title: str, **extra: Any) -> MapView:
    return MapView(data_url(png_bytes(seen_image(x))), x.shape[0], x.shape[1], title, **extra)


def bar_strip(values: np.ndarray, clickable: bool, height: int = 40) -> StripView:
    """A 1-D output as bars up (positive) and down (negative) from a middle line, each in its
    value's colour on the layer's signed scale."""
    v = values.reshape(-1).astype(np.float64)
    n = len(v)
    if n > MAX_STRIP:  # groups of neighbours, each shown by its value of largest size
        groups = np.array_split(v, MAX_STRIP)
        v = np.array([g[np.argmax(np.abs(g))] for g in groups])
    scale = SignedScale.of(v)
    width = 3 if len(v) <= 160 else 1
    mid = height // 2
    img = np.full((height, len(v) * width), 128, np.uint8)
    img[mid, :] = 110
    colours = signed_indices(v, scale)
    sizes = np.rint(np.abs(v) / scale.bound * (mid - 1)).astype(int)
    for i, (size, colour) in enumerate(zip(sizes, colours, strict=True)):
        if size == 0:
            continue
        rows = slice(mid - size, mid) if v[i] > 0 else slice(mid + 1, mid + 1 + size)
        img[rows, i * width:(i + 1) * width - (1 if width > 1 else 0)] = colour
    return StripView(data_url(palette_png(img)), n, len(v), clickable and n <= MAX_STRIP)


# ------------------------------------------------------------------------------ overview


MAX_TILES = 64  # a layer's channels drawn in the overview; more on request


@dataclass
class OverviewLayer:
    name: str
    type: str
    shape: list[int | None]
    scale: SignedScale
    channels: list[str] | None
    strip: StripView | None
    clickable: bool
    explained: bool
    total: int = 0  # its channels (3-D) or units (1-D), of which `channels` may show fewer
    inputs: list[str] = field(default_factory=list)  # where it reads from, when not just above


@dataclass
class OverviewRow:
    """A layer, or a block of layers (closed: drawn when opened)."""

    name: str
    index: int
    layer: OverviewLayer | None  # a single layer
    block: list[OverviewLayer] | None  # a block's layers (empty while closed)
    count: int
    shapes: tuple[str, str]
    types: list[tuple[str, int]]
    inputs: list[str]
    skip: bool
    merge: bool
    open: bool


def _layer_view(node: Node, la: LayerOverview, inputs: list[str]) -> OverviewLayer:
    strip = None
    if la.values is not None:
        strip = bar_strip(np.asarray(la.values), node.kind.explains)
    return OverviewLayer(la.name, la.type, la.output_shape, la.scale, la.channels, strip,
                         node.kind.explains, la.explained, node.shape[-1], inputs)


def _input_names(ex: Explainer, node: Node) -> list[str]:
    """A node's inputs, named, when it reads more than the node just above it."""
    names = [ex.nodes[s].name for s in node.inputs]
    return names if node.inputs != (node.index - 1,) else []


def overview_layers(ex: Explainer, ov: Overview) -> list[OverviewLayer]:
    return [_layer_view(node, la, _input_names(ex, node))
            for node, la in zip(ex.nodes, ov.layers, strict=True)]


def shown_channels(rows: list[Row], opened: set[str], everything: set[str]
                   ) -> Callable[[Node], int | None]:
    """How many channels of each node the page draws: none in a closed block, up to
    MAX_TILES elsewhere (all for a layer whose every channel was asked for)."""
    closed = {n.index for r in rows if r.block and r.name not in opened for n in r.nodes}

    def count(node: Node) -> int | None:
        if node.index in closed:
            return 0
        return None if node.name in everything or node.shape[-1] <= MAX_TILES else MAX_TILES

    return count


def overview_rows(ex: Explainer, ov: Overview, rows: list[Row], opened: set[str]
                  ) -> list[OverviewRow]:
    layers = overview_layers(ex, ov)
    out = []
    for r in rows:
        views = [layers[n.index] for n in r.nodes]
        shapes = ("×".join(map(str, r.shapes[0])), "×".join(map(str, r.shapes[1])))
        is_open = r.name in opened
        out.append(OverviewRow(r.name, r.index, None if r.block else views[0],
                               (views if is_open else []) if r.block else None, len(r.nodes),
                               shapes, r.types, r.inputs, r.skip, r.merge, is_open))
    return out


# ------------------------------------------------------------------------- neuron views


def _describe(ex: Explainer, node: Node) -> str:
    layer = node.layer
    axes = node.kind.axes(layer, ex.nodes[node.inputs[0]].shape) if node.inputs else None
    if axes is not None:
        ar, ac = axes
        conv = not node.kind.pooling
        parts = [f"{'kernel' if conv else 'window'} {ar.k}×{ac.k}",
                 f"stride {ar.s}×{ac.s}" if (ar.s, ac.s) != (1, 1) else "stride 1",
                 f"padding “{layer.padding}”"]
        if (ar.d, ac.d) != (1, 1):
            parts.append(f"dilation {ar.d}×{ac.d}")
        if conv:
            parts.append(f"activation {activation_name(layer)}")
        return ", ".join(parts)
    if isinstance(getattr(layer, "units", None), int):
        return f"{node.shape[0]} units, activation {activation_name(layer)}"
    return node.type


def neuron_view(ex: Explainer, x: np.ndarray, layer: str, channel: int,
                cell: tuple[int, int] | None) -> NeuronView:
    node = ex.node(layer)
    ex.check_place(node, channel, cell if cell is not None or not node.spatial else (0, 0))
    where = f"[{cell[0]}, {cell[1]}, {channel}]" if cell is not None else (
        f"[:, :, {channel}]" if node.spatial else f"[{channel}]")
    view = NeuronView("value", node, channel, cell, f"{node.name}{where}", _describe(ex, node))
    if node.kind.windowed and not node.kind.pooling:
        _conv(ex, x, view)
    elif node.kind.windowed:
        _pool(ex, x, view)
    elif cell is not None or not node.spatial:
        detail = ex.neuron(x, layer, channel, cell)
        view.kind, view.detail, view.output = detail.view, detail, detail.output
        if isinstance(detail, GlobalPoolUnit):
            values = np.asarray(detail.window.values, dtype=np.float64)
            view.maps["input"] = signed_map(values, SignedScale.of(values),
                                            f"{ex.nodes[node.inputs[0]].name}[:, :, {channel}]")
        if isinstance(detail, DenseUnit | SoftmaxUnit) and detail.logits is not None:
            assert detail.probabilities is not None
            probs = detail.probabilities
            z = np.asarray(detail.logits)
            e = np.exp(z - z.max())
            view.rows = [{"class": ex.class_name(k), "logit": z[k], "exp": e[k], "p": probs[k],
                          "picked": k == channel} for k in range(len(z))]
    else:
        _spatial_other(ex, x, view)
    if cell is not None and view.detail is not None and view.detail.input_field is not None:
        f = view.detail.input_field
        view.maps["field"] = seen_map(to_unit(x, ex.info), "the field on the input", rect=(
            f.rows[0], f.rows[1], f.cols[0], f.cols[1]))
    return view


def _conv(ex: Explainer, x: np.ndarray, view: NeuronView) -> None:
    node, channel, cell = view.node, view.channel, view.cell
    view.kind = "conv"
    whole = ex.channel(x, node.name, channel)
    parts = whole.parts
    in_scale = SignedScale.of(np.stack([p.input for p in parts]))
    k_scale = SignedScale.of(np.stack([p.kernel for p in parts]))
    c_scale = SignedScale.of(np.stack([p.correlation for p in parts]))
    rect = None
    terms = {}
    if cell is not None:
        detail = ex.neuron(x, node.name, channel, cell)
        assert isinstance(detail, ConvCell) and detail.receptive_field is not None
        view.detail, view.output = detail, detail.output
        rf = detail.receptive_field
        rect = (rf.rows[0], rf.rows[1], rf.cols[0], rf.cols[1])
        terms = {t.channel: t for t in detail.terms}
    for p in parts:
        k, kernel = p.channel, p.kernel
        card = ChannelCard(
            k,
            signed_map(p.input, in_scale, f"{whole.source}[:, :, {k}]", rect=rect),
            signed_map(kernel, k_scale, f"kernel[:, :, {k}, {channel}]"),
            signed_map(p.correlation, c_scale, f"{whole.source}[:, :, {k}] ⋆ kernel", mark=cell,
                       pickable=True),
            pointwise=p.weight if isinstance(node.kind, SeparableConv2DKind) else None,
        )
        if max(kernel.shape) <= NUMBER_GRID_MAX:
            card.kernel_grid = number_grid(kernel, k_scale)
        t = terms.get(k)
        if t is not None:
            card.term = t.sum
            products = np.asarray(t.window) * np.asarray(t.kernel)
            if max(products.shape) <= NUMBER_GRID_MAX:
                card.products = number_grid(products)
        view.cards.append(card)
    if cell is not None:  # the channels that count most first
        view.cards.sort(key=lambda c: -abs(c.term or 0.0))
    pre, out = whole.pre_activation, whole.output
    scale = SignedScale.of(np.stack([pre, out]))
    view.maps["pre"] = signed_map(pre, scale, "Σ + bias: the pre-activation", mark=cell,
                                  pickable=True)
    view.maps["output"] = signed_map(out, scale, f"{node.name}[:, :, {channel}] (Keras)",
                                     mark=cell, pickable=True)
    view.whole = ChannelSummary(whole.bias, whole.max_difference, whole.activation, len(parts),
                                whole.source)


def _pool(ex: Explainer, x: np.ndarray, view: NeuronView) -> None:
    node, channel, cell = view.node, view.channel, view.cell
    view.kind = "pool"
    outs = ex.forward(x)
    src = outs[node.inputs[0]][:, :, channel]
    out = outs[node.index][:, :, channel]
    scale = SignedScale.of(np.stack([src.max(), src.min(), out.max(), out.min()]))
    rect = None
    if cell is not None:
        detail = ex.neuron(x, node.name, channel, cell)
        assert isinstance(detail, PoolCell)
        view.detail, view.output = detail, detail.output
        w = detail.window
        rect = (w.rows[0], w.rows[1], w.cols[0], w.cols[1])
        values = np.array([[np.nan if v is None else v for v in row] for row in w.values])
        marks = {}
        if w.argmax is not None:
            axes = node.kind.axes(node.layer, ex.nodes[node.inputs[0]].shape)
            assert axes is not None
            ar, ac = axes
            marks[(w.argmax[0] - ar.first(cell[0]), w.argmax[1] - ac.first(cell[1]))] = "pw"
        view.grids["window"] = number_grid(values, scale, marks)
    src_name = ex.nodes[node.inputs[0]].name
    view.maps["input"] = signed_map(src, scale, f"{src_name}[:, :, {channel}]", rect=rect)
    view.maps["output"] = signed_map(out, scale, f"{node.name}[:, :, {channel}] (Keras)",
                                     mark=cell, pickable=True)


def _spatial_other(ex: Explainer, x: np.ndarray, view: NeuronView) -> None:
    """A 3-D layer that is not broken down, before a cell is picked: its map to pick from."""
    outs = ex.forward(x)
    out = outs[view.node.index][:, :, view.channel]
    view.maps["output"] = signed_map(out, SignedScale.of(out), f"{view.node.name}"
                                     f"[:, :, {view.channel}]", pickable=True)
    view.kind = "pick"


# ------------------------------------------------------------------------------- saliency


def heatmap_image(heat: np.ndarray) -> str:
    return data_url(png_bytes(Image.fromarray(np.ascontiguousarray(heat_colours(heat)))))
