"""The Models page: every model in the registry, and a form to bring your own `.keras` file."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from app.classroom import ownership
from app.datasets.catalog import DatasetCatalog
from app.errors import Forbidden
from app.networks.registry import Registry
from app.networks.uploads import register_upload
from app.web.dependencies import DatasetsDep, ModelsDep, RegistryDep, SettingsDep, TokenDep
from app.web.routes.models import ModelPath, ModelUpload
from app.web.templating import templates
from app.web.tokens import give_token, token_or_new

router = APIRouter(include_in_schema=False)


def _context(registry: Registry, datasets: DatasetCatalog, token: str | None) -> dict[str, object]:
    models = registry.list_models()
    return {"active": "models", "models": models, "datasets": datasets.list_datasets(),
            "yours": {m.id for m in models if not m.shipped
                      and ownership.may_change(m.owner, token, None)}}


@router.get("/models", response_class=HTMLResponse)
def models_page(request: Request, registry: RegistryDep, datasets: DatasetsDep,
                token: TokenDep) -> Response:
    return templates.TemplateResponse(request, "models.html", _context(registry, datasets, token))


@router.post("/models/upload", response_class=HTMLResponse)
async def upload(request: Request, file: Annotated[UploadFile, File()],
                 form: Annotated[ModelUpload, Form()], registry: RegistryDep,
                 datasets: DatasetsDep, settings: SettingsDep, token: TokenDep) -> Response:
    """The upload form: the same checks as POST /api/models; the list comes back with the
    new model, or the reason it was refused."""
    raw = await file.read(settings.max_model_upload_bytes + 1)
    token, _ = token_or_new(token)
    model_id = await run_in_threadpool(
        register_upload, raw, file.filename or "", name=form.name, class_names=form.class_names,
        dataset=form.dataset, owner=ownership.owner_hash(token), settings=settings,
        registry=registry, datasets=datasets)
    context = {**_context(registry, datasets, token), "added": registry.get(model_id)}
    return give_token(templates.TemplateResponse(request, "partials/model_rows.html", context),
                      token)


@router.post("/models/{model_id}/remove", response_class=HTMLResponse)
def delete(model_id: ModelPath, request: Request, registry: RegistryDep, models: ModelsDep,
           datasets: DatasetsDep, settings: SettingsDep, token: TokenDep) -> Response:
    message = None
    try:
        registry.delete(model_id, token, settings.admin_token, "path.model_id")
        models.forget(model_id)
    except Forbidden as exc:
        message = str(exc)
    context = {**_context(registry, datasets, token), "message": message}
    return templates.TemplateResponse(request, "partials/model_rows.html", context)
