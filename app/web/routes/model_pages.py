"""A model's page: its card, its curves, its downloads and ready-to-copy snippets for
calling it. (The list of models, with the upload form, is app/web/routes/model_list.py.)"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from app.classroom import ownership
from app.errors import NotFound
from app.web.dependencies import (
    ExportsDep,
    JobsDep,
    ModelsDep,
    RegistryDep,
    SettingsDep,
    TokenDep,
)
from app.web.routes.models import ModelPath
from app.web.templating import templates

router = APIRouter(include_in_schema=False)


@router.get("/models/{model_id}", response_class=HTMLResponse)
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
        "base": str(request.base_url).rstrip("/"), "explain": f"/explain?model={info.id}",
    })


@router.post("/models/{model_id}/delete", response_class=HTMLResponse)
def model_delete(model_id: ModelPath, registry: RegistryDep, models: ModelsDep,
                 settings: SettingsDep, token: TokenDep) -> Response:
    """The model page's delete button (the owner's); a refusal shows in the page."""
    registry.delete(model_id, token, settings.admin_token, "path.model_id")
    models.forget(model_id)
    return Response(status_code=204, headers={"HX-Redirect": "/models"})
