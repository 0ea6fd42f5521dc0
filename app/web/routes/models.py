"""The model registry over HTTP."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel

from app.networks.architecture import ArchitectureSpec, check
from app.networks.export import Format
from app.networks.registry import MODEL_ID_PATTERN, ModelInfo
from app.web.dependencies import (
    ExportsDep,
    ModelsDep,
    RegistryDep,
    SettingsDep,
    TokenDep,
)
from app.web.routes.architectures import SummaryOut, summary_out
from app.web.schemas import responses

router = APIRouter(tags=["models"])
ModelPath = Annotated[str, Path(pattern=MODEL_ID_PATTERN, max_length=64,
                                description="A model id from GET /api/models.")]
NOT_FOUND = responses(e404="No such model")


class ModelItem(BaseModel):
    id: str
    name: str
    dataset: str
    input_shape: list[int]
    shipped: bool
    test_accuracy: float | None
    created: str
    class_names: list[str]


class ModelDetail(ModelItem):
    architecture: dict[str, Any] | None = None
    training: dict[str, Any] | None = None
    total_params: int | None = None
    test_loss: float | None = None
    job_id: str | None = None
    sha256: str | None = None
    summary: SummaryOut | None = None


def item(info: ModelInfo) -> ModelItem:
    return ModelItem(id=info.id, name=info.name, dataset=info.dataset,
                     input_shape=list(info.input_shape), shipped=info.shipped,
                     test_accuracy=info.test_accuracy, created=info.created,
                     class_names=info.class_names)


@router.get("/api/models", response_model=list[ModelItem])
def models(registry: RegistryDep) -> list[ModelItem]:
    """Every model; shipped models (read-only) first."""
    return [item(m) for m in registry.list_models()]


@router.get("/api/models/{model_id}", response_model=ModelDetail, responses=NOT_FOUND)
def model_detail(model_id: ModelPath, registry: RegistryDep) -> ModelDetail:
    """The model with its architecture, training record and summary."""
    info = registry.get(model_id, "path.model_id")
    meta = {k: v for k, v in info.meta.items()
            if k in ModelDetail.model_fields and k not in ModelItem.model_fields}
    summary = None
    if meta.get("architecture"):
        spec = ArchitectureSpec.model_validate(meta["architecture"])
        summary = summary_out(check(spec, max_layers=10_000, max_params=10**12))
    return ModelDetail(**item(info).model_dump(), **meta, summary=summary)


@router.get("/api/models/{model_id}/download", response_class=FileResponse,
            responses={**NOT_FOUND, **responses(
                e422="An unknown format", e503="The model cannot be converted here"),
                200: {"content": {"application/octet-stream": {}, "application/zip": {}},
                      "description": "The `.keras` file, the `.tflite` flatbuffer, or a `.zip` "
                      "of a TensorFlow Serving model directory"}})
def download(model_id: ModelPath, exports: ExportsDep,
             format: Annotated[Format, Query(description=(
                 "keras: the .keras file (keras.saving.load_model); tflite: the LiteRT "
                 "flatbuffer single predictions here run on; savedmodel: a .zip of a "
                 "TensorFlow Serving model directory, <id>/1/saved_model.pb and variables/, "
                 "with the model card beside it."))] = "keras") -> Response:
    """The model as a file: `.keras`, `.tflite`, or a TensorFlow Serving SavedModel `.zip`."""
    got = exports.download(model_id, format, field="path.model_id")
    if got.path is not None:
        return FileResponse(got.path, media_type=got.media_type, filename=got.filename)
    return Response(got.content, media_type=got.media_type, headers={
        "Content-Disposition": f'attachment; filename="{got.filename}"'})


@router.delete("/api/models/{model_id}", status_code=204,
               responses={**NOT_FOUND, **responses(
                   e403="Not the owner, or a shipped (read-only) model")})
def delete(model_id: ModelPath, registry: RegistryDep, models: ModelsDep,
           settings: SettingsDep, token: TokenDep) -> Response:
    """Delete a trained model: its owner token or the administrator's only; shipped models
    are read-only."""
    registry.delete(model_id, token, settings.admin_token, "path.model_id")
    models.forget(model_id)
    return Response(status_code=204)
