"""The Draw page: one update while a digit is drawn, the first layer's kernels, and the page's
link.

An update (four a second while drawing; DESIGN.md's budget is 30 ms of server time and
100 KB) is one forward pass through the model's explainer (every layer's output and the
probabilities), one gradient pass for Grad-CAM, and one picture per convolution or pooling
layer (app/imaging/map_grid.py); the heatmap goes as a small transparent PNG laid over the
input. The kernels do not change while drawing: the page gets them once, with the page.

The link holds the model and the input: the strokes themselves (`d`, a few hundred
characters: points on a 140×140 grid, 2 canvas pixels apart, which is where the page puts
them as they are drawn, so a link redraws exactly the same canvas), or a test image of the
model's dataset (`test`), or an uploaded image as the network saw it (`px`). A link that
cannot be used as it is opens with the nearest one that can, and says what changed.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

import numpy as np

from app.datasets.catalog import DatasetCatalog
from app.errors import InvalidInput
from app.imaging.map_grid import MapGrid, heat_overlay_url, map_grid
from app.imaging.rendering import SignedScale, data_url, png_bytes
from app.networks import explain_view, inputs
from app.networks.explain import Explainer, seen_image
from app.networks.inference import LoadedModel, Prediction
from app.networks.registry import DEFAULT_MODEL, ModelInfo, Registry

GRID = 140  # the canvas (280×280) in steps of 2 pixels: a stroke's points are on this grid
END = 255  # ends a stroke in the encoded drawing
MAX_DRAWING_BYTES = 3000  # about 1,500 points: more than any digit needs, short enough for a QR code
MAX_URL_PX = 8000  # an upload kept in the link as the network saw it, up to this many characters


@dataclass
class LayerGrid:
    name: str
    type: str
    shape: list[int]
    scale: SignedScale
    grid: MapGrid


@dataclass
class DrawAnalysis:
    prediction: Prediction
    input_image: str  # the input as the network sees it
    heat: str  # where it looked: a transparent PNG for over the input
    method: str  # "gradcam", or "gradient" for a model without a convolution
    layers: list[LayerGrid]
    kernel_layer: str | None  # the layer whose maps open their kernel in the Kernel Lab
    px: str  # the input, for the link (explain_view.encode_px)
    true_label: int | None = None


@dataclass
class KernelGrid:
    layer: str
    shape: list[int]
    grid: MapGrid
    weights: list[list[list[float]]]  # one 2-D kernel per filter (first input channel)


def kernels(loaded: LoadedModel) -> KernelGrid | None:
    """The first Conv2D layer's kernels (their first input channel), one picture."""
    first = next((layer for layer in loaded.map_layers if type(layer).__name__ == "Conv2D"),
                 None)
    if first is None:
        return None
    w = first.get_weights()[0]  # (kh, kw, c_in, filters)
    k2d = w[:, :, 0, :]
    return KernelGrid(first.name, list(w.shape), map_grid(k2d),
                      [k2d[:, :, f].round(4).tolist() for f in range(k2d.shape[2])])


def kernel_weights(loaded: LoadedModel, filter_index: int) -> list[list[float]] | None:
    """One kernel of the first Conv2D layer (first input channel), or None."""
    found = kernels(loaded)
    if found is None:
        return None
    return found.weights[min(max(filter_index, 0), len(found.weights) - 1)]


def analyze(ex: Explainer, x: np.ndarray) -> DrawAnalysis:
    """What the page shows for one input."""
    outs = ex.forward(x)
    probs = outs[ex.output_index].reshape(-1)
    label = int(np.argmax(probs))
    method = "gradcam" if ex.cam is not None else "gradient"
    looked = ex.saliency(x, method, label, outputs=outs, overlay=False)
    layers = []
    for node in ex.nodes:
        if node.kind.map_layer:
            a = outs[node.index]
            scale = SignedScale.of(a)
            layers.append(LayerGrid(node.name, node.type, list(a.shape), scale, map_grid(a, scale)))
    first = next((n.name for n in ex.nodes if n.type == "Conv2D"), None)
    linked = first if ex.info.input_shape[2] == 1 else None
    prediction = Prediction(ex.info.id, label, [round(float(p), 6) for p in probs],
                            ex.class_name(label))
    return DrawAnalysis(prediction, data_url(png_bytes(seen_image(x))),
                        heat_overlay_url(looked.heatmap), method, layers, linked,
                        explain_view.encode_px(x))


# ------------------------------------------------------------------------------ the link


