"""TensorFlow Serving's REST API, so existing TF Serving clients work unchanged: model
status, metadata (`signature_def` as TF Serving writes it) and `:predict`, in the row
(`instances` → `predictions`) and columnar (`inputs` → `outputs`) formats.

The body is JSON whatever its content type says, as TF Serving reads it (`curl -d` sends
a form's content type). Errors answer as TF Serving does, `{"error": "..."}` with 400 or
404 (app/web/errors.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from starlette.convertors import register_url_convertor

from app.errors import InvalidInput
from app.networks import tensors
from app.networks.registry import MODEL_ID_PATTERN, ModelInfo, ModelNotFound, Registry
from app.web.dependencies import ModelsDep, RegistryDep
from app.web.routing import AnyTypeJSONRoute, ModelNameConvertor
from app.web.schemas.serving import (
    ColumnarResponse,
    Dim,
    Metadata,
    MetadataResponse,
    ModelSpec,
    PredictResponse,
    ServingRequest,
    SignatureDef,
    SignatureDefMap,
    Status,
    StatusResponse,
    TensorInfo,
    TensorShape,
    VersionStatus,
    serving_errors,
)

api = APIRouter(tags=["tensorflow serving"], route_class=AnyTypeJSONRoute)
NamePath = Annotated[str, Path(pattern=MODEL_ID_PATTERN, max_length=64,
                               description="A model id from GET /api/models.")]
# "/v1/models/{name}" must not also match "/v1/models/x:predict": the name's own
# characters only (so GET x:predict is a 405, as TF Serving answers, not a bad name).
register_url_convertor("model_name", ModelNameConvertor())
SIGNATURE = "serving_default"
SERVING_ERRORS = serving_errors(e400="Bad request (TF Serving's shape)",
                                e404="No such model (TF Serving's shape)")


class ServableNotFound(ModelNotFound):
    """TF Serving's words for an unknown model, which its clients look for."""


def servable(registry: Registry, name: str) -> ModelInfo:
    try:
        return registry.get(name, "path.name")
    except ModelNotFound:
        exc = ServableNotFound(name, "path.name")
        exc.message = f"Servable not found for request: Latest({name})"
        raise exc from None


@api.get("/v1/models/{name:model_name}", response_model=StatusResponse, responses=SERVING_ERRORS)
def tfs_status(name: NamePath, registry: RegistryDep) -> StatusResponse:
    """Model status, as TensorFlow Serving reports it."""
    servable(registry, name)
    return StatusResponse(model_version_status=[VersionStatus(
        version="1", state="AVAILABLE", status=Status(error_code="OK", error_message=""))])


def _tensor(spec: tensors.TensorSpec, name: str) -> TensorInfo:
    return TensorInfo(dtype="DT_FLOAT", name=name, tensor_shape=TensorShape(
        dim=[Dim(size=str(d)) for d in spec.shape]))


@api.get("/v1/models/{name:model_name}/metadata", response_model=MetadataResponse,
         responses=SERVING_ERRORS)
def tfs_metadata(name: NamePath, registry: RegistryDep) -> MetadataResponse:
    """The serving signature, as TF Serving writes it (`signature_def` twice, sizes as
    strings): one float input "image" (-1 × H × W × C, as Keras receives it) and the
    probabilities; and, beside TF Serving's own fields, the class names."""
    info = servable(registry, name)
    spec_in, spec_out = tensors.signature(info)
    signature = SignatureDef(
        inputs={spec_in.name: _tensor(spec_in, f"{SIGNATURE}_{spec_in.name}:0")},
        outputs={spec_out.name: _tensor(spec_out, "StatefulPartitionedCall:0")},
        method_name="tensorflow/serving/predict")
    return MetadataResponse(
        model_spec=ModelSpec(name=info.id, signature_name="", version="1"),
        metadata=Metadata(signature_def=SignatureDefMap(signature_def={SIGNATURE: signature}),
                          class_names=list(info.class_names)))


def _batch(body: ServingRequest) -> Any:
    name = tensors.INPUT_NAME
    if body.instances is not None:
        data: Any = body.instances
        if data and all(isinstance(d, dict) for d in data):
            if any(set(d) != {name} for d in data):
                raise InvalidInput("instances", f'each instance object must have only the key "{name}"')
            data = [d[name] for d in data]
        return data
    if isinstance(body.inputs, dict):
        if set(body.inputs) != {name}:
            raise InvalidInput("inputs", f'the model has one input, named "{name}"')
        return body.inputs[name]
    return body.inputs


@api.post("/v1/models/{name}:predict", response_model=PredictResponse | ColumnarResponse,
          responses=SERVING_ERRORS)
def tfs_predict(name: NamePath, body: ServingRequest, registry: RegistryDep,
                models: ModelsDep) -> PredictResponse | ColumnarResponse:
    """`{"instances": [...]}` (row format) → `{"predictions": [...]}`, or `{"inputs": ...}`
    (columnar) → `{"outputs": [...]}`: each instance is the model's input, H×W×C floats as
    Keras receives them (0–1 for the shipped model). Any content type: the body is JSON."""
    info = servable(registry, name)
    if body.signature_name not in (None, "", SIGNATURE):
        raise InvalidInput("signature_name", f'Serving signature name: "{body.signature_name}" '
                           f'not found in signature def; the one signature is "{SIGNATURE}"')
    field = "instances" if body.instances is not None else "inputs"
    x = tensors.batch_from_instances(_batch(body), info, field)
    probs = models.get(info.id, "path.name").predict(x)
    rows = [[round(float(p), 6) for p in row] for row in probs]
    return PredictResponse(predictions=rows) if field == "instances" else ColumnarResponse(outputs=rows)


router = APIRouter()
router.include_router(api)
