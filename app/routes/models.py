"""The model registry over HTTP."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel

from app import inference
from app.architecture import ArchitectureSpec, check
from app.registry import ReadOnlyModel, check_id, delete_model, get_model, list_models, model_path
from app.routes.jobs import summary_json
from app.web import presented_token

router = APIRouter(tags=["models"])


class ModelItem(BaseModel):
    id: str
    name: str
    dataset: str
    input_shape: list[int]
    shipped: bool
    test_accuracy: float | None
    created: str


@router.get("/api/models", response_model=list[ModelItem])
def models() -> list[dict[str, Any]]:
    """Every model; shipped models (read-only) first."""
    return [m.public() for m in list_models()]


@router.get("/api/models/{model_id}")
def model_detail(model_id: str) -> dict[str, Any]:
    """The model with its architecture and training record."""
    info = get_model(check_id(model_id, "path.model_id"))
    meta = {k: v for k, v in info.meta.items() if k not in ("id", "name", "dataset")}
    summary = None
    if meta.get("architecture"):
        spec = ArchitectureSpec.model_validate(meta["architecture"])
        summary = summary_json(check(spec, max_layers=10_000, max_params=10**12))
    return {**info.public(), **meta, "summary": summary}


@router.get("/api/models/{model_id}/download", response_class=FileResponse)
def download(model_id: str) -> Response:
    """The `.keras` file, loadable with `keras.saving.load_model`."""
    info = get_model(check_id(model_id, "path.model_id"))
    return FileResponse(model_path(info.id), media_type="application/octet-stream",
                        filename=f"{info.id}.keras")


@router.delete("/api/models/{model_id}", status_code=204,
               responses={403: {"description": "Not the owner, or a shipped (read-only) model"}})
def delete(model_id: str, request: Request) -> Response:
    """Delete a trained model: its owner token or the administrator's only; shipped models
    are read-only."""
    try:
        delete_model(check_id(model_id, "path.model_id"), presented_token(request))
    except ReadOnlyModel as exc:
        return JSONResponse({"detail": str(exc)}, status_code=403)
    inference.forget(model_id)
    return Response(status_code=204)
