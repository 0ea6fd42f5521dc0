"""Prediction: POST /predict, TensorFlow Serving's REST API, and feature maps."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import asdict
from typing import Any

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from app import inference
from app.errors import InvalidInput
from app.imaging import ImageLimits, open_image
from app.registry import DEFAULT_MODEL, ModelInfo, check_id, get_model
from app.web import json_body, settings_of, upload_bytes, validate

router = APIRouter()

DATA_URL = re.compile(r"^data:image/(png|jpeg|webp|gif);base64,(.*)$", re.S)
MAX_INSTANCES = 256


class PredictJSON(BaseModel):
    pixels: list[list[float]] | None = Field(
        None, description="28×28 numbers 0–255, a digit in either polarity.")
    image: str | None = Field(None, max_length=20_000_000,
                              description="An image as a data URL: data:image/png;base64,…")


class PredictResponse(BaseModel):
    label: int
    probabilities: list[float]
    model: str
    class_name: str


INPUT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/PredictJSON"}},
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary",
                                        "description": "PNG, JPEG, WebP or GIF, any size"}}}},
        },
    }
}
MODEL_QUERY = Query(DEFAULT_MODEL, max_length=64, description="A model id from GET /api/models.")


def decode_data_url(value: str, limits: ImageLimits):
    m = DATA_URL.match(value.strip())
    if not m:
        raise InvalidInput("image", "must be a data URL of a PNG, JPEG, WebP or GIF image "
                           "(data:image/png;base64,…)")
    try:
        raw = base64.b64decode(m.group(2), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("image", "the data URL's base64 is malformed") from exc
    return open_image(raw, limits, "image")


async def read_input(request: Request, info: ModelInfo) -> np.ndarray:
    """The request's image (file, data URL or pixels) as the model's input array."""
    settings = settings_of(request)
    limits = ImageLimits(settings.max_upload_bytes, settings.max_image_pixels)
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("application/json"):
        body = await json_body(request)
        req = validate(PredictJSON, body)
        if (req.pixels is None) == (req.image is None):
            raise InvalidInput("body", 'send exactly one of "pixels" or "image"')
        if req.pixels is not None:
            return inference.prepare_pixels(body["pixels"], info)
        return inference.prepare(decode_data_url(req.image, limits), info)
    if ctype.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=10,
                                  max_part_size=settings.max_upload_bytes)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidInput("file", "attach the image as the multipart field 'file'")
        raw = await upload_bytes(upload, settings)
        return inference.prepare(open_image(raw, limits), info, "file")
    raise InvalidInput("content-type", "send multipart/form-data with a file, or JSON with "
                       '"pixels" or "image"')


@router.post("/predict", response_model=PredictResponse, tags=["predict"],
             openapi_extra=INPUT_BODY,
             responses={404: {"description": "No such model"}, 413: {"description": "Too large"}})
async def predict(request: Request, model: str = MODEL_QUERY) -> Response:
    """Classify a drawn or photographed digit (or any image, for a CIFAR-10 model)."""
    info = get_model(check_id(model, "query.model"))
    x = await read_input(request, info)
    return JSONResponse(asdict(inference.predict(info.id, x)))


@router.post("/api/models/{model_id}/feature-maps", tags=["models"], openapi_extra=INPUT_BODY,
             responses={404: {"description": "No such model"}})
async def model_feature_maps(request: Request, model_id: str) -> Response:
    """Each Conv2D and pooling layer's activations for one input (an image per channel),
    the first layer's learned kernels, and the probabilities."""
    info = get_model(check_id(model_id, "path.model_id"))
    x = await read_input(request, info)
    maps = await run_in_threadpool(inference.feature_maps, info.id, x)
    return JSONResponse(feature_maps_json(maps))


def feature_maps_json(maps: inference.FeatureMaps) -> dict[str, Any]:
    return {
        **asdict(maps.prediction),
        "input": maps.input_image,
        "layers": [{"name": lm.name, "type": lm.type, "shape": lm.shape,
                    "range": {"min": lm.scale.minimum, "max": lm.scale.maximum},
                    "channels": lm.channels} for lm in maps.layers],
        "kernels": None if maps.kernels is None else asdict(maps.kernels),
    }


