"""An uploaded `.keras` file, checked before Keras sees any of it.

Keras' safe mode alone is not enough: it has been bypassed again and again (CVE-2025-1550
through a module named in config.json, CVE-2025-8747 and CVE-2025-9906 through allowed
Keras functions, CVE-2025-9905 because HDF5 files ignore it, CVE-2026-1462 through
TFSMLayer, CVE-2026-12481 through Lambda). So an upload is hostile until proven otherwise:

1. the bytes: at most CNNPG_MAX_MODEL_UPLOAD_BYTES; HDF5 (`.h5`) is refused by its name and
   its signature; it must be a zip;
2. the zip: exactly `metadata.json`, `config.json` and `model.weights.h5`, unencrypted,
   expanding to at most CNNPG_MAX_MODEL_EXPANDED_BYTES (declared sizes checked before
   anything is read, and each member read no further than its declared size);
3. `config.json`: a Sequential or Functional model of the `keras.layers` classes in
   `LAYERS`, each called once, whose arguments are plain values or Keras' own
   initializers, regularizers, constraints and dtype policies; activations by name from
   `ACTIVATIONS`; no module outside Keras anywhere, no registered or custom objects, no
   functions, no Lambda;
4. the weights: plain HDF5 datasets only (no external storage, external or soft links,
   virtual datasets), at most CNNPG_MAX_PARAMS numbers in the layers;
5. only then is a fresh archive of exactly the checked bytes (its compile settings left
   out) loaded, with `safe_mode=True` all the same, and the model's input (one H×W×C
   image, C 1 or 3) and output (one vector of class probabilities) are checked.
"""

from __future__ import annotations

import io
import json
import math
import re
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.config import Settings
from app.datasets.catalog import DatasetCatalog
from app.errors import InvalidInput, LimitExceeded, TooLarge
from app.networks.inference import KERAS_LOCK
from app.networks.registry import Registry

FIELD = "file"
MEMBERS = ("metadata.json", "config.json", "model.weights.h5")
MAX_JSON_MEMBER = 4 * 1024 * 1024  # config.json and metadata.json
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

# The layer classes the playground can show (and, most of them, break down): those of
# app/networks/architecture.py, activations, rescaling, padding, depthwise and separable
# convolutions, merges (shown in the overview only) and the augmentation layers, which do
# nothing at inference.
LAYERS = frozenset({
    "InputLayer", "Conv2D", "DepthwiseConv2D", "SeparableConv2D", "MaxPooling2D",
    "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Flatten", "Dense",
    "Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "BatchNormalization",
    "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "Rescaling", "ZeroPadding2D", "Add",
    "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "RandomFlip",
    "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast", "RandomBrightness",
})
ACTIVATIONS = frozenset({
    "linear", "relu", "relu6", "sigmoid", "softmax", "log_softmax", "tanh", "elu", "selu",
    "celu", "gelu", "swish", "silu", "softplus", "softsign", "leaky_relu", "hard_sigmoid",
    "hard_swish", "hard_silu", "mish", "exponential",
})
# Keras objects that may appear as argument values: (module, class name).
OBJECTS = frozenset(
    {("keras", "DTypePolicy"), ("keras", "FloatDTypePolicy")}
    | {("keras.initializers", c) for c in (
        "Constant", "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "Identity",
        "LecunNormal", "LecunUniform", "Ones", "Orthogonal", "RandomNormal", "RandomUniform",
        "TruncatedNormal", "VarianceScaling", "Zeros")}
    | {("keras.regularizers", c) for c in ("L1", "L2", "L1L2", "OrthogonalRegularizer")}
    | {("keras.constraints", c) for c in ("MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm")}
)
# Arguments Keras resolves by name: a string there must be one of Keras' own names.
NAMED = {
    "initializer": frozenset({
        "constant", "glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "identity",
        "lecun_normal", "lecun_uniform", "ones", "orthogonal", "random_normal",
        "random_uniform", "truncated_normal", "variance_scaling", "zeros"}),
    "regularizer": frozenset({"l1", "l2", "l1l2", "orthogonal_regularizer"}),
    "constraint": frozenset({"max_norm", "min_max_norm", "non_neg", "unit_norm"}),
}
DTYPE = re.compile(r"^(mixed_)?(b?float(16|32|64)|u?int(8|16|32|64)|bool)$")
MODELS = {("keras", "Sequential"), ("keras.src.models.sequential", "Sequential"),
          ("keras", "Functional"), ("keras.src.models.functional", "Functional")}
