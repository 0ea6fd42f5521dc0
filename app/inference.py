"""Prediction and feature maps, with each model loaded once and kept.

`model.predict()` sets up a data pipeline on every call (about 100 ms here). Instead,
at load, each model's forward pass is traced into a TensorFlow concrete function (for
batches and feature maps; safe to call from several threads) and converted to a LiteRT
(TensorFlow Lite) interpreter for single predictions: 0.1 ms for the digit model,
against 1 ms through TensorFlow's runtime. Both compute the same Keras model.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import threading
from dataclasses import dataclass

import numpy as np
from PIL import Image

from app import digits
from app.config import get_settings
from app.errors import InvalidInput
from app.imaging import SignedScale, flatten_alpha, png_data_urls, signed_map_image
from app.registry import ModelInfo, get_model, model_path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

log = logging.getLogger(__name__)
MAP_LAYER_TYPES = ("Conv2D", "MaxPooling2D", "AveragePooling2D")


@dataclass
class Prediction:
    model: str
    label: int
    probabilities: list[float]
    class_name: str


@dataclass
class LayerMaps:
    name: str
    type: str
    shape: list[int]
    scale: SignedScale
    channels: list[str]  # PNG data URLs


@dataclass
class FirstLayerKernels:
    layer: str
    shape: list[int]
    weights: list[list[list[float]]]  # one 2-D kernel per filter (first input channel)
    images: list[str]


@dataclass
class FeatureMaps:
    prediction: Prediction
    input_image: str
    layers: list[LayerMaps]
    kernels: FirstLayerKernels | None


class LoadedModel:
    def __init__(self, info: ModelInfo) -> None:
        import keras
        import tensorflow as tf

        self.info = info
        self.model = keras.saving.load_model(model_path(info.id), compile=False, safe_mode=True)
        spec = tf.TensorSpec([None, *info.input_shape], tf.float32)
        model = self.model
        self._forward = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
        self.map_layers = [layer for layer in model.layers
                           if type(layer).__name__ in MAP_LAYER_TYPES]
        maps_model = keras.Model(model.inputs, [layer.output for layer in self.map_layers]
                                 + [model.outputs[0]])
        self._maps = tf.function(lambda x: maps_model(x, training=False)).get_concrete_function(spec)
        self._tf = tf
        self._lite = _LiteRunner.convert(model)
        zeros = np.zeros((1, *info.input_shape), np.float32)
        self.predict(zeros)  # warm up both paths, so no request pays for their first run
        self.activations(zeros)

    def predict(self, x: np.ndarray) -> np.ndarray:
        if len(x) == 1 and self._lite is not None:
            return self._lite.run(x)
        return self._forward(self._tf.constant(x, dtype=self._tf.float32)).numpy()

    def activations(self, x: np.ndarray) -> list[np.ndarray]:
        return [t.numpy() for t in self._maps(self._tf.constant(x, dtype=self._tf.float32))]


class _LiteRunner:
    """One LiteRT interpreter for batch-size-1 calls; interpreters are not thread-safe."""

    def __init__(self, content: bytes) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter = Interpreter(model_content=content, num_threads=1)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._lock = threading.Lock()

    @classmethod
    def convert(cls, model) -> _LiteRunner | None:
        """None where LiteRT or the conversion is unavailable: TensorFlow then serves alone."""
        try:
            import tensorflow as tf

            with contextlib.redirect_stdout(io.StringIO()):
                content = tf.lite.TFLiteConverter.from_keras_model(model).convert()
            return cls(content)
        except Exception:
            log.warning("LiteRT unavailable for %s; using TensorFlow", model.name, exc_info=True)
            return None

    def run(self, x: np.ndarray) -> np.ndarray:
        with self._lock:
            self._interpreter.set_tensor(self._input, np.ascontiguousarray(x, dtype=np.float32))
            self._interpreter.invoke()
            return self._interpreter.get_tensor(self._output)


class ModelUnavailable(RuntimeError):
    """A registered model whose file cannot be loaded (corrupt, or from another Keras)."""


_loaded: dict[str, LoadedModel] = {}
_lock = threading.Lock()
_threads_set = False


def _configure_tensorflow() -> None:
    """Thread counts can only be set before TensorFlow's runtime starts: do it once, first."""
    global _threads_set
    if _threads_set:
        return
    _threads_set = True
    n = get_settings().inference_threads
    if n:
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(n)
            tf.config.threading.set_inter_op_parallelism_threads(n)
        except RuntimeError:  # already initialised by something else in this process
            pass


