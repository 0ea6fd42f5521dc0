"""The Open Inference Protocol (KServe v2) over REST, as Triton, KServe, MLServer and
OpenVINO serve it, so their clients (`tritonclient[http]` among them) work unchanged:
server live, ready and metadata; a model's metadata and readiness; inference, with JSON
tensors and with the binary tensor data extension (tritonclient's default).

A model's name is its registry id; its input is "image", the tensor Keras receives (FP32,
`[-1, H, W, C]`), its output "probabilities". Errors are `{"error": "…"}`: 400 for bad
input, 404 for an unknown model, 413 for a body over the limit (app/web/errors.py).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from app import __version__
from app.networks import tensors
from app.networks.inference import LoadedModel, LoadedModels
from app.networks.registry import MODEL_ID_PATTERN, ModelInfo
from app.web.dependencies import ModelsDep, RegistryDep, ServicesDep
from app.web.routing import AnyTypeJSONRoute, as_json
from app.web.schemas.inference_protocol import (
    InferenceRequest,
    InferenceResponse,
    MetadataTensor,
    ModelMetadata,
    ModelReady,
    ServerLive,
    ServerMetadata,
    ServerReady,
)
from app.web.schemas.serving import serving_errors

PLATFORM = "tensorflow_keras"  # "<project>_<format>", as the protocol names platforms
EXTENSIONS = ["binary_tensor_data"]
BINARY_PART = "cnnpg.binary_part"  # where the route class leaves the bytes after the JSON
NamePath = Annotated[str, Path(pattern=MODEL_ID_PATTERN, max_length=64,
                               description="The model's registry id (GET /api/models).")]
BINARY = {"schema": {"type": "string", "format": "binary"}}


class InferenceBodyRoute(AnyTypeJSONRoute):
    """An inference request's body: expanded when sent compressed (`Content-Encoding`), and
    split where `Inference-Header-Content-Length` says into the JSON request, which FastAPI
    reads and checks, and the binary tensor data after it."""

    async def prepare(self, request: Request) -> Request:
        body = await request.body()
        encoding = request.headers.get("content-encoding")
        if encoding:
            body = tensors.decompress(body, encoding, request.app.state.settings.max_request_bytes)
        tail = b""
        declared = request.headers.get(tensors.BINARY_HEADER)
        if declared is not None:
            n = tensors.json_length(declared, len(body))
            body, tail = body[:n], body[n:]
        return as_json(request, body, **{BINARY_PART: tail})


api = APIRouter(tags=["open inference protocol"])
infer_api = APIRouter(tags=["open inference protocol"], route_class=InferenceBodyRoute)
NOT_FOUND = serving_errors(e400="A model id that cannot be one", e404="No such model")


@api.get("/v2/health/live", response_model=ServerLive)
async def server_live() -> ServerLive:
    """200 while the server runs."""
    return ServerLive(live=True)


@api.get("/v2/health/ready", response_model=ServerReady,
         responses={400: {"model": ServerReady, "description": "Not ready yet: the default "
                          "model is still loading at start-up"}})
async def server_ready(models: ModelsDep) -> Response:
    """200 once the server is ready for inference (its default model loaded at start-up);
    400 before, as the protocol says a false answer is a 4xx."""
    ready = models.warmed.is_set()
    return JSONResponse(ServerReady(ready=ready).model_dump(), status_code=200 if ready else 400)


@api.get("/v2", response_model=ServerMetadata)
async def server_metadata() -> ServerMetadata:
    """The server's name, version and protocol extensions."""
    return ServerMetadata(name="cnn-playground", version=__version__, extensions=EXTENSIONS)


def _tensor(spec: tensors.TensorSpec) -> MetadataTensor:
    return MetadataTensor(name=spec.name, datatype=spec.datatype, shape=list(spec.shape))


@api.get("/v2/models/{name}", response_model=ModelMetadata, responses=NOT_FOUND)
async def model_metadata(name: NamePath, registry: RegistryDep) -> ModelMetadata:
    """The model's input and output tensors: names, datatypes and shapes (-1: the batch)."""
    info = registry.get(name, "path.name")
    spec_in, spec_out = tensors.signature(info)
    return ModelMetadata(name=info.id, platform=PLATFORM, inputs=[_tensor(spec_in)],
                         outputs=[_tensor(spec_out)])