# Class names the known exploits use, refused wherever they appear in config.json.
FORBIDDEN_CLASSES = frozenset({"Lambda", "TFSMLayer", "function", "__lambda__"})
MAX_DEPTH = 32


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int
    max_expanded_bytes: int
    max_params: int
    max_layers: int
    max_input_side: int
    max_classes: int


@dataclass(frozen=True)
class CheckedModel:
    """An upload that passed every check, as the bytes to store."""

    keras_bytes: bytes
    config_name: str
    input_shape: tuple[int, int, int]
    num_classes: int
    total_params: int


class Refused(InvalidInput):
    """The file is not a model the playground accepts; nothing of it was run."""

    def __init__(self, message: str) -> None:
        super().__init__(FIELD, message)


# ------------------------------------------------------------------------------ the bytes


def check_bytes(raw: bytes, filename: str, limits: UploadLimits) -> dict[str, bytes]:
    """The archive's three members, read within the limits."""
    if not raw:
        raise Refused("the file is empty")
    if len(raw) > limits.max_bytes:
        raise TooLarge(FIELD, f"{len(raw)} bytes is over the limit of {limits.max_bytes} bytes "
                       "(CNNPG_MAX_MODEL_UPLOAD_BYTES)")
    lower = filename.lower()
    if lower.endswith((".h5", ".hdf5")) or any(raw.startswith(HDF5_SIGNATURE, at)
                                               for at in (0, 512, 1024, 2048)):
        raise Refused("HDF5 (.h5) models are refused: Keras ignores safe mode for them "
                      "(CVE-2025-9905). Save the model as a Keras 3 archive: "
                      "model.save('model.keras')")
    if not lower.endswith(".keras"):
        raise Refused("must be a Keras 3 .keras file (made by model.save('model.keras'))")
    if not zipfile.is_zipfile(io.BytesIO(raw)):
        raise Refused("not a .keras archive: a .keras file is a zip, and this is not one")
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            return _members(zf, limits)
    except InvalidInput:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError,
            RuntimeError, ValueError) as exc:
        raise Refused(f"the zip archive is damaged or uses what Keras does not ({exc})") from None


