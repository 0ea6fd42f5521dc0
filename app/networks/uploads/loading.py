"""Loading a checked upload and storing it (step 5 of app/networks/uploads)."""

from __future__ import annotations

import io
import json
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from app.config import Settings
from app.datasets.catalog import DatasetCatalog
from app.errors import InvalidInput, LimitExceeded
from app.networks.inference import KERAS_LOCK
from app.networks.registry import Registry
from app.networks.uploads.archive import _json, check_bytes
from app.networks.uploads.config import check_config, check_metadata
from app.networks.uploads.input_range import chosen_range
from app.networks.uploads.limits import FIELD, CheckedModel, Refused, UploadLimits
from app.networks.uploads.weights import check_weights


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


def check_upload(raw: bytes, filename: str, limits: UploadLimits, input_range: str | None = None,
                 insist: bool = False) -> CheckedModel:
    """Every check above, in order; the archive to store, with its input range."""
    members = check_bytes(raw, filename, limits)
    check_metadata(_json(members["metadata.json"], "metadata.json"))
    config = _json(members["config.json"], "config.json")
    facts = check_config(config, limits.max_layers)
    check_weights(members["model.weights.h5"], limits.max_params)
    keras_bytes = repack(members, config)
    model, shape, k = load_checked(keras_bytes, limits)
    return CheckedModel(keras_bytes, facts.name, shape, k, int(model.count_params()),
                        chosen_range(model, input_range, insist), model)


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
                        settings.max_params, settings.max_upload_layers, settings.max_model_input_side,
                        settings.max_model_classes)


def register_upload(raw: bytes, filename: str, *, name: str | None, class_names: str | None,
                    dataset: str | None, owner: str | None, settings: Settings,
                    registry: Registry, datasets: DatasetCatalog,
                    input_range: str | None = None, insist: bool = False) -> tuple[str, Any]:
    """Check an upload and store it in the registry; the new model's id, and the Keras model
    the check loaded (the same bytes: LoadedModels.adopt keeps it, so the first prediction
    does not load it again). Nothing is stored when a check fails."""
    checked = check_upload(raw, filename, limits_from(settings), input_range, insist)
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
    model_id = registry.save_uploaded(name=shown[:64], dataset=dataset_id,
                                      input_shape=list(checked.input_shape), class_names=names,
                                      total_params=checked.total_params,
                                      keras_bytes=checked.keras_bytes, owner=owner,
                                      input_range=checked.input_range)
    return model_id, checked.model
