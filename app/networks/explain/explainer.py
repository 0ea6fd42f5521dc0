"""Explaining a model on one input: every layer's output, how one number is computed from
the layer below, and which pixels the prediction rests on.

One `Explainer` per loaded model (kept with its `LoadedModel`) holds the model's graph
(app/networks/explain/graph.py) and two TensorFlow functions, each run eagerly on its
first call and traced at its second (app/networks/runtime.py): every layer's output in
one forward pass, and the gradients saliency needs. The outputs of the last few inputs are
kept: the overview and then each neuron a learner opens ask for the same input's outputs.
How one number comes about is the
layer kind's breakdown (app/networks/layers), numpy on those outputs; its `output` is
always Keras' own output at that place, so anyone can check that the breakdown adds up to
what Keras computed.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from app.errors import InvalidInput
from app.imaging.palette_png import signed_channel_urls
from app.imaging.rendering import SignedScale, data_url, png_bytes
from app.networks.explain import occlusion
from app.networks.explain import saliency as sal
from app.networks.explain.graph import Graph, Node
from app.networks.layers.base import Neuron, Place
from app.networks.layers.convolution import ConvChannel, _Convolution
from app.networks.ranges import to_unit
from app.networks.runtime import TracedLater

if TYPE_CHECKING:
    from app.networks.inference import LoadedModel


KEPT_INPUTS = 4  # inputs whose every layer's outputs an explainer keeps


@dataclass
class LayerOverview:
    name: str
    type: str
    output_shape: list[int | None]
    scale: SignedScale
    channels: list[str] | None = None
    values: list[float] | None = None
    explained: bool = False


@dataclass
class Overview:
    label: int
    probabilities: list[float]
    class_name: str
    input_image: str
    layers: list[LayerOverview] = field(default_factory=list)


class Explainer(Graph):
    def __init__(self, loaded: LoadedModel) -> None:
        import keras
        import tensorflow as tf

        self.info = loaded.info
        model = loaded.model
        super().__init__(model, tuple(self.info.input_shape), self.info.id)  # type: ignore[arg-type]
        outputs = [n.layer.output for n in self.nodes[1:]]
        spec = tf.TensorSpec([None, *self.info.input_shape], tf.float32)
        everything = keras.Model(model.inputs[0], outputs)
        self._forward = TracedLater(lambda x: everything(x, training=False), spec)
        self._recent: OrderedDict[bytes, list[np.ndarray]] = OrderedDict()
        self._recent_lock = threading.Lock()
        self._tf = tf
        self.keras_input = model.inputs[0]  # what occlusion's traced scores read
        self.cam = sal.cam_node(self)
        self._gradients = sal.Gradients(self, model, self.cam)

    # -------------------------------------------------------------------- forward pass

    def forward(self, x: np.ndarray) -> list[np.ndarray]:
        """Every node's output for one input (H, W, C), without the batch axis; read-only
        arrays, kept for the last KEPT_INPUTS inputs."""
        key = hashlib.blake2b(np.ascontiguousarray(x, np.float32).tobytes(), digest_size=16,
                              person=str(x.shape).encode()[:16]).digest()
        with self._recent_lock:
            kept = self._recent.get(key)
            if kept is not None:
                self._recent.move_to_end(key)
                return kept
        outs = self._forward(self._tf.constant(x[None], dtype=self._tf.float32))
        result = [np.array(x, np.float32), *(np.array(o)[0] for o in outs)]
        for a in result:
            a.setflags(write=False)
        with self._recent_lock:
            self._recent[key] = result
            while len(self._recent) > KEPT_INPUTS:
                self._recent.popitem(last=False)
        return result

    def class_name(self, k: int) -> str:
        names = self.info.class_names
        return names[k] if k < len(names) else str(k)

    # ------------------------------------------------------------------------ overview

    def overview(self, x: np.ndarray, shown: Callable[[Node], int | None] | None = None
                 ) -> Overview:
        """Every layer in order: 3-D outputs as channel images (one signed scale per layer),
        1-D outputs as values; the prediction. `shown(node)`: how many of a layer's channels
        to draw (None: all; 0: none), for a page that shows a deep graph's blocks closed."""
        outs = self.forward(x)
        probs = outs[self.output_index]
        label = int(np.argmax(probs))
        layers: list[LayerOverview] = []
        for node, out in zip(self.nodes, outs, strict=True):
            scale = SignedScale.of(out)
            entry = LayerOverview(node.name, node.type, [None, *node.shape], scale,
                                  explained=node.kind.explains)
            count = shown(node) if shown is not None else None
            if out.ndim == 3 and count != 0:
                entry.channels = signed_channel_urls(out[:, :, :count] if count else out, scale)
            elif out.ndim != 3:
                entry.values = np.round(out.reshape(-1).astype(np.float64), 6).tolist()
            layers.append(entry)
        return Overview(label, [round(float(p), 6) for p in probs], self.class_name(label),
                        data_url(png_bytes(sal.seen_image(to_unit(x, self.info)))), layers)

    # -------------------------------------------------------------------- one neuron

    def neuron(self, x: np.ndarray, layer: str, channel: int,
               cell: tuple[int, int] | None) -> Neuron:
        """How one output number of one layer is computed from the layer below."""
        node = self.node(layer)
        self.check_place(node, channel, cell)
        result = node.kind.breakdown(Place(self, node, self.forward(x), channel, cell))
        if node.index == 0:
            return result
        if cell is not None:
            if result.receptive_field is None:
                result.receptive_field = self.receptive_field(node, cell)
            result.input_field = self.input_field(node.index, (cell[0], cell[0], cell[1], cell[1]))
        else:
            result.input_field = self.input_field(node.index, None)
        return result

    def channel(self, x: np.ndarray, layer: str, channel: int) -> ConvChannel:
        """A convolution's whole output channel, from every input channel (the neuron view)."""
        node = self.node(layer)
        kind = node.kind
        if not isinstance(kind, _Convolution):
            raise InvalidInput("layer", f"{node.name} is a {node.type}: the channel view breaks "
                               "down convolutions")
        self.check_place(node, channel, (0, 0))
        return kind.channel(Place(self, node, self.forward(x), channel, None))

    def window_layer(self, node: Node) -> bool:
        return node.kind.windowed

    # ------------------------------------------------------------------- saliency

    def saliency(self, x: np.ndarray, method: str, cls: int | None, *,
                 outputs: list[np.ndarray] | None = None, overlay: bool = True,
                 patch: int | None = None, stride: int | None = None) -> sal.Saliency:
        """Grad-CAM (the chosen layer's maps weighted by their mean gradient), the input
        gradient, or occlusion (a grey `patch` slid by `stride` pixels: occlusion.py), for
        class `cls` (default: the predicted one), at the input's size. A caller that already
        has `forward(x)` passes it as `outputs`; `overlay=False` leaves the overlay picture
        out (an empty string)."""
        outs = outputs if outputs is not None else self.forward(x)
        probs = outs[self.output_index].reshape(-1)
        label = int(np.argmax(probs))
        k = label if cls is None else cls
        sal.check_class(k, len(probs), self.info.id)
        if method == "occlusion":
            heat = occlusion.heatmap(self, x, k, *occlusion.geometry(x.shape, patch, stride))
        else:
            if method == "gradcam" and self.cam is None:
                raise InvalidInput("method", f"{self.info.id} has no layer with maps for "
                                   'Grad-CAM; use "gradient" or "occlusion"')
            result = self._gradients(self._tf.constant(x[None], dtype=self._tf.float32),
                                     self._tf.constant(k, dtype=self._tf.int32))
            heat = sal.heatmap(method, result, self, self.cam)
        layer_name = self.cam.name if method == "gradcam" and self.cam else None
        shown = sal.overlay_url(to_unit(x, self.info), heat) if overlay else ""
        return sal.Saliency(k, self.class_name(k), method, layer_name, heat, shown, label,
                            float(probs[k]))