@dataclass
class DrawLink:
    """The page's state as its link has it, made valid."""

    model: str = DEFAULT_MODEL
    strokes: list[list[list[int]]] = field(default_factory=list)  # [[[x, y], …], …] on GRID
    test: int | None = None
    px: str | None = None
    changes: list[str] = field(default_factory=list)

    def query(self) -> str:
        pairs: list[tuple[str, str]] = [("model", self.model)]
        if self.strokes:
            pairs.append(("d", encode_strokes(self.strokes)))
        elif self.test is not None:
            pairs.append(("test", str(self.test)))
        elif self.px:
            pairs.append(("px", self.px))
        return urlencode(pairs)


def encode_strokes(strokes: list[list[list[int]]]) -> str:
    """Strokes on the GRID as base64url: x, y bytes per point, END after each stroke but
    the last (the page writes the same: static/js/draw.js)."""
    out = bytearray()
    for i, stroke in enumerate(strokes):
        if i:
            out.append(END)
        for x, y in stroke:
            out += bytes((x, y))
    return base64.urlsafe_b64encode(bytes(out)).decode("ascii").rstrip("=")


def decode_strokes(text: str, changes: list[str]) -> list[list[list[int]]]:
    """`encode_strokes` reversed, repaired where it can be: points off the grid move to its
    edge, a point missing its y is dropped, an empty stroke is dropped, and a drawing too
    long is cut; something that is not base64url is no drawing at all."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        changes.append("the drawing (d) is not base64url: the canvas is left empty")
        return []
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        changes.append("the drawing (d) is not base64url: the canvas is left empty")
        return []
    if len(raw) > MAX_DRAWING_BYTES:
        changes.append(f"the drawing is longer than {MAX_DRAWING_BYTES:,} bytes: cut there")
        raw = raw[:MAX_DRAWING_BYTES]
    strokes: list[list[list[int]]] = []
    moved = odd = empty = 0
    for part in raw.split(bytes((END,))):
        if len(part) % 2:
            odd += 1
            part = part[:-1]
        if not part:
            empty += 1
            continue
        stroke = []
        for i in range(0, len(part), 2):
            x, y = part[i], part[i + 1]
            if x >= GRID or y >= GRID:
                moved += 1
                x, y = min(x, GRID - 1), min(y, GRID - 1)
            stroke.append([x, y])
        strokes.append(stroke)
    if moved:
        changes.append(f"{moved} point{'s' * (moved != 1)} of the drawing lay outside the "
                       "canvas: moved to its edge")
    if odd:
        changes.append(f"{odd} stroke{'s' * (odd != 1)} of the drawing ended in half a point: "
                       "dropped it")
    if empty and raw:
        changes.append(f"{empty} empty stroke{'s' * (empty != 1)} in the drawing: dropped")
    return strokes


def _whole(text: str) -> int | None:
    return int(text) if re.fullmatch(r"\s*\d{1,9}\s*", text) else None


def repair_link(query: Mapping[str, str], registry: Registry, datasets: DatasetCatalog
                ) -> tuple[DrawLink, ModelInfo]:
    """The nearest valid state to a Draw link's query, and what was changed."""
    link = DrawLink()
    changes = link.changes
    wanted = query.get("model", DEFAULT_MODEL)
    info, change = registry.get_or_shipped(wanted)
    if change:
        changes.append(change)
    link.model = info.id
    given = [k for k in ("d", "test", "px") if query.get(k)]
    if len(given) > 1:
        changes.append(f"a link holds one input, this one had {' and '.join(given)}: kept "
                       f"{given[0]}")
    kind = given[0] if given else None
    if kind == "d":
        link.strokes = decode_strokes(query["d"], changes)
    elif kind == "test":
        link.test = _test_index(query["test"], info, datasets, changes)
    elif kind == "px":
        try:
            explain_view.decode_px(query["px"], info.input_shape)
            link.px = query["px"]
        except InvalidInput as exc:
            changes.append(f"the image in the link (px) {exc.message}: the canvas is left empty")
    return link, info


def _test_index(text: str, info: ModelInfo, datasets: DatasetCatalog,
                changes: list[str]) -> int | None:
    index = _whole(text)
    if index is None:
        changes.append(f"test image {text[:20]!r} is not a whole number: using test image 0")
        index = 0
    try:
        count = test_count(info, datasets)
    except InvalidInput as exc:
        changes.append(f"no test image: {exc.message}")
        return None
    if index >= count:
        changes.append(f"test image {index} is not there ({info.dataset} has {count:,} here): "
                       f"using the last one, {count - 1}")
        index = count - 1
    return index


def test_count(info: ModelInfo, datasets: DatasetCatalog) -> int:
    """How many test images the model's dataset has here (a 422 that says why when none)."""
    inputs.test_image(datasets, info, 0)  # the same refusals as a test image would meet
    return len(datasets.load(info.dataset).x_test)
