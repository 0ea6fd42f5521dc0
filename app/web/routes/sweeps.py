"""Hyperparameter sweeps: start one, read it, cancel it (API); the sweep form the Builder's
"Sweep…" opens, and a sweep's page (its runs, the parallel-coordinates chart and what
mattered), kept live over server-sent events like a job's page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import ValidationError

from app.config import Settings
from app.datasets.catalog import DatasetCatalog
from app.errors import Conflict, Forbidden, InvalidInput
from app.services import Services
from app.training import builder, builder_link, sweep_form, sweep_view
from app.training.builder import BuilderView
from app.training.jobs import JobStore
from app.training.sweep_plans import Plan, SweepRequest
from app.training.sweeps import SweepStore
from app.training.taskqueue import JobQueue
from app.web.dependencies import (
    DatasetsDep,
    JobsDep,
    LiveDep,
    QueueDep,
    SettingsDep,
    SweepsDep,
    TokenDep,
)
from app.web.live import LiveJobs, Reader, Update
from app.web.routes.architectures import MAX_FIELDS
from app.web.schemas import BODY_ERRORS, responses
from app.web.schemas.sweeps import SweepCreated, SweepOut, SweepPath
from app.web.templating import templates
from app.web.tokens import give_token, token_or_new

api = APIRouter(tags=["sweeps"])
NOT_FOUND = responses(e404="No such sweep")


def start(req: SweepRequest, sweeps: SweepStore, queue: JobQueue, token: str) -> SweepCreated:
    row, jobs = sweeps.create(req, token)
    for job in jobs:
        queue.enqueue(job.id)
    return SweepCreated(id=row.id, jobs=[j.id for j in jobs])


@api.post("/api/sweeps", status_code=202, response_model=SweepCreated,
          responses={**BODY_ERRORS, **responses(
              e403="Visitors may not train on this server (CNNPG_VISITOR_JOBS=0)",
              e413="The storage its models need is full (the message names the quota)",
              e422="A setting that is not one, a value not valid for its setting (both "
                   "named), an impossible model, or more runs than CNNPG_MAX_SWEEP_JOBS",
              e429="The runs would pass the queue limit, in all or for this client")})
def create_sweep(req: SweepRequest, sweeps: SweepsDep, queue: QueueDep, token: TokenDep
                 ) -> Response:
    """Train one model over a grid of settings: every combination of the values in `vary`
    is a run, an ordinary job of this client (cancel, compare, replay each), checked as
    `POST /api/jobs` checks a job, all with the same seed unless the seed is varied. The
    response carries the owner token, as a job's does."""
    token, _ = token_or_new(token)
    body = start(req, sweeps, queue, token)
    return give_token(JSONResponse(body.model_dump(), status_code=202), token)


@api.get("/api/sweeps/{sweep_id}", response_model=SweepOut, responses=NOT_FOUND)
def get_sweep(sweep_id: SweepPath, sweeps: SweepsDep, token: TokenDep) -> SweepOut:
    """The sweep: its runs with their values, status and results, the best run, and what
    mattered (each setting's effect on the test accuracy)."""
    return SweepOut.of(sweeps.get(sweep_id, "path.sweep_id"), token)


@api.post("/api/sweeps/{sweep_id}/cancel", response_model=SweepOut, responses={
    **NOT_FOUND, **responses(e403="Not the sweep's owner, its class's teacher or the "
                             "administrator", e409="No run is queued or running")})
def cancel_sweep(sweep_id: SweepPath, sweeps: SweepsDep, token: TokenDep) -> SweepOut:
    """Cancel the runs still queued (at once) or running (within a second or two); the
    finished runs are kept."""
    return SweepOut.of(sweeps.cancel(sweep_id, token, "path.sweep_id"), token)


# ------------------------------------------------------------------ pages

pages = APIRouter(include_in_schema=False)


@pages.post("/sweeps/from-builder", response_class=HTMLResponse)
async def from_builder(request: Request, settings: SettingsDep, datasets: DatasetsDep
                       ) -> Response:
    """The Builder's "Sweep…": its model and settings, carried to the sweep form by link."""
    form = await request.form(max_files=0, max_fields=MAX_FIELDS)
    view = builder.build_view(builder.parse_form(form), settings, datasets)
    query = urlsplit(builder_link.url(view.state)).query
    return Response(status_code=204, headers={"HX-Redirect": f"/sweeps/new?{query}"})


