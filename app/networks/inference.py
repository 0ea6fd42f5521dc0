"""Prediction and feature maps, with each model loaded once and kept.

`model.predict()` sets up a data pipeline on every call (about 100 ms here). Instead, a
model's forward pass is traced into a TensorFlow concrete function (for batches and
feature maps; safe to call from several threads), and a small model is converted to a
LiteRT (TensorFlow Lite) interpreter for single predictions: 0.1 ms for the digit model,
against 1 ms through TensorFlow's runtime. Both compute the same Keras model. When each
happens (at load, or at the first use that needs it) is said where it is done.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import weakref
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from app.errors import InvalidInput, Unavailable
from app.imaging.decoding import flatten_alpha
from app.imaging.fitting import FITS, Fit, fit_image
from app.imaging.palette_png import signed_channel_urls
from app.imaging.rendering import SignedScale, png_data_urls, signed_map_image
from app.networks import digits
from app.networks.layers import kind_of, operations_of
from app.networks.litert import LITE_MAX_OPS, LITE_MAX_PARAMS, LiteRunner, file_key
from app.networks.ranges import to_unit
from app.networks.registry import ModelInfo, Registry
from app.networks.runtime import (
    KERAS_LOCK,
    TracedLater,
    configure_tensorflow,
    freeze_collected_objects,
    traced,
)

if TYPE_CHECKING:
    from app.networks.explain import Explainer

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

log = logging.getLogger(__name__)


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
    def __init__(self, info: ModelInfo, path: Path | None, model: Any = None,
                 key: str | None = None) -> None:
        """The model at `path`, or `model` where it is already loaded (from the bytes at
        `path`, or from bytes not stored: `path` None); `key`: the file's SHA-256 where the
        caller has it already (litert.file_key), else read when a conversion needs it."""
        import keras
        import tensorflow as tf

        self.info = info
        self.model = model if model is not None else keras.saving.load_model(
            path, compile=False, safe_mode=True)
        spec = tf.TensorSpec([None, *info.input_shape], tf.float32)
        model = self.model
        self._forward = TracedLater(lambda x: model(x, training=False), spec)
        self.map_layers = [layer for layer in model.layers
                           if kind_of(type(layer).__name__).map_layer]
        self._spec = spec
        self._maps: Any = None  # the feature maps' function, traced on first use
        self._tf = tf
        # LiteRT makes single predictions of small models 10× quicker (0.1 ms against 1 ms
        # for the digit model), but converting MobileNetV2 takes about 10 s, for little gain
        # on a model whose forward pass takes 25 ms: large models keep TensorFlow's.
        self._small = (model.count_params() <= LITE_MAX_PARAMS
                       and len(operations_of(model)) <= LITE_MAX_OPS)
        self._path = path
        self._key = key
        self._lite: LiteRunner | None = None
        self._converted = False  # converted (or tried to) for `lite` or `tflite`
        self.explainer: Explainer | None = None  # made on first use (app/networks/explain)
        if self._small:  # traced now (a fraction of a second), and run once: no request waits
            zeros = self._tf.constant(np.zeros((1, *info.input_shape), np.float32))
            self._forward.trace()(zeros)
            self.activations(zeros.numpy())
        # A large model's first prediction runs eagerly, its second traces (runtime.py): an
        # upload is answered without tracing a model that may be tried once.

    def _convert(self) -> LiteRunner | None:
        if not self._converted:
            with KERAS_LOCK:
                if not self._converted:
                    key = self._key if self._key is not None else file_key(self._path)
                    self._lite = LiteRunner.convert(self.model, key)
                    self._converted = True
        return self._lite

    @property
    def lite(self) -> LiteRunner | None:
        """LiteRT for this small model's single predictions, converted on the first one
        (about 0.5 s of CPU, kept by the file's SHA-256) rather than at load: a model that
        is only explained, or predicted in batches, is never converted. The start-up's
        warm-up converts the default models. None for a large model, or where the
        conversion failed (TensorFlow then predicts alone)."""
        return self._convert() if self._small else None

    @property
    def tflite(self) -> bytes | None:
        """The LiteRT flatbuffer (converted now if it was not yet, also for a large model,
        which predicts without it); None where the conversion failed."""
        runner = self._convert()
        return runner.content if runner is not None else None

    def predict(self, x: np.ndarray) -> np.ndarray:
        lite = self.lite if len(x) == 1 else None
        if lite is not None:
            return lite.run(x)
        return self._forward(self._tf.constant(x, dtype=self._tf.float32)).numpy()

    def activations(self, x: np.ndarray) -> list[np.ndarray]:
        """The map layers' outputs and the prediction, for a batch."""
        if self._maps is None:
            with KERAS_LOCK:
                if self._maps is None:
                    import keras

                    model = self.model
                    maps_model = keras.Model(model.inputs, [la.output for la in self.map_layers]
                                             + [model.outputs[0]])
                    self._maps = traced(lambda x: maps_model(x, training=False), self._spec)
        return [t.numpy() for t in self._maps(self._tf.constant(x, dtype=self._tf.float32))]


# The models loaded in this process, while any application holds them, by their file and
# registry record: an application loading the same file again (the tests run dozens of
# applications in one process, each warming the shipped model up) shares the loaded one.
_in_memory: weakref.WeakValueDictionary[tuple[str, str], LoadedModel] = weakref.WeakValueDictionary()


def load_model_file(info: ModelInfo, path: Path) -> LoadedModel:
    """The model at `path`, loaded, or the one this process has already loaded from the
    same bytes for the same record. Called under KERAS_LOCK."""
    key = file_key(path)
    if key is None:
        return LoadedModel(info, path)
    record = json.dumps(asdict(info), sort_keys=True, default=str)
    loaded = _in_memory.get((key, record))
    if loaded is None:
        loaded = _in_memory[(key, record)] = LoadedModel(info, path, key=key)
    return loaded


class ModelUnavailable(Unavailable):
    """A registered model whose file cannot be loaded (corrupt, or from another Keras)."""


class LoadedModels:
    """The models this process has loaded, at most `capacity` of them (CNNPG_MAX_LOADED_MODELS):
    the least recently used one is dropped when another must be loaded."""

    def __init__(self, registry: Registry, capacity: int, threads: int = 1) -> None:
        self.registry = registry
        self.capacity = capacity
        self.threads = threads
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        # One load at a time (KERAS_LOCK); loads are rare: a model stays loaded once used.
        self._loading = KERAS_LOCK
        self.warmed = threading.Event()  # set once the start-up's warm-up is over

    def __len__(self) -> int:
        return len(self._models)

    def loaded_ids(self) -> list[str]:
        with self._lock:
            return list(self._models)

    def loaded(self, model_id: str) -> LoadedModel | None:
        """The model if it is loaded already (never waits for a load)."""
        with self._lock:
            return self._models.get(model_id)

    def get(self, model_id: str, field: str = "model") -> LoadedModel:
        """The model, loaded on first use (once, even under concurrent requests)."""
        with self._lock:
            cached = self._models.get(model_id)
            if cached is not None:
                self._models.move_to_end(model_id)
                return cached
        info = self.registry.get(model_id, field)
        with self._loading:
            with self._lock:
                cached = self._models.get(model_id)
            if cached is not None:
                return cached
            configure_tensorflow(self.threads)
            try:
                loaded = load_model_file(info, self.registry.path(model_id))
            except Exception as exc:
                log.error("model %s cannot be loaded", model_id, exc_info=True)
                raise ModelUnavailable(f"model {model_id} is in the registry but its file cannot "
                                       f"be loaded ({type(exc).__name__}: {str(exc)[:200]}); it "
                                       "may be corrupt") from None
            self._keep(model_id, loaded)
            return loaded

    def _keep(self, model_id: str, loaded: LoadedModel) -> None:
        with self._lock:
            self._models[model_id] = loaded
            while len(self._models) > self.capacity:
                dropped, _ = self._models.popitem(last=False)
                log.info("dropped model %s from memory (CNNPG_MAX_LOADED_MODELS=%d)",
                         dropped, self.capacity)

    def adopt(self, model_id: str, model: Any) -> None:
        """Keep a model an upload check has just loaded from the bytes now stored, so its
        first prediction does not load it a second time (a deep model takes seconds)."""
        with self._loading:
            if self.loaded(model_id) is not None:
                return
            configure_tensorflow(self.threads)
            try:
                self._keep(model_id, LoadedModel(self.registry.get(model_id),
                                                 self.registry.path(model_id), model))
            except Exception:  # the first request loads it from the registry instead
                log.exception("could not keep uploaded model %s loaded", model_id)

    def forget(self, model_id: str) -> None:
        """Drop a deleted model from memory."""
        with self._lock:
            self._models.pop(model_id, None)

    def warm_up(self, model_id: str) -> None:
        """Load a model, and convert it for LiteRT, ahead of its first request (called in the
        background at start-up)."""
        try:
            loaded = self.get(model_id)
            loaded.predict(np.zeros((1, *loaded.info.input_shape), np.float32))  # and LiteRT's
        except Exception:
            log.exception("could not load model %s ahead of time", model_id)
        finally:
            freeze_collected_objects()
            self.warmed.set()


def reads_like_mnist(info: ModelInfo) -> bool:
    """A 28×28×1 digit model reads its input the way MNIST was made (app/networks/digits.py)."""
    return info.dataset == "mnist" and info.input_shape == (28, 28, 1)


def input_fit(info: ModelInfo) -> Fit | None:
    """How the model's dataset fitted photos to its size ("crop" or "pad"), if it says."""
    fit = (info.meta.get("training") or {}).get("input_fit")
    return next((f for f in FITS if f == fit), None)


def prepare(img: Image.Image, info: ModelInfo, field: str = "image") -> np.ndarray:
    """A decoded image → the model's input (H, W, C) in [0, 1]: a photo is fitted to the
    input as the model's dataset fitted its photos (cropped or padded), else resized."""
    h, w, c = info.input_shape
    if reads_like_mnist(info):
        return digits.from_image(img, field)[:, :, None]
    mode = "L" if c == 1 else "RGB"
    fit = input_fit(info)
    img = flatten_alpha(img).convert(mode)
    img = fit_image(img, w, h, fit) if fit else img.resize((w, h), Image.Resampling.BOX)
    x = np.asarray(img, dtype=np.float32) / 255.0
    return x.reshape(h, w, c)


def pixel_array(value: object, field: str = "pixels") -> np.ndarray:
    """H×W or H×W×C numbers 0–255 (C 1, 3 or 4), as float32."""
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (ValueError, TypeError):
        raise InvalidInput(field, "rows must all have the same length (the array is ragged)") from None
    if arr.ndim not in (2, 3) or 0 in arr.shape or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise InvalidInput(field, "must be H×W or H×W×C numbers with C 1, 3 or 4, got shape "
                           f"{list(arr.shape)}")
    if not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 255:
        raise InvalidInput(field, "values must be finite numbers from 0 to 255")
    return arr


def prepare_pixels(value: object, info: ModelInfo, field: str = "pixels") -> np.ndarray:
    """Pixels → the model's input, prepared exactly as an image of them would be."""
    arr = pixel_array(value, field)
    h, w, c = info.input_shape
    if reads_like_mnist(info):
        gray = arr if arr.ndim == 2 else arr[:, :, :3].mean(axis=2)
        return digits.normalize(gray, field)[:, :, None]
    if arr.shape[:2] == (h, w) and ((arr.ndim == 2 and c == 1) or (arr.ndim == 3 and arr.shape[2] == c)):
        return (arr / 255.0).reshape(h, w, c)  # already the model's size: used as it is
    img = Image.fromarray(np.rint(arr).astype(np.uint8).squeeze())
    return prepare(img, info, field)


def _prediction(loaded: LoadedModel, probs: np.ndarray) -> Prediction:
    label = int(np.argmax(probs))
    names = loaded.info.class_names
    return Prediction(loaded.info.id, label, [round(float(p), 6) for p in probs],
                      names[label] if label < len(names) else str(label))


def predict(loaded: LoadedModel, x: np.ndarray) -> Prediction:
    return _prediction(loaded, loaded.predict(x[None])[0])


def _seen_image(x: np.ndarray) -> Image.Image:
    arr = np.clip(x * 255, 0, 255).astype(np.uint8)
    return Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)


def feature_maps(loaded: LoadedModel, x: np.ndarray) -> FeatureMaps:
    """Every Conv2D and pooling layer's activations for one input, as images per channel."""
    outputs = loaded.activations(x[None])
    probs = outputs[-1][0]
    pending = [_seen_image(to_unit(x, loaded.info))]
    layers: list[LayerMaps] = []
    for layer, out in zip(loaded.map_layers, outputs[:-1], strict=True):
        a = out[0]
        scale = SignedScale.of(a)
        layers.append(LayerMaps(layer.name, type(layer).__name__, list(a.shape), scale,
                                signed_channel_urls(a, scale)))
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
    if kernels is not None:
        kernels.images = rest
    return FeatureMaps(_prediction(loaded, probs), seen, layers, kernels)
