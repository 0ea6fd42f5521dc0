"""The Model Builder page: the learner's fields in, the checked model and summary out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from app.classroom import ownership
from app.errors import InvalidInput, NotFound
from app.training import builder
from app.web.dependencies import DatasetsDep, JobsDep, QueueDep, SettingsDep, TokenDep
from app.web.templating import templates
from app.web.tokens import give_token, token_or_new

router = APIRouter(include_in_schema=False)
MAX_FIELDS = 2000  # 50 layers × their arguments, with room to spare


@router.get("/builder", response_class=HTMLResponse)
def builder_page(request: Request, settings: SettingsDep, datasets: DatasetsDep, jobs: JobsDep,
                 preset: str = "mnist_book",
                 dataset: Annotated[str | None, Query(max_length=64, description=(
                     "Start from a model fitted to this dataset"))] = None,
                 job: Annotated[str | None, Query(max_length=64, description=(
                     "Start from this job's architecture and settings"))] = None) -> Response:
    """A preset; or (`?dataset=ID`, from a dataset's page) a model fitted to that dataset; or
    (`?job=ID`, "Train again") a job's architecture and settings."""
    state, notice = builder.BuilderState.from_preset(preset), None
    chosen = {d.id: d for d in datasets.list_datasets()}.get(dataset or "")
    if chosen is not None:
        state = builder.starting_state(chosen)
    if job:
        try:
            row = jobs.get(job, "query.job")
            state = builder.BuilderState.from_job(row.dataset, row.name, row.architecture,
                                                  row.training)
            notice = (f"The architecture and settings of job {row.id} ({row.name}), seed "
                      "included: change one thing and train, then compare the two.")
        except NotFound as exc:
            notice = exc.message
    view = builder.build_view(state, settings, datasets)
    return templates.TemplateResponse(request, "builder.html",
                                      {"active": "builder", "v": view, "notice": notice})


@router.post("/builder/render", response_class=HTMLResponse)
async def builder_render(request: Request, settings: SettingsDep, datasets: DatasetsDep,
                         mode: str = "structure") -> Response:
    """Re-check as the learner types (mode=edit), or apply a button's action (structure)."""
    form = await request.form(max_files=0, max_fields=MAX_FIELDS)
    state = builder.parse_form(form)
    if mode == "structure":
        action = str(form.get("action", ""))
        if action == "preset-from-select":
            action = f"preset:{form.get('preset_choice', '')}"
        elif action == "add-from-select":
            action = f"add:{form.get('add_type', '')}"
        elif action == "dataset":  # a dataset was picked: one output per class
            picked = {d.id: d for d in datasets.list_datasets()}.get(state.settings["dataset"])
            if picked is not None:
                builder.fit_to_dataset(state, picked)
        builder.apply_action(state, action)
    view = builder.build_view(state, settings, datasets)
    return templates.TemplateResponse(request, "partials/builder_form.html",
                                      {"v": view, "mode": mode})


@router.post("/builder/train", response_class=HTMLResponse)
async def builder_train(request: Request, settings: SettingsDep, datasets: DatasetsDep,
                        jobs: JobsDep, queue: QueueDep, token: TokenDep) -> Response:
    form = await request.form(max_files=0, max_fields=MAX_FIELDS)
    view = builder.build_view(builder.parse_form(form), settings, datasets)
    # Refusals are shown in the form (as the page's own request, with 200: see web/errors.py).
    if not view.valid:
        return templates.TemplateResponse(request, "partials/builder_form.html", {"v": view})
    token, _ = token_or_new(token)
    try:
        row = jobs.create(builder.job_request(view), ownership.owner_hash(token))
    except ValidationError as exc:
        view.general[:] = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                           for e in exc.errors(include_url=False)]
        return templates.TemplateResponse(request, "partials/builder_form.html", {"v": view})
    except InvalidInput as exc:
        view.general[:] = [str(exc)]
        return templates.TemplateResponse(request, "partials/builder_form.html", {"v": view})
    queue.enqueue(row.id)
    return give_token(Response(status_code=204, headers={"HX-Redirect": f"/jobs/{row.id}"}), token)
