"""The Draw page: one update while a digit is drawn, the first layer's kernels, and the page's
link.

An update (four a second while drawing; DESIGN.md's budget is 30 ms of server time and
100 KB) is one forward pass through the model's explainer (every layer's output and the
probabilities), one gradient pass for Grad-CAM, and one picture per convolution or pooling
layer (app/imaging/map_grid.py); the heatmap goes as a small transparent PNG laid over the
input. The kernels do not change while drawing: the page gets them once, with the page.

Its link is app/networks/draw/link.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.imaging.map_grid import MapGrid, heat_overlay_url, map_grid
from app.imaging.rendering import SignedScale, data_url, png_bytes
from app.networks.explain import Explainer, seen_image
from app.networks.inference import LoadedModel, Prediction
from app.networks.inputs import encode_px
from app.networks.ranges import to_unit

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
    px: str  # the input, for the link (app/networks/inputs.py encode_px)
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
    unit = to_unit(x, ex.info)
    return DrawAnalysis(prediction, data_url(png_bytes(seen_image(unit))),
                        heat_overlay_url(looked.heatmap), method, layers, linked,
                        encode_px(unit))
