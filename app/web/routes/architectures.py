"""Architectures: the lesson presets and a model's summary as Keras counts it (API), and the
Model Builder page (the learner's fields in, the checked model and summary out)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from app.errors import Forbidden, InvalidInput
from app.networks.architecture import ArchitectureSpec, check
from app.networks.presets import PRESETS
from app.training import builder, builder_link, job_names
from app.web.dependencies import DatasetsDep, JobsDep, QueueDep, SettingsDep, TokenDep
from app.web.schemas import BODY_ERRORS, responses
from app.web.schemas.architectures import PresetOut, SummaryOut, summary_out
from app.web.templating import templates
from app.web.tokens import give_token, token_or_new

api = APIRouter(tags=["architectures"])


@api.get("/api/presets", response_model=list[PresetOut])
def presets() -> list[PresetOut]:
    """The lesson models, with the training settings and test accuracy each lesson reports."""
    return [PresetOut.model_validate(p) for p in PRESETS]


@api.post("/api/architectures/summary", response_model=SummaryOut,
             responses={**BODY_ERRORS, **responses(
                 e422="A bad argument, or an impossible model: named by layer")})
def architecture_summary(spec: ArchitectureSpec, settings: SettingsDep) -> SummaryOut:
    """Output shape and parameters per layer, exactly as Keras' `model.summary()` counts
    them, computed without building anything; an impossible model is a 422 naming the layer."""
    return summary_out(check(spec, settings.max_layers, settings.max_params))


pages = APIRouter(include_in_schema=False)
MAX_FIELDS = 2000  # 50 layers × their arguments, with room to spare


@pages.get("/builder", response_class=HTMLResponse)
def builder_page(request: Request, settings: SettingsDep, datasets: DatasetsDep,
                 jobs: JobsDep) -> Response:
    """The state its address holds (app/training/builder_link.py): a preset (`?preset=`),
    every layer and setting (`?l=…&l=…&epochs=…`, what the page writes as it changes), a
    model fitted to a dataset (`?dataset=ID`, from a dataset's page) or a job's architecture
    and settings (`?job=ID`, "Train again"); a link that does not work as it is opens the
    nearest state that does, and says what changed."""
    state, changes, notice = builder_link.from_query(request.query_params.multi_items(),
                                                      settings, datasets, jobs)
    view = builder.build_view(state, settings, datasets)
    return templates.TemplateResponse(request, "builder.html", {
        "active": "builder", "v": view, "notice": notice, "changes": changes,
        "link": builder_link.url(view.state)})


@pages.post("/builder/render", response_class=HTMLResponse)
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
                                      {"v": view, "mode": mode, "link": builder_link.url(view.state)})


@pages.post("/builder/train", response_class=HTMLResponse)
async def builder_train(request: Request, settings: SettingsDep, datasets: DatasetsDep,
                        jobs: JobsDep, queue: QueueDep, token: TokenDep) -> Response:
    form = await request.form(max_files=0, max_fields=MAX_FIELDS)
    view = builder.build_view(builder.parse_form(form), settings, datasets)
    # Refusals are shown in the form (as the page's own request, with 200: see web/errors.py).
    if not view.valid:
        return templates.TemplateResponse(request, "partials/builder_form.html",
                                          {"v": view, "link": builder_link.url(view.state)})
    token, _ = token_or_new(token)
    try:
        row = jobs.create(job_names.named_job_request(view, settings, datasets, jobs), token)
    except ValidationError as exc:
        view.general[:] = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                           for e in exc.errors(include_url=False)]
        return templates.TemplateResponse(request, "partials/builder_form.html",
                                          {"v": view, "link": builder_link.url(view.state)})
    except (InvalidInput, Forbidden) as exc:  # a quota or a server only classes train on
        view.general[:] = [str(exc)]
        return templates.TemplateResponse(request, "partials/builder_form.html",
                                          {"v": view, "link": builder_link.url(view.state)})
    queue.enqueue(row.id)
    return give_token(Response(status_code=204, headers={"HX-Redirect": f"/jobs/{row.id}"}), token)


router = APIRouter()
router.include_router(api)
router.include_router(pages)
