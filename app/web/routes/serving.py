"""TensorFlow Serving's REST API, so existing TF Serving clients work unchanged:
model status, metadata and `:predict` (row `instances` or columnar `inputs`).

Errors answer as TF Serving does, `{"error": "..."}` with 400 or 404 (app/web/errors.py)."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema
from starlette.convertors import register_url_convertor

from app.errors import InvalidInput
from app.networks.registry import MODEL_ID_PATTERN, ModelInfo, ModelNotFound, Registry
from app.validation import NotNull
from app.web.dependencies import ModelsDep, RegistryDep
from app.web.routing import ModelNameConvertor

router = APIRouter(tags=["tensorflow serving"])
MAX_INSTANCES = 256
NamePath = Annotated[str, Path(pattern=MODEL_ID_PATTERN, max_length=64,
                               description="A model id from GET /api/models.")]
# "/v1/models/{name}" must not also match "/v1/models/x:predict": the name's own
# characters only (so GET x:predict is a 405, as TF Serving answers, not a bad name).
register_url_convertor("model_name", ModelNameConvertor())


class ServingError(BaseModel):
    error: str
    detail: Any = None


SERVING_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ServingError, "description": "Bad request (TF Serving's shape)"},
    404: {"model": ServingError, "description": "No such model (TF Serving's shape)"},
}


class Status(BaseModel):
    error_code: str
    error_message: str


class VersionStatus(BaseModel):
    version: str
    state: str
    status: Status


class StatusResponse(BaseModel):
    model_version_status: list[VersionStatus]


class MetadataResponse(BaseModel):
    model_spec: dict[str, str]
    metadata: dict[str, Any]


class ServingRequest(BaseModel):
    """Row format, `instances`: one entry per instance, each the model's input (H×W×C floats
    in [0, 1]) or an object whose only key is the input's name, "image". Columnar format,
    `inputs`: the whole batch, or `{"image": batch}`. Exactly one of the two."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "oneOf": [{"required": ["instances"]}, {"required": ["inputs"]}]})

    signature_name: Annotated[str, Field(max_length=64)] | None = None
    instances: Annotated[Annotated[list[Any], Field(min_length=1, max_length=MAX_INSTANCES)]
                         | SkipJsonSchema[None], NotNull] = None
    inputs: Annotated[list[Any] | dict[str, Any] | SkipJsonSchema[None], NotNull] = None

    @model_validator(mode="after")
    def _one_format(self) -> ServingRequest:
        if (self.instances is None) == (self.inputs is None):
            raise ValueError('JSON object must have exactly one of "instances" or "inputs"')
        return self


class PredictResponse(BaseModel):
    predictions: list[list[float]]


class ServableNotFound(ModelNotFound):
    """TF Serving's words for an unknown model, which its clients look for."""


def servable(registry: Registry, name: str) -> ModelInfo:
    try:
        return registry.get(name, "path.name")
    except ModelNotFound:
        exc = ServableNotFound(name, "path.name")
        exc.message = f"Servable not found for request: Latest({name})"
        raise exc from None


@router.get("/v1/models/{name:model_name}", response_model=StatusResponse, responses=SERVING_ERRORS)
def tfs_status(name: NamePath, registry: RegistryDep) -> StatusResponse:
    """Model status, as TensorFlow Serving reports it."""
    servable(registry, name)
    return StatusResponse(model_version_status=[VersionStatus(
        version="1", state="AVAILABLE", status=Status(error_code="OK", error_message=""))])


@router.get("/v1/models/{name:model_name}/metadata", response_model=MetadataResponse,
            responses=SERVING_ERRORS)
def tfs_metadata(name: NamePath, registry: RegistryDep) -> MetadataResponse:
    """The serving signature: one float input "image" (-1 × H × W × C) and the probabilities;
    and, beside TF Serving's own fields, the class names the probabilities are for."""
    info = servable(registry, name)
    dims = [{"size": "-1"}] + [{"size": str(d)} for d in info.input_shape]
    return MetadataResponse(
        model_spec={"name": info.id, "signature_name": "", "version": "1"},
        metadata={"signature_def": {"signature_def": {"serving_default": {
            "inputs": {"image": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": dims}}},
            "outputs": {"probabilities": {"dtype": "DT_FLOAT", "tensor_shape": {
                "dim": [{"size": "-1"}, {"size": str(len(info.class_names))}]}}},
            "method_name": "tensorflow/serving/predict"}}},
                  "class_names": list(info.class_names)},
    )


def _batch(body: ServingRequest) -> Any:
    if body.instances is not None:
        data: Any = body.instances
        if data and all(isinstance(d, dict) for d in data):
            if any(set(d) != {"image"} for d in data):
                raise InvalidInput("instances", 'each instance object must have only the key '
                                   '"image"')
            data = [d["image"] for d in data]
        return data
    if isinstance(body.inputs, dict):
        if set(body.inputs) != {"image"}:
            raise InvalidInput("inputs", 'the model has one input, named "image"')
        return body.inputs["image"]
    return body.inputs


@router.post("/v1/models/{name}:predict", response_model=PredictResponse,
             responses=SERVING_ERRORS)
def tfs_predict(name: NamePath, body: ServingRequest, registry: RegistryDep,
                models: ModelsDep) -> PredictResponse:
    """`{"instances": [...]}` (row format) or `{"inputs": ...}` (columnar) →
    `{"predictions": [...]}`: each instance is the model's input, H×W×C floats in [0, 1]."""
    info = servable(registry, name)
    field = "instances" if body.instances is not None else "inputs"
    try:
        x = np.asarray(_batch(body), dtype=np.float32)
    except (ValueError, TypeError):
        raise InvalidInput(field, "instances must be equally shaped arrays of numbers") from None
    shape = info.input_shape
    if x.ndim == 3 and shape[2] == 1:
        x = x[..., None]
    if x.ndim != 4 or tuple(x.shape[1:]) != shape:
        raise InvalidInput(field, f"each instance must have shape {list(shape)} (or "
                           f"{list(shape[:2])} for one channel); got a batch of shape "
                           f"{list(x.shape)}")
    if len(x) == 0 or len(x) > MAX_INSTANCES:
        raise InvalidInput(field, f"send 1 to {MAX_INSTANCES} instances, got {len(x)}")
    if not np.isfinite(x).all():
        raise InvalidInput(field, "instances must not contain NaN or infinite values")
    probs = models.get(info.id, "path.name").predict(x)
    return PredictResponse(predictions=[[round(float(p), 6) for p in row] for row in probs])