async def _loaded(models: LoadedModels, info: ModelInfo) -> LoadedModel:
    """The model, loaded in the thread pool the first time (a load takes seconds)."""
    loaded = models.loaded(info.id)
    if loaded is None:
        loaded = await run_in_threadpool(models.get, info.id, "path.name")
    return loaded


@api.get("/v2/models/{name}/ready", response_model=ModelReady, responses={
    **NOT_FOUND, **serving_errors(e503="The model's file cannot be loaded")})
async def model_ready(name: NamePath, registry: RegistryDep, models: ModelsDep) -> ModelReady:
    """200 when the model is ready for inference: it is loaded now if it was not yet."""
    info = registry.get(name, "path.name")
    await _loaded(models, info)
    return ModelReady(name=info.id, ready=True)


async def binary_part(request: Request) -> bytes:
    part: bytes = request.scope.get(BINARY_PART, b"")
    return part


JSONLength = Annotated[int | None, Header(
    alias=tensors.BINARY_HEADER, ge=0, description="Binary tensor data extension: the length of "
    "the JSON request at the start of the body; the inputs' bytes follow it.")]


def _sent(body: InferenceRequest) -> list[tensors.SentTensor]:
    return [tensors.SentTensor(
        t.name, t.datatype, tuple(t.shape), t.data,
        t.parameters.binary_data_size if t.parameters is not None else None) for t in body.inputs]


def _wanted(body: InferenceRequest) -> list[tensors.WantedOutput]:
    return [tensors.WantedOutput(o.name, o.parameters.binary_data if o.parameters else None)
            for o in body.outputs or []]


def _answer(info: ModelInfo, body: InferenceRequest, outputs: list[tensors.OutputTensor]) -> Response:
    objects, tail = tensors.encode_outputs(outputs)
    head: dict[str, Any] = {"model_name": info.id}
    if body.id is not None:
        head["id"] = body.id
    head["outputs"] = objects
    text = json.dumps(head, separators=(",", ":")).encode()
    if not tail:
        return Response(text, media_type="application/json")
    return Response(text + tail, media_type="application/octet-stream",
                    headers={tensors.BINARY_HEADER: str(len(text))})


@infer_api.post(
    "/v2/models/{name}/infer", response_model=InferenceResponse,
    responses={**NOT_FOUND, **serving_errors(
        e400="Bad input: a wrong datatype, a shape that does not fit the model, data of the "
        "wrong length, binary data whose size does not match its header",
        e413="The body is over CNNPG_MAX_REQUEST_BYTES (or CNNPG_MAX_JSON_BYTES)",
        e503="The model's file cannot be loaded"),
        200: {"description": "The outputs: JSON, or with binary outputs the JSON and then their "
              "bytes (`Inference-Header-Content-Length` gives the JSON's length)",
              "content": {"application/octet-stream": BINARY}}},
    openapi_extra={"requestBody": {"content": {"application/octet-stream": BINARY}}})
async def model_infer(name: NamePath, body: InferenceRequest, services: ServicesDep,
                      tail: Annotated[bytes, Depends(binary_part)],
                      json_length: JSONLength = None) -> Response:
    """Run the model: JSON tensors (`"data"`, flat or nested), or the binary tensor data
    extension (the JSON, then each input's little-endian bytes; `binary_data_output` or an
    output's `binary_data` asks for binary outputs). Any content type: the body is read as
    the protocol says, whatever the header claims."""
    info = services.registry.get(name, "path.name")
    loaded = await _loaded(services.models, info)
    args = (loaded, info, _sent(body), tail, _wanted(body),
            bool(body.parameters and body.parameters.binary_data_output))
    one = all(t.shape[:1] == [1] for t in body.inputs)  # LiteRT, in a fraction of a millisecond
    outputs = tensors.infer(*args) if one else await run_in_threadpool(tensors.infer, *args)
    return _answer(info, body, outputs)


router = APIRouter()
router.include_router(api)
router.include_router(infer_api)
