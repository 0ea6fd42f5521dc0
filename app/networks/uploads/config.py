"""config.json of an uploaded `.keras` file (step 3 of app/networks/uploads): a plain
Sequential or Functional model of accepted layers, arguments plain values or Keras' own
objects, no module outside Keras, no code."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from app.errors import InvalidInput, LimitExceeded
from app.networks.layers import KINDS, LayerKind, kind_of
from app.networks.layers.operations import OP_MODULES, is_operation
from app.networks.layers.operations import accepted as accepted_ops
from app.networks.uploads.arguments import check_plain
from app.networks.uploads.limits import FIELD, Refused

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
    config = _model_entry(doc)
    layers = config["layers"]
    real = [la for la in layers if isinstance(la, dict) and la.get("class_name") != "InputLayer"]
    if len(real) > max_layers:
        raise LimitExceeded(FIELD, f"{len(real)} layers and operations is over the limit of "
                            f"{max_layers} (CNNPG_MAX_UPLOAD_LAYERS)")
    _model_config(config, functional=doc["class_name"] == "Functional")
    seen: set[str] = set()
    for i, layer in enumerate(layers):
        _check_layer(layer, i, seen)
    return ConfigFacts(str(config.get("name", "model"))[:64], len(real))


def _model_entry(doc: Any) -> dict[str, Any]:
    """The model itself: Sequential or Functional, nothing registered, its config's layers."""
    if not isinstance(doc, dict):
        raise Refused("config.json must hold one model")
    if (doc.get("module"), doc.get("class_name")) not in MODELS:
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
    return config


def _model_config(config: dict[str, Any], functional: bool) -> None:
    """The model's own settings: plain values; a functional model has one input and one output."""
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
    if not functional:
        return
    for which, what in (("input_layers", "take one image"),
                        ("output_layers", "give one vector of class scores")):
        spec = config.get(which)
        if not (isinstance(spec, list) and len(spec) == 3 and isinstance(spec[0], str)) and not (
                isinstance(spec, list) and len(spec) == 1 and isinstance(spec[0], list)):
            raise InvalidInput(FIELD, f"the model must {what}; its {which} are {spec!r}"[:300])


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
    config = layer.get("config")
    name = config.get("name") if isinstance(config, dict) else None
    where = f"layer {i} ({name or layer.get('class_name')})"
    kind = _layer_class(layer, where)
    if not isinstance(config, dict) or not isinstance(name, str) or not name:
        raise Refused(f"{where}: a layer needs a config with a name")
    if name in seen:
        raise Refused(f"{where}: the name {name!r} is used twice")
    seen.add(name)
    if kind.plain is not None:
        check_plain(config, kind.plain, where)
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


def _layer_class(layer: dict[str, Any], where: str) -> LayerKind:
    """A Keras layer class (or operation) the playground describes as one an upload may hold."""
    cls, module = layer.get("class_name"), layer.get("module")
    if not isinstance(cls, str) or module not in ("keras.layers", *OP_MODULES):
        raise Refused(f"{where}: module {str(module)[:80]!r} is not keras.layers (nor one of "
                      f"Keras' operations: {', '.join(OP_MODULES)})")
    kind = kind_of(cls, module)
    if not kind.uploadable and module == "keras.layers":
        accepted = sorted(name for name, k in KINDS.items()
                          if k.uploadable and not is_operation(k))
        raise Refused(f"{where}: the layer {cls!r} is not accepted; the playground accepts "
                      f"{', '.join(accepted)}"[:700])
    if not kind.uploadable:
        raise Refused(f"{where}: the operation {module}.{cls} is not accepted: only "
                      f"element-wise arithmetic and activations are ({', '.join(accepted_ops())})"
                      [:700])
    if layer.get("registered_name") not in (None, cls):
        raise Refused(f"{where}: registered as {layer.get('registered_name')!r}: custom objects "
                      "are refused")
    extra = set(layer) - {"module", "class_name", "config", "registered_name", "build_config",
                          "name", "inbound_nodes"}
    if extra:
        raise Refused(f"{where}: unexpected entries {', '.join(sorted(extra))}")
    return kind


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