def _members(zf: zipfile.ZipFile, limits: UploadLimits) -> dict[str, bytes]:
    infos = zf.infolist()
    names = [i.filename for i in infos]
    if len(infos) > 16 or len(set(names)) != len(names):
        raise Refused("not a Keras model archive: it holds more, or other, files than "
                      f"{', '.join(MEMBERS)}")
    unexpected = sorted(set(names) - set(MEMBERS))
    if unexpected:
        shown = ", ".join(repr(n[:80]) for n in unexpected[:5])
        raise Refused(f"not a Keras model archive the playground accepts: it holds {shown}; "
                      f"only {', '.join(MEMBERS)} are allowed (no assets, no sharded weights)")
    missing = [m for m in MEMBERS if m not in names]
    if missing:
        raise Refused(f"not a Keras 3 model archive: {', '.join(missing)} is missing")
    expanded = sum(i.file_size for i in infos)
    if expanded > limits.max_expanded_bytes:
        raise TooLarge(FIELD, f"the archive would expand to {expanded} bytes, over the limit of "
                       f"{limits.max_expanded_bytes} bytes (CNNPG_MAX_MODEL_EXPANDED_BYTES)")
    out: dict[str, bytes] = {}
    for info in infos:
        if info.flag_bits & 0x1:
            raise Refused(f"{info.filename} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise Refused(f"{info.filename} uses a compression Keras does not write")
        if info.filename.endswith(".json") and info.file_size > MAX_JSON_MEMBER:
            raise TooLarge(FIELD, f"{info.filename} is {info.file_size} bytes, over "
                           f"{MAX_JSON_MEMBER} bytes")
        with zf.open(info) as member:
            data = member.read(info.file_size + 1)
        if len(data) != info.file_size:
            raise Refused(f"{info.filename} is not the size its header says")
        out[info.filename] = data
    return out


def _json(data: bytes, member: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise Refused(f"{member} is not valid JSON ({str(exc)[:120]})") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# ---------------------------------------------------------------------------- config.json


@dataclass(frozen=True)
class ConfigFacts:
    name: str
    layer_count: int


def check_metadata(doc: Any) -> None:
    version = doc.get("keras_version") if isinstance(doc, dict) else None
    if not isinstance(version, str) or not version.startswith("3."):
        raise Refused("metadata.json does not name a Keras 3 version: only Keras 3 .keras "
                      "archives are accepted")


def check_config(doc: Any, max_layers: int) -> ConfigFacts:
    """Refuse config.json unless it is a plain model of allowed layers (see the module doc)."""
    _scan(doc, "config.json", 0)
    if not isinstance(doc, dict):
        raise Refused("config.json must hold one model")
    key = (doc.get("module"), doc.get("class_name"))
    if key not in MODELS:
        raise Refused(f"config.json holds {doc.get('class_name')!r}; only Sequential and "
                      "Functional models are accepted (a subclassed model is custom code)")
    if doc.get("registered_name") not in (None, "Functional", "Sequential"):
        raise Refused(f"the model is registered as {doc.get('registered_name')!r}: custom "
                      "objects are refused")
    extra = set(doc) - {"module", "class_name", "config", "registered_name", "build_config",
                        "compile_config"}
    if extra:
        raise Refused(f"config.json has unexpected entries: {', '.join(sorted(extra))}")
    if "build_config" in doc:
        _plain(doc["build_config"], "model.build_config", 0)
    config = doc.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise Refused("config.json has no list of layers")
    layers = config["layers"]
    real = [la for la in layers if isinstance(la, dict) and la.get("class_name") != "InputLayer"]
    if len(real) > max_layers:
        raise LimitExceeded(FIELD, f"{len(real)} layers is over the limit of {max_layers} "
                            "(CNNPG_MAX_LAYERS)")
    unknown = set(config) - {"name", "trainable", "dtype", "layers", "input_layers",
                             "output_layers", "build_input_shape"}
    if unknown:
        raise Refused(f"the model's config has unexpected entries: {', '.join(sorted(unknown))}")
    for key_name in ("name", "trainable", "input_layers", "output_layers",
                     "build_input_shape"):
        if key_name in config:
            _plain(config[key_name], f"model.{key_name}", 0)
    if "dtype" in config:
        _argument("dtype", config["dtype"], "model.dtype")
    if doc["class_name"] == "Functional":
        for which, what in (("input_layers", "take one image"),
                            ("output_layers", "give one vector of class scores")):
            spec = config.get(which)
            if not (isinstance(spec, list) and len(spec) == 3 and isinstance(spec[0], str)) and not (
                    isinstance(spec, list) and len(spec) == 1 and isinstance(spec[0], list)):
                raise InvalidInput(FIELD, f"the model must {what}; its {which} are {spec!r}"[:300])
    seen: set[str] = set()
    for i, layer in enumerate(layers):
        _check_layer(layer, i, seen)
    return ConfigFacts(str(config.get("name", "model"))[:64], len(real))


def _scan(value: Any, where: str, depth: int) -> None:
    """Anywhere in config.json: no module outside Keras, no function or Lambda."""
    if depth > MAX_DEPTH:
        raise Refused(f"config.json nests deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        module = value.get("module")
        if module is not None and not (isinstance(module, str) and (
                module == "keras" or module.startswith("keras."))):
            raise Refused(f"{where} names the module {str(module)[:80]!r}, outside Keras: refused")
        cls = value.get("class_name")
        if cls in FORBIDDEN_CLASSES:
            raise Refused(f"{where} holds a {cls!r}: code in a model file is refused (Lambda "
                          "layers, functions and saved TensorFlow graphs can run anything)")
        for k, v in value.items():
            _scan(v, f"{where}.{k}" if len(where) < 200 else where, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _scan(v, where, depth + 1)


def _check_layer(layer: Any, i: int, seen: set[str]) -> None:
    if not isinstance(layer, dict):
        raise Refused(f"layer {i} is not a layer")
    cls = layer.get("class_name")
    config = layer.get("config")
    name = config.get("name") if isinstance(config, dict) else None
    where = f"layer {i} ({name or cls})"
    if layer.get("module") != "keras.layers" or not isinstance(cls, str):
        raise Refused(f"{where}: module {layer.get('module')!r} is not keras.layers")
    if cls not in LAYERS:
        raise Refused(f"{where}: {cls!r} is not a layer the playground accepts; it knows "
                      f"{', '.join(sorted(LAYERS))}"[:600])
    if layer.get("registered_name") not in (None, cls):
        raise Refused(f"{where}: registered as {layer.get('registered_name')!r}: custom objects "
                      "are refused")
    extra = set(layer) - {"module", "class_name", "config", "registered_name", "build_config",
                          "name", "inbound_nodes"}
    if extra:
        raise Refused(f"{where}: unexpected entries {', '.join(sorted(extra))}")
    if not isinstance(config, dict) or not isinstance(name, str) or not name:
        raise Refused(f"{where}: a layer needs a config with a name")
    if name in seen:
        raise Refused(f"{where}: the name {name!r} is used twice")
    seen.add(name)
    for arg, value in config.items():
        _argument(arg, value, f"{where}.{arg}")
    if "build_config" in layer:
        _plain(layer["build_config"], f"{where}.build_config", 0)
    nodes = layer.get("inbound_nodes", [])
    if not isinstance(nodes, list):
        raise Refused(f"{where}: inbound_nodes must be a list")
    if len(nodes) > 1:
        raise Refused(f"{where}: the layer is called {len(nodes)} times; shared layers cannot be "
                      "explained")
    for node in nodes:
        _node(node, f"{where}.inbound_nodes", 0)


def _argument(arg: str, value: Any, where: str) -> None:
    """One argument of a layer: plain values, or Keras' own objects where Keras takes them."""
    kind = next((k for k in NAMED if arg.endswith("_" + k)), None)
    if arg == "activation":
        if not (value is None or (isinstance(value, str) and value in ACTIVATIONS)):
            raise Refused(f"{where}: activation {str(value)[:80]!r} is not one of Keras' own "
                          f"by name ({', '.join(sorted(ACTIVATIONS))})")
        return
    if arg == "data_format" and value not in (None, "channels_last"):
        raise Refused(f"{where}: only channels_last images are explained (height, width, "
                      "channels)")
    if arg == "dtype":
        if isinstance(value, str) and DTYPE.match(value):
            return
        if isinstance(value, dict):
            _keras_object(value, where)
            return
        if value is None:
            return
        raise Refused(f"{where}: {str(value)[:80]!r} is not a dtype")
    if kind is not None:
        if value is None or isinstance(value, dict):
            if isinstance(value, dict):
                _keras_object(value, where)
            return
        if isinstance(value, str) and value.lower() in NAMED[kind]:
            return
        raise Refused(f"{where}: {str(value)[:80]!r} is not one of Keras' own {kind}s")
    _plain(value, where, 0)


def _keras_object(value: dict[str, Any], where: str) -> None:
    key = (value.get("module"), value.get("class_name"))
    if key not in OBJECTS:
        raise Refused(f"{where}: {value.get('module')}.{value.get('class_name')} is not an object "
                      "the playground accepts in a model file")
    if value.get("registered_name") not in (None, value.get("class_name")):
        raise Refused(f"{where}: registered objects are refused")
    extra = set(value) - {"module", "class_name", "config", "registered_name", "shared_object_id"}
    if extra:
        raise Refused(f"{where}: unexpected entries {', '.join(sorted(extra))}")
    config = value.get("config", {})
    if not isinstance(config, dict):
        raise Refused(f"{where}: the object's config must be plain values")
    for k, v in config.items():
        _plain(v, f"{where}.{k}", 0)


def _plain(value: Any, where: str, depth: int) -> None:
    """None, booleans, numbers, strings, and lists or string-keyed maps of them."""
    if depth > MAX_DEPTH:
        raise Refused(f"{where}: nested too deeply")
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Refused(f"{where}: not a finite number")
        return
    if isinstance(value, list):
        for v in value:
            _plain(v, where, depth + 1)
        return
    if isinstance(value, dict):
        if "class_name" in value or "module" in value:
            if value.get("class_name") == "__tuple__" and set(value) <= {"class_name", "config"}:
                _plain(value.get("config"), where, depth + 1)
                return
            raise Refused(f"{where}: {value.get('module')}.{value.get('class_name')} is an object "
                          "where the playground accepts only plain values")
        for k, v in value.items():
            _plain(v, f"{where}.{k}", depth + 1)
        return
    raise Refused(f"{where}: not a plain value")


def _node(value: Any, where: str, depth: int) -> None:
    """A layer's inputs: Keras tensors (by layer name) inside lists, and plain values."""
    if depth > MAX_DEPTH:
        raise Refused(f"{where}: nested too deeply")
    if isinstance(value, list):
        for v in value:
            _node(v, where, depth + 1)
    elif isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            if set(value) - {"class_name", "config"}:
                raise Refused(f"{where}: unexpected entries in a tensor")
            _plain(value.get("config"), where, depth + 1)
            return
        if "class_name" in value or "module" in value:
            _plain(value, where, depth + 1)  # __tuple__ or refused
            return
        for v in value.values():
            _node(v, where, depth + 1)
    else:
        _plain(value, where, depth + 1)


# ---------------------------------------------------------------------------- the weights


def check_weights(data: bytes, max_params: int) -> int:
    """The numbers in the layers' weights; refuses anything but plain, local datasets."""
    import h5py

    try:
        f = h5py.File(io.BytesIO(data), "r")
    except (OSError, ValueError) as exc:
        raise Refused(f"model.weights.h5 is not an HDF5 file ({str(exc)[:120]})") from None
    counts = {"layers": 0, "all": 0}
    with f:
        _walk_h5(f, "", counts, max_params, h5py)
    if counts["layers"] > max_params:
        raise LimitExceeded(FIELD, f"{counts['layers']:,} parameters is over the limit of "
                            f"{max_params:,} (CNNPG_MAX_PARAMS)")
    return counts["layers"]


def _walk_h5(group: Any, path: str, counts: dict[str, int], max_params: int, h5py: Any) -> None:
    for name in group:
        where = f"{path}/{name}"
        link = group.get(name, getlink=True)
        if not isinstance(link, h5py.HardLink):
            raise Refused(f"model.weights.h5 has a {type(link).__name__} at {where[:100]}: "
                          "links are refused")
        obj = group[name]
        if isinstance(obj, h5py.Group):
            _walk_h5(obj, where, counts, max_params, h5py)
        elif isinstance(obj, h5py.Dataset):
            if obj.is_virtual or obj.external:
                raise Refused(f"model.weights.h5 stores {where[:100]} outside the file: refused")
            if obj.dtype.kind not in "fiub":
                raise Refused(f"model.weights.h5 holds non-numeric data at {where[:100]}")
            n = math.prod(obj.shape) if obj.shape else 1
            counts["all"] += n
            if where.startswith("/layers/") or where.startswith("/_layer_checkpoint"):
                counts["layers"] += n
            # A declared shape far beyond the limit is refused before Keras allocates it
            # (CVE-2026-0897); optimizer state may hold twice or thrice the weights.
            if counts["all"] > 4 * max_params:
                raise LimitExceeded(FIELD, f"model.weights.h5 declares more than "
                                    f"{4 * max_params:,} numbers (CNNPG_MAX_PARAMS is "
                                    f"{max_params:,})")
        else:
            raise Refused(f"model.weights.h5 holds an unknown object at {where[:100]}")


# --------------------------------------------------------------------------- loading it


def repack(members: dict[str, bytes], config: dict[str, Any]) -> bytes:
    """A fresh archive of exactly the checked members; compile settings left out, so Keras
    never deserializes an optimizer, loss or metric from the upload."""
    cleaned = {**config, "compile_config": None}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("metadata.json", members["metadata.json"])
        zf.writestr("config.json", json.dumps(cleaned))
        zf.writestr("model.weights.h5", members["model.weights.h5"])
    return buf.getvalue()


def ends_in_softmax(model: Any) -> bool:
    """Whether the model's output is class probabilities (a softmax last)."""
    layer = model.outputs[0]._keras_history.operation
    kind = type(layer).__name__
    if kind == "Softmax":
        return True
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "") == "softmax"


def load_checked(keras_bytes: bytes, limits: UploadLimits) -> tuple[Any, tuple[int, int, int], int]:
    """Keras loads the checked archive (safe mode on); its input and output are checked."""
    with KERAS_LOCK, tempfile.TemporaryDirectory(prefix="cnnpg-upload-") as tmp:
        import keras

        path = Path(tmp) / "upload.keras"
        path.write_bytes(keras_bytes)
        try:
            model = keras.saving.load_model(path, compile=False, safe_mode=True)
        except Exception as exc:
            raise Refused(f"Keras could not load the model ({type(exc).__name__}: "
                          f"{str(exc)[:300]})") from None
    if len(model.inputs) != 1:
        raise Refused(f"the model takes {len(model.inputs)} inputs; it must take one image")
    shape = tuple(model.inputs[0].shape)
    if (len(shape) != 4 or any(d is None for d in shape[1:]) or shape[3] not in (1, 3)):
        raise Refused(f"the model's input is {list(shape)}; it must be one H×W×C image with C 1 "
                      "(grayscale) or 3 (colour), e.g. [null, 28, 28, 1]")
    h, w, c = int(shape[1]), int(shape[2]), int(shape[3])
    if max(h, w) > limits.max_input_side:
        raise LimitExceeded(FIELD, f"the model's input is {h}×{w}, over the limit of "
                            f"{limits.max_input_side} pixels a side (CNNPG_MAX_MODEL_INPUT_SIDE)")
    if len(model.outputs) != 1:
        raise Refused(f"the model has {len(model.outputs)} outputs; it must have one vector of "
                      "class scores")
    out = tuple(model.outputs[0].shape)
    if len(out) != 2 or out[1] is None or int(out[1]) < 2:
        raise Refused(f"the model's output is {list(out)}; it must be one vector of class scores "
                      "(shape [null, classes], two classes or more)")
    k = int(out[1])
    if k > limits.max_classes:
        raise LimitExceeded(FIELD, f"{k} classes is over the limit of {limits.max_classes} "
                            "(CNNPG_MAX_MODEL_CLASSES)")
    if not ends_in_softmax(model):
        raise Refused("the model's output must be class probabilities: end it with a softmax, "
                      "e.g. Dense(classes, activation='softmax') or keras.layers.Softmax()")
    if model.count_params() > limits.max_params:
        raise LimitExceeded(FIELD, f"{model.count_params():,} parameters is over the limit of "
                            f"{limits.max_params:,} (CNNPG_MAX_PARAMS)")
    probs = np.asarray(model(np.zeros((1, h, w, c), np.float32), training=False))
    if not np.isfinite(probs).all():
        raise Refused("the model's output is not finite on a blank image")
    return model, (h, w, c), k


def check_upload(raw: bytes, filename: str, limits: UploadLimits) -> CheckedModel:
    """Every check above, in order; the archive to store."""
    members = check_bytes(raw, filename, limits)
    check_metadata(_json(members["metadata.json"], "metadata.json"))
    config = _json(members["config.json"], "config.json")
    facts = check_config(config, limits.max_layers)
    check_weights(members["model.weights.h5"], limits.max_params)
    keras_bytes = repack(members, config)
    model, shape, k = load_checked(keras_bytes, limits)
    return CheckedModel(keras_bytes, facts.name, shape, k, int(model.count_params()))


def class_names_of(text: str | None, k: int, default: list[str] | None) -> list[str]:
    """Comma-separated class names, one per output; the dataset's or 0…k−1 when not given."""
    if text is None or not text.strip():
        if default is not None and len(default) == k:
            return list(default)
        return [str(i) for i in range(k)]
    names = [n.strip() for n in text.split(",")]
    if len(names) != k:
        raise InvalidInput("class_names", f"{len(names)} names for a model with {k} outputs: "
                           f"give exactly {k}, separated by commas")
    for n in names:
        if not n or len(n) > 64:
            raise InvalidInput("class_names", "each name must be 1 to 64 characters")
    if len(set(names)) != len(names):
        raise InvalidInput("class_names", "the names must differ from one another")
    return names


def limits_from(settings: Settings) -> UploadLimits:
    return UploadLimits(settings.max_model_upload_bytes, settings.max_model_expanded_bytes,
                        settings.max_params, settings.max_layers, settings.max_model_input_side,
                        settings.max_model_classes)


def register_upload(raw: bytes, filename: str, *, name: str | None, class_names: str | None,
                    dataset: str | None, owner: str | None, settings: Settings,
                    registry: Registry, datasets: DatasetCatalog) -> str:
    """Check an upload and store it in the registry; the new model's id. Nothing is stored
    when a check fails."""
    checked = check_upload(raw, filename, limits_from(settings))
    default_names = None
    dataset_id = ""
    if dataset:
        info = datasets.get(dataset, "dataset")
        if tuple(info.input_shape) != checked.input_shape:
            raise InvalidInput("dataset", f"{info.id}'s images are {list(info.input_shape)}; the "
                               f"model takes {list(checked.input_shape)}")
        if info.num_classes != checked.num_classes:
            raise InvalidInput("dataset", f"{info.id} has {info.num_classes} classes; the model "
                               f"outputs {checked.num_classes}")
        default_names, dataset_id = list(info.class_names), info.id
    names = class_names_of(class_names, checked.num_classes, default_names)
    stem = Path(filename).stem
    shown = (name or "").strip() or (stem if re.fullmatch(r"[\w .()-]{1,64}", stem)
                                      else checked.config_name)
    return registry.save_uploaded(name=shown[:64], dataset=dataset_id,
                                  input_shape=list(checked.input_shape), class_names=names,
                                  total_params=checked.total_params,
                                  keras_bytes=checked.keras_bytes, owner=owner)