def load(model_id: str) -> LoadedModel:
    """The model, loaded on first use and kept (once, even under concurrent requests)."""
    cached = _loaded.get(model_id)
    if cached is not None:
        return cached
    info = get_model(model_id)
    with _lock:
        _configure_tensorflow()
        if model_id not in _loaded:
            try:
                _loaded[model_id] = LoadedModel(info)
            except Exception as exc:
                log.error("model %s cannot be loaded", model_id, exc_info=True)
                raise ModelUnavailable(f"model {model_id} is in the registry but its file cannot "
                                       f"be loaded ({type(exc).__name__}: {str(exc)[:200]}); it "
                                       "may be corrupt") from None
        return _loaded[model_id]


def forget(model_id: str) -> None:
    """Drop a deleted model from memory."""
    with _lock:
        _loaded.pop(model_id, None)


def warm_up(model_id: str) -> None:
    """Load a model ahead of its first request (called in the background at start-up)."""
    try:
        load(model_id)
    except Exception:
        log.exception("could not load model %s ahead of time", model_id)


def prepare(img: Image.Image, info: ModelInfo, field: str = "image") -> np.ndarray:
    """A decoded image → the model's input (H, W, C) in [0, 1]."""
    h, w, c = info.input_shape
    if info.dataset == "mnist" and (h, w, c) == (28, 28, 1):
        return digits.from_image(img, field)[:, :, None]
    img = flatten_alpha(img).convert("L" if c == 1 else "RGB").resize((w, h), Image.Resampling.BOX)
    x = np.asarray(img, dtype=np.float32) / 255.0
    return x.reshape(h, w, c)


def prepare_pixels(pixels: object, info: ModelInfo) -> np.ndarray:
    if info.input_shape != (28, 28, 1):
        raise InvalidInput("pixels", f"model {info.id} takes {info.input_shape} images; send an image")
    if info.dataset == "mnist":
        return digits.from_pixels(pixels)[:, :, None]
    return (digits.check_pixels(pixels) / 255.0)[:, :, None]


def _prediction(loaded: LoadedModel, probs: np.ndarray) -> Prediction:
    label = int(np.argmax(probs))
    names = loaded.info.class_names
    return Prediction(loaded.info.id, label, [round(float(p), 6) for p in probs],
                      names[label] if label < len(names) else str(label))


def predict(model_id: str, x: np.ndarray) -> Prediction:
    loaded = load(model_id)
    return _prediction(loaded, loaded.predict(x[None])[0])


def _seen_image(x: np.ndarray) -> Image.Image:
    arr = np.clip(x * 255, 0, 255).astype(np.uint8)
    return Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)


def feature_maps(model_id: str, x: np.ndarray) -> FeatureMaps:
    """Every Conv2D and pooling layer's activations for one input, as images per channel."""
    loaded = load(model_id)
    outputs = loaded.activations(x[None])
    probs = outputs[-1][0]
    pending = [_seen_image(x)]
    layers: list[LayerMaps] = []
    for layer, out in zip(loaded.map_layers, outputs[:-1], strict=True):
        a = out[0]
        scale = SignedScale.of(a)
        layers.append(LayerMaps(layer.name, type(layer).__name__, list(a.shape), scale, []))
        pending += [signed_map_image(a[:, :, ch], scale) for ch in range(a.shape[2])]
    kernels = None
    first_conv = next((layer for layer in loaded.map_layers if type(layer).__name__ == "Conv2D"),
                      None)
    kernel_imgs: list[Image.Image] = []
    if first_conv is not None:
        w = first_conv.get_weights()[0]  # (kh, kw, c_in, filters)
        k2d = w[:, :, 0, :]
        kscale = SignedScale.of(k2d)
        kernel_imgs = [signed_map_image(k2d[:, :, f], kscale) for f in range(k2d.shape[2])]
        kernels = FirstLayerKernels(first_conv.name, list(w.shape),
                                    [k2d[:, :, f].round(4).tolist() for f in range(k2d.shape[2])],
                                    [])
    urls = png_data_urls(pending + kernel_imgs)
    seen, rest = urls[0], urls[1:]
    for lm in layers:
        n = lm.shape[2]
        lm.channels, rest = rest[:n], rest[n:]
    if kernels is not None:
        kernels.images = rest
    return FeatureMaps(_prediction(loaded, probs), seen, layers, kernels)