# ---------------------------------------------------------------- TensorFlow Serving

def _tfs_error(status: int, message: str) -> JSONResponse:
    """TF Serving clients read "error"; "detail" keeps this API's own shape too."""
    return JSONResponse({"error": message, "detail": [{"loc": ["body"], "msg": message,
                                                      "type": "value_error"}]},
                        status_code=status)


def _tfs_model(name: str) -> ModelInfo | JSONResponse:
    try:
        return get_model(check_id(name, "name"))
    except InvalidInput as exc:
        return _tfs_error(400, str(exc))
    except LookupError:
        return _tfs_error(404, f"Servable not found for request: Latest({name})")


@router.get("/v1/models/{name}", tags=["tensorflow serving"])
def tfs_status(name: str) -> Response:
    """Model status, as TensorFlow Serving reports it."""
    info = _tfs_model(name)
    if isinstance(info, JSONResponse):
        return info
    return JSONResponse({"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    ]})


@router.get("/v1/models/{name}/metadata", tags=["tensorflow serving"])
def tfs_metadata(name: str) -> Response:
    info = _tfs_model(name)
    if isinstance(info, JSONResponse):
        return info
    dims = [{"size": "-1"}] + [{"size": str(d)} for d in info.input_shape]
    return JSONResponse({
        "model_spec": {"name": info.id, "signature_name": "", "version": "1"},
        "metadata": {"signature_def": {"signature_def": {"serving_default": {
            "inputs": {"image": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": dims}}},
            "outputs": {"probabilities": {"dtype": "DT_FLOAT", "tensor_shape": {
                "dim": [{"size": "-1"}, {"size": str(len(info.class_names))}]}}},
            "method_name": "tensorflow/serving/predict"}}}},
    })


@router.post("/v1/models/{name}:predict", tags=["tensorflow serving"])
async def tfs_predict(request: Request, name: str) -> Response:
    """`{"instances": [...]}` (row format) or `{"inputs": ...}` (columnar) →
    `{"predictions": [...]}`: each instance is the model's input, H×W×C floats in [0, 1]."""
    info = _tfs_model(name)
    if isinstance(info, JSONResponse):
        return info
    try:
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return _tfs_error(400, f"JSON Parse error: {exc}")
    if not isinstance(body, dict) or ("instances" in body) == ("inputs" in body):
        return _tfs_error(400, 'JSON object must have exactly one of "instances" or "inputs"')
    data = body.get("instances", body.get("inputs"))
    if isinstance(data, dict):  # named inputs: the model has one, "image"
        if set(data) != {"image"}:
            return _tfs_error(400, 'the model has one input, named "image"')
        data = data["image"]
    if isinstance(data, list) and data and isinstance(data[0], dict):
        if any(set(d) != {"image"} for d in data):
            return _tfs_error(400, 'each instance object must have only the key "image"')
        data = [d["image"] for d in data]
    try:
        x = np.asarray(data, dtype=np.float32)
    except (ValueError, TypeError):
        return _tfs_error(400, "instances must be equally shaped arrays of numbers")
    shape = info.input_shape
    if x.ndim == 3 and shape[2] == 1:
        x = x[..., None]
    if x.ndim != 4 or tuple(x.shape[1:]) != shape:
        return _tfs_error(400, f"each instance must have shape {list(shape)} (or {list(shape[:2])}"
                          f" for one channel); got a batch of shape {list(x.shape)}")
    if len(x) == 0 or len(x) > MAX_INSTANCES:
        return _tfs_error(400, f"send 1 to {MAX_INSTANCES} instances, got {len(x)}")
    if not np.isfinite(x).all():
        return _tfs_error(400, "instances must not contain NaN or infinite values")
    probs = inference.load(info.id).predict(x)
    return JSONResponse({"predictions": [[round(float(p), 6) for p in row] for row in probs]})