def _builder(state_query: str, settings: Settings, datasets: DatasetCatalog, jobs: JobStore
             ) -> tuple[BuilderView, list[str]]:
    """The Builder's model and settings from its link's query (repaired as the Builder
    repairs a link, with the changes said)."""
    query = parse_qsl(state_query, keep_blank_values=True)
    state, changes, _ = builder_link.from_query(query, settings, datasets, jobs)
    return builder.build_view(state, settings, datasets), changes


def _request(view: BuilderView, vary: dict[str, list[Any]]) -> SweepRequest:
    base = builder.job_request(view).model_dump(mode="json")
    return SweepRequest.model_validate({**base, "vary": vary})


def _preview(view: BuilderView, rows: list[tuple[str, str]],
             sweeps: SweepStore) -> tuple[dict[str, Any], SweepRequest | None]:
    """What the form says under its rows: how many runs, how long, or what is wrong."""
    labels = {o.path: f"{o.group}: {o.label}" if o.group != "Training" else o.label
              for o in sweep_form.options(view)}
    context: dict[str, Any] = {"problems": [], "plan": None, "estimate": None, "labels": labels}
    if not view.valid:
        context["problems"] = ["the model cannot train as it is: go back to the Builder to "
                               "fix it", *view.general,
                               *(m for ms in view.layer_errors.values() for m in ms)]
        return context, None
    vary, problems = sweep_form.vary_of(rows, labels)
    if problems:
        context["problems"] = problems
        return context, None
    try:
        req = _request(view, vary)
        checked: Plan = sweeps.plan(req)
    except ValidationError as exc:
        context["problems"] = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                               for e in exc.errors(include_url=False)][:5]
        return context, None
    except InvalidInput as exc:
        context["problems"] = [f"{exc.field}: {exc.message}"]
        return context, None
    context["plan"] = checked
    context["estimate"] = sweeps.estimate(checked)
    context["base_seed"] = view.settings.get("seed", "").strip()
    return context, req


@pages.get("/sweeps/new", response_class=HTMLResponse)
def sweep_form_page(request: Request, settings: SettingsDep, datasets: DatasetsDep,
                    jobs: JobsDep, sweeps: SweepsDep) -> Response:
    """The sweep form for the model its address holds (the Builder's own link)."""
    query = request.url.query
    view, changes = _builder(query, settings, datasets, jobs)
    rows = sweep_form.starting_rows(view)
    context, _ = _preview(view, rows, sweeps)
    return templates.TemplateResponse(request, "sweep_new.html", {
        "active": "builder", "v": view, "changes": changes, "state": query,
        "builder_link": builder_link.url(view.state), "rows": rows,
        "options": sweep_form.options(view), "max_runs": settings.max_sweep_jobs, **context})


@pages.post("/sweeps/new/preview", response_class=HTMLResponse)
async def sweep_preview(request: Request, settings: SettingsDep, datasets: DatasetsDep,
                        jobs: JobsDep, sweeps: SweepsDep) -> Response:
    form = await request.form(max_files=0, max_fields=50)
    view, _ = _builder(str(form.get("state", "")), settings, datasets, jobs)
    context, _ = await run_in_threadpool(_preview, view, sweep_form.rows_of(form),
                                         sweeps)
    return templates.TemplateResponse(request, "partials/sweep_preview.html",
                                      {"v": view, "max_runs": settings.max_sweep_jobs, **context})


@pages.post("/sweeps/new", response_class=HTMLResponse)
async def sweep_start(request: Request, settings: SettingsDep, datasets: DatasetsDep,
                      jobs: JobsDep, sweeps: SweepsDep, queue: QueueDep, token: TokenDep
                      ) -> Response:
    """Start the sweep; refusals (a quota, the queue) come back in the form."""
    form = await request.form(max_files=0, max_fields=50)
    view, _ = _builder(str(form.get("state", "")), settings, datasets, jobs)
    context, req = await run_in_threadpool(_preview, view,
                                           sweep_form.rows_of(form), sweeps)
    if req is not None:
        token, _ = token_or_new(token)
        try:
            created = await run_in_threadpool(start, req, sweeps, queue, token)
        except (InvalidInput, Forbidden) as exc:
            context["problems"] = [str(exc)]
        else:
            return give_token(Response(status_code=204, headers={
                "HX-Redirect": f"/sweeps/{created.id}"}), token)
    return templates.TemplateResponse(request, "partials/sweep_preview.html",
                                      {"v": view, "max_runs": settings.max_sweep_jobs, **context})


