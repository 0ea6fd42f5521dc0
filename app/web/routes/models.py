"""Models: the registry, downloads, uploads and deletion (API); the models page with its
upload form, and each model's page with its card (pages)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from app.classroom import ownership
from app.classroom.quotas import Quotas
from app.config import Settings
from app.datasets.catalog import DatasetCatalog
from app.errors import Forbidden, NotFound
from app.networks.architecture import ArchitectureSpec, check
from app.networks.export import Format
from app.networks.inference import LoadedModels
from app.networks.registry import Registry
from app.networks.uploads import register_upload
from app.web.dependencies import (
    DatasetsDep,
    ExportsDep,
    JobsDep,
    ModelsDep,
    QuotasDep,
    RegistryDep,
    SettingsDep,
    TokenDep,
)
from app.web.model_input import ModelPath
from app.web.public_links import public_base
from app.web.schemas import FORM_ERRORS, responses
from app.web.schemas.architectures import summary_out
from app.web.schemas.models import ModelDetail, ModelItem, ModelUpload, item
from app.web.templating import templates
from app.web.tokens import give_token, token_or_new
from app.web.uploads import files_are_files

api = APIRouter(tags=["models"])
NOT_FOUND = responses(e404="No such model")


@api.get("/api/models", response_model=list[ModelItem])
def models(registry: RegistryDep) -> list[ModelItem]:
    """Every model; shipped models (read-only) first."""
    return [item(m) for m in registry.list_models()]


@api.get("/api/models/{model_id}", response_model=ModelDetail, responses=NOT_FOUND)
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


@api.get("/api/models/{model_id}/download", response_class=FileResponse,
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


@api.delete("/api/models/{model_id}", status_code=204,
               responses={**NOT_FOUND, **responses(
                   e403="Not the owner, or a shipped (read-only) model")})
def delete(model_id: ModelPath, registry: RegistryDep, models: ModelsDep,
           settings: SettingsDep, token: TokenDep) -> Response:
    """Delete a trained model: its owner token or the administrator's only; shipped models
    are read-only."""
    registry.delete(model_id, token, settings.admin_token, "path.model_id")
    models.forget(model_id)
    return Response(status_code=204)


async def _receive(file: UploadFile, form: ModelUpload, token: str, registry: Registry,
                   loaded: LoadedModels, background: BackgroundTasks, datasets: DatasetCatalog,
                   settings: Settings, quotas: Quotas) -> str:
    """An uploaded model checked, stored within its owner's quota and kept loaded after the
    answer (its first prediction does not load it again): the API and the form alike."""
    raw = await file.read(settings.max_model_upload_bytes + 1)  # more is refused, naming the limit
    who = await run_in_threadpool(quotas.room_for, token, len(raw), "this model")
    model_id, model = await run_in_threadpool(
        register_upload, raw, file.filename or "", name=form.name, class_names=form.class_names,
        dataset=form.dataset, owner=ownership.owner_hash(token), settings=settings,
        registry=registry, datasets=datasets, input_range=form.input_range, insist=form.insist)
    background.add_task(loaded.adopt, model_id, model)
    quotas.mark("model", model_id, who)
    return model_id


@api.post("/api/models", status_code=201, response_model=ModelItem,
             dependencies=[Depends(files_are_files)],
             responses={**FORM_ERRORS, **responses(
                 e413="The file is over CNNPG_MAX_MODEL_UPLOAD_BYTES, or would expand past "
                 "CNNPG_MAX_MODEL_EXPANDED_BYTES, or a storage quota is full (the visitors', "
                 "yours, the server's: the message says which and how to free room)",
                 e422="Not a Keras 3 .keras archive the playground accepts (the message says "
                 "which layer or member and why), or not an image classifier")})
async def upload_model(file: Annotated[UploadFile, File(description="A Keras 3 .keras file")],
                       form: Annotated[ModelUpload, Form()], registry: RegistryDep,
                       loaded: ModelsDep, background: BackgroundTasks,
                       datasets: DatasetsDep, settings: SettingsDep, token: TokenDep,
                       quotas: QuotasDep) -> Response:
    """Bring your own model: a `.keras` file made anywhere with Keras 3, checked before Keras
    sees it (only the layers and arguments the playground knows; no Lambda, no code, no
    HDF5) and then loaded in safe mode. It joins the registry with an owner token (the
    `X-Owner-Token` header and an HttpOnly cookie), as a trained model does."""
    token, _ = token_or_new(token)
    model_id = await _receive(file, form, token, registry, loaded, background, datasets,
                              settings, quotas)
    body = item(registry.get(model_id))
    return give_token(JSONResponse(body.model_dump(), status_code=201, background=background), token)


list_pages = APIRouter(include_in_schema=False)


def _context(registry: Registry, datasets: DatasetCatalog, token: str | None) -> dict[str, object]:
    models = registry.list_models()
    return {"active": "models", "models": models, "datasets": datasets.list_datasets(),
            "yours": {m.id for m in models if not m.shipped
                      and ownership.may_change(m.owner, token, None)}}


@list_pages.get("/models", response_class=HTMLResponse)
def models_page(request: Request, registry: RegistryDep, datasets: DatasetsDep,
                settings: SettingsDep, token: TokenDep) -> Response:
    limits = {"params": settings.max_params, "layers": settings.max_upload_layers}
    return templates.TemplateResponse(request, "models.html",
                                      {**_context(registry, datasets, token), "limits": limits})


@list_pages.post("/models/upload", response_class=HTMLResponse)
async def upload(request: Request, file: Annotated[UploadFile, File()],
                 form: Annotated[ModelUpload, Form()], registry: RegistryDep,
                 loaded: ModelsDep, background: BackgroundTasks,
                 datasets: DatasetsDep, settings: SettingsDep, token: TokenDep,
                 quotas: QuotasDep) -> Response:
    """The upload form: the same checks as POST /api/models; the list comes back with the
    new model, or the reason it was refused."""
    token, _ = token_or_new(token)
    model_id = await _receive(file, form, token, registry, loaded, background, datasets,
                              settings, quotas)
    context = {**_context(registry, datasets, token), "added": registry.get(model_id)}
    return give_token(templates.TemplateResponse(request, "partials/model_rows.html", context,
                                                background=background), token)


@list_pages.post("/models/{model_id}/remove", response_class=HTMLResponse)
def remove_from_list(model_id: ModelPath, request: Request, registry: RegistryDep, models: ModelsDep,
           datasets: DatasetsDep, settings: SettingsDep, token: TokenDep) -> Response:
    message = None
    try:
        registry.delete(model_id, token, settings.admin_token, "path.model_id")
        models.forget(model_id)
    except Forbidden as exc:
        message = str(exc)
    context = {**_context(registry, datasets, token), "message": message}
    return templates.TemplateResponse(request, "partials/model_rows.html", context)


pages = APIRouter(include_in_schema=False)


@pages.get("/models/{model_id}", response_class=HTMLResponse)
def model_page(model_id: ModelPath, request: Request, registry: RegistryDep, exports: ExportsDep,
               jobs: JobsDep, token: TokenDep) -> Response:
    info = registry.get(model_id, "path.model_id")
    card = exports.card(info)
    job = None
    if card["job_id"]:
        try:
            job = jobs.get(card["job_id"])
        except NotFound:  # the job's record is gone; the model keeps its own history
            job = None
    training = info.meta.get("training") or {}
    history = (job.progress or {}).get("history") if job else training.get("history")
    steps = (job.progress or {}).get("steps") if job else None
    batches = (job.progress or {}).get("batches") if job else None
    return templates.TemplateResponse(request, "model.html", {
        "active": "models", "info": info, "card": card, "job": job,
        "history": history or [], "steps": steps or [], "batches": batches or 0,
        "yours": not info.shipped and ownership.may_change(info.owner, token, None),
        "base": public_base(request), "explain": f"/explain?model={info.id}",
    })


@pages.post("/models/{model_id}/delete", response_class=HTMLResponse)
def model_delete(model_id: ModelPath, registry: RegistryDep, models: ModelsDep,
                 settings: SettingsDep, token: TokenDep) -> Response:
    """The model page's delete button (the owner's); a refusal shows in the page."""
    registry.delete(model_id, token, settings.admin_token, "path.model_id")
    models.forget(model_id)
    return Response(status_code=204, headers={"HX-Redirect": "/models"})


router = APIRouter()
router.include_router(api)
router.include_router(list_pages)
router.include_router(pages)