SWEEP_FEED = "sweep:"


def panel_context(sweeps: SweepStore, sweep_id: str) -> dict[str, Any]:
    """What the live panel shows; the same for every viewer, so it is rendered once."""
    sweep = sweeps.get(sweep_id, "path.sweep_id")
    return {"s": sweep_view.view(sweep), "sweep": sweep}


def live_sweeps(services: Services) -> Reader:
    """The reader of a sweep's live feed: its runs, read and rendered once for every page
    watching it."""
    panel = templates.get_template("partials/sweep_panel.html")

    def read(sweep_id: str) -> Update:
        context = panel_context(services.sweeps, sweep_id)
        sweep = context["sweep"]
        key = tuple((r.job.id, r.status, (r.job.progress or {}).get("updated")) for r in sweep.runs)
        html = panel.render(context)
        done = sweep.finished
        events = (("panel", html), ("done", "finished")) if done else (("panel", html),)
        return Update(key, events, done)

    return read


def follow_sweeps(live: LiveJobs, services: Services) -> None:
    live.route(SWEEP_FEED, live_sweeps(services))


@pages.get("/sweeps/{sweep_id}", response_class=HTMLResponse)
def sweep_page(sweep_id: SweepPath, request: Request, sweeps: SweepsDep, token: TokenDep
               ) -> Response:
    context = panel_context(sweeps, sweep_id)
    row = context["sweep"].row
    return templates.TemplateResponse(request, "sweep.html", {
        "active": "jobs", **context, "yours": sweeps.may_cancel(row, token),
        "live": not context["sweep"].finished})


@pages.get("/sweeps/{sweep_id}/panel", response_class=HTMLResponse)
def sweep_panel(sweep_id: SweepPath, request: Request, sweeps: SweepsDep) -> Response:
    """The panel once (the page itself gets it pushed: /sweeps/{id}/events)."""
    return templates.TemplateResponse(request, "partials/sweep_panel.html",
                                      panel_context(sweeps, sweep_id))


async def existing_sweep(sweep_id: SweepPath, sweeps: SweepsDep) -> str:
    """Checked before the stream starts, so an unknown sweep is a 404, not an empty stream."""
    await run_in_threadpool(sweeps.row, sweep_id, "path.sweep_id")
    return sweep_id


@pages.get("/sweeps/{sweep_id}/events", response_class=EventSourceResponse)
async def sweep_events(sweep_id: Annotated[str, Depends(existing_sweep)], live: LiveDep
                       ) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events for a sweep's page: `panel` (its runs, chart and what mattered,
    as HTML) as its runs move; `done` once every run has finished."""
    async for update in live.follow(SWEEP_FEED + sweep_id):
        for name, data in update.events:
            yield ServerSentEvent(event=name, raw_data=data)


@pages.post("/sweeps/{sweep_id}/cancel", response_class=HTMLResponse)
def sweep_cancel(sweep_id: SweepPath, request: Request, sweeps: SweepsDep, token: TokenDep
                 ) -> Response:
    """The sweep page's cancel button; refusals come back as a message in the page."""
    try:
        sweep = sweeps.cancel(sweep_id, token, "path.sweep_id")
    except Conflict as exc:
        return templates.TemplateResponse(request, "partials/notice.html", {"message": str(exc)})
    running = sweep.count("running")
    text = "Cancelled the runs that were waiting" + (
        f"; {running} running run{'s' if running != 1 else ''} stop within a second or two"
        if running else "") + ". The finished runs are kept."
    return templates.TemplateResponse(request, "partials/notice.html", {"message": text})


router = APIRouter()
router.include_router(api)
router.include_router(pages)
