"""Training jobs: submit, list, read, cancel, a job's timelapse and jobs compared (API); the
Jobs pages (the list, a job's page with its live panel and replay, its cancel button, and
Compare), kept live over server-sent events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from app.config import Settings
from app.datasets.catalog import DatasetCatalog
from app.errors import Conflict, InvalidInput, NotFound
from app.networks.architecture import ArchitectureSpec, check
from app.networks.registry import Registry
from app.services import Services
from app.storage.tables import JobRow
from app.training import comparison
from app.training.jobs import (
    EPOCHS_CEILING,
    FINISHED,
    JOB_ID_PATTERN,
    JobRequest,
    JobStore,
    QueueSpot,
    is_yours,
)
from app.web.dependencies import (
    DatasetsDep,
    JobsDep,
    LiveDep,
    QueueDep,
    RegistryDep,
    SettingsDep,
    TimelapsesDep,
    TokenDep,
)
from app.web.live import LiveJobs, Update
from app.web.schemas import BODY_ERRORS, responses
from app.web.schemas.jobs import (
    COMPARE_PATTERN,
    CompareOut,
    CompareSummary,
    DifferenceOut,
    JobCreated,
    JobOut,
    JobPath,
    TimelapseOut,
)
from app.web.templating import templates
from app.web.tokens import give_token, token_or_new

api = APIRouter(tags=["jobs"])
NOT_FOUND = responses(e404="No such job")


@api.post("/api/jobs", status_code=202, response_model=JobCreated,
             responses={**BODY_ERRORS, **responses(
                 e403="Visitors may not train on this server (CNNPG_VISITOR_JOBS=0)",
                 e413="The storage its model needs is full (the message names the quota)",
                 e422="A bad setting, an impossible model, or over a limit",
                 e429="The queue is full, in all or for this client, or the visitors' "
                      "jobs are (CNNPG_VISITOR_JOBS)")})
def create_job(req: JobRequest, jobs: JobsDep, queue: QueueDep, token: TokenDep) -> Response:
    """Queue a training job; a worker process trains it, in turn with the others (members
    of an open class before visitors, owners sharing the workers fairly). The response
    carries the owner token (`X-Owner-Token` header and an HttpOnly cookie): send it back
    to cancel the job or delete its model."""
    token, _ = token_or_new(token)
    row = jobs.create(req, token)
    queue.enqueue(row.id)
    body = JobCreated.model_validate({"id": row.id, "status": row.status})
    return give_token(JSONResponse(body.model_dump(), status_code=202), token)


@api.get("/api/jobs", response_model=list[JobOut])
def list_jobs(jobs: JobsDep, token: TokenDep) -> list[JobOut]:
    """Every job, newest first, with status, progress and result."""
    rows, spots = jobs.with_spots(jobs.list_jobs)
    return [JobOut.of(r, token, spots.get(r.id)) for r in rows]


@api.get("/api/jobs/{job_id}", response_model=JobOut, responses=NOT_FOUND)
def get_job(job_id: JobPath, jobs: JobsDep, token: TokenDep) -> JobOut:
    """The job: status, progress (live per-step curves, speed, time left), result; while
    queued, its place in the queue and estimated start."""
    row, spot = jobs.get_with_spot(job_id, "path.job_id")
    return JobOut.of(row, token, spot)


@api.post("/api/jobs/{job_id}/cancel", response_model=JobOut,
             responses={**NOT_FOUND, **responses(e403="Not the job's owner",
                                                 e409="The job has already finished")})
def cancel_job(job_id: JobPath, jobs: JobsDep, token: TokenDep) -> JobOut:
    """Cancel a queued job at once, or stop a running one within two seconds (the job's
    owner token, or the administrator's)."""
    return JobOut.of(jobs.request_cancel(job_id, token, "path.job_id"), token)


class JobNotStarted(NotFound):
    def __init__(self, row: JobRow, field: str) -> None:
        state = "is waiting in the queue" if row.status == "queued" else f"{row.status} before it started"
        super().__init__(field, f"job {row.id} {state}: its timelapse begins when a worker "
                         "starts training it")


@api.get("/api/jobs/{job_id}/timelapse", response_model=TimelapseOut,
            responses=responses(e404="No such job, or it never started", e422="Bad input"))
def job_timelapse(job_id: JobPath, jobs: JobsDep, timelapses: TimelapsesDep,
                        from_epoch: Annotated[int, Query(ge=0, le=EPOCHS_CEILING, description=(
                            "Only the frames from this epoch on (a page that has the "
                            "earlier ones)."))] = 0) -> TimelapseOut:
    """What the first convolution learned, epoch by epoch: its kernels, its feature maps of
    one fixed test image (the probe) and the validation accuracy, before training (epoch
    0) and after each epoch. A job stopped early keeps the frames it recorded."""
    row = jobs.get(job_id, "path.job_id")
    if row.started is None:
        raise JobNotStarted(row, "path.job_id")
    lapse = timelapses.read(job_id, from_epoch)
    return TimelapseOut.model_validate({
        "probe": lapse.probe.__dict__ if lapse.probe else None,
        "frames": [f.__dict__ for f in lapse.frames],
        "epochs": int((row.training or {}).get("epochs", 1))})


def total_params(row: JobRow) -> int | None:
    try:
        spec = ArchitectureSpec.model_validate(row.architecture)
        return check(spec, max_layers=10_000, max_params=10**15).total_params
    except Exception:  # a job recorded by an older release whose spec no longer validates
        return None


def class_names(row: JobRow, datasets: DatasetCatalog) -> list[str]:
    try:
        return list(datasets.get(row.dataset).class_names)
    except InvalidInput:  # a dataset deleted since: its classes by number
        return [str(i) for i in range(len((row.result or {}).get("confusion_matrix") or []))]


def compare_jobs(value: str, jobs: JobStore, settings: Settings, datasets: DatasetCatalog,
                 token: str | None) -> CompareOut:
    """The comparison the API returns and the Compare page shows."""
    ids = comparison.parse_job_ids(value, settings.max_compare_jobs)
    rows, spots = jobs.with_spots(lambda: jobs.get_many(ids, "query.jobs"))

    return CompareOut(
        jobs=[JobOut.of(r, token, spots.get(r.id)) for r in rows],
        differences=[DifferenceOut(field=d.field, values=d.values)
                     for d in comparison.differences(rows)],
        summaries=[CompareSummary(id=r.id, total_params=total_params(r),
                                  class_names=class_names(r, datasets)) for r in rows])


@api.get("/api/compare", response_model=CompareOut, responses=responses(
    e404="A job that does not exist", e422="Fewer than two jobs, too many, or not job ids"))
def compare(jobs: JobsDep, settings: SettingsDep, datasets: DatasetsDep, token: TokenDep,
            job_ids: Annotated[str, Query(
                alias="jobs", pattern=COMPARE_PATTERN, max_length=13 * 64,
                description="Job ids separated by commas: at least 2, at most "
                "CNNPG_MAX_COMPARE_JOBS (8).")]) -> CompareOut:
    """Jobs side by side, and exactly the settings that differ between them (dataset,
    training settings, seed, each layer's arguments with Keras' defaults filled in)."""
    return compare_jobs(job_ids, jobs, settings, datasets, token)


pages = APIRouter(include_in_schema=False)
# One colour per job, the same in every chart and table of a comparison (Okabe–Ito, which
# colour-blind readers can tell apart).
JOB_COLOURS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000",
               "#f0e442")


def panel_context(row: JobRow, datasets: DatasetCatalog, registry: Registry,
                  spot: QueueSpot | None) -> dict[str, Any]:
    """What the live panel shows; the same for every viewer, so it is rendered once. The
    model it trained (the registry's record) says whether Draw is offered for it."""
    model_id = (row.result or {}).get("model_id")
    try:
        model = registry.get(model_id) if model_id else None
    except (NotFound, InvalidInput):  # deleted since
        model = None
    return {"job": row, "classes": class_names(row, datasets), "spot": spot, "model": model}


JOB_LIST = "*"  # the feed of the Jobs page (no job id looks like this)


def live_jobs(services: Services) -> LiveJobs:
    """The application's live feeds: each reads its job and renders its panel once for
    every page watching it; the Jobs page's feed reads the list and renders its rows once
    for every Jobs page open."""
    panel = templates.get_template("partials/job_panel.html")
    rows = templates.get_template("partials/job_rows.html")

    def read_list() -> Update:
        jobs, spots = services.jobs.with_spots(services.jobs.list_jobs)
        key = tuple((r.id, r.status, (r.progress or {}).get("updated"), spots.get(r.id))
                    for r in jobs)
        return Update(key, (("rows", rows.render(jobs=jobs, spots=spots, picked=None)),))

    # Each job's panel as last rendered: a class's jobs are read every half second but
    # change once a turn, and rendering is most of what a read costs.
    rendered: dict[str, tuple[Any, str]] = {}

    def read(job_id: str) -> Update:
        if job_id == JOB_LIST:
            return read_list()
        row, spot = services.jobs.get_with_spot(job_id)
        key = (row.status, (row.progress or {}).get("updated"), spot, row.error)
        last = rendered.get(job_id)
        if last is not None and last[0] == key:
            html = last[1]
        else:
            html = panel.render(panel_context(row, services.datasets, services.registry, spot))
            rendered[job_id] = (key, html)
        done = row.status in FINISHED
        if done:
            rendered.pop(job_id, None)
        events = (("panel", html), ("done", row.status)) if done else (("panel", html),)
        return Update(key, events, done)

    return LiveJobs(read, services.settings.live_interval)


PickedJob = Annotated[str | None, Query(alias="compare", pattern=JOB_ID_PATTERN,
                                        description="A job to tick for comparing")]


@pages.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request, jobs: JobsDep, picked: PickedJob = None) -> Response:
    rows, spots = jobs.with_spots(jobs.list_jobs)
    return templates.TemplateResponse(request, "jobs.html", {
        "active": "jobs", "jobs": rows, "spots": spots, "picked": picked})


@pages.get("/jobs/rows", response_class=HTMLResponse)
def jobs_rows(request: Request, jobs: JobsDep, picked: PickedJob = None) -> Response:
    """The rows once (the page itself gets them pushed: /jobs/events)."""
    rows, spots = jobs.with_spots(jobs.list_jobs)
    return templates.TemplateResponse(request, "partials/job_rows.html", {
        "jobs": rows, "spots": spots, "picked": picked})


@pages.get("/jobs/events", response_class=EventSourceResponse)
async def jobs_events(live: LiveDep) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events for the Jobs page: `rows`, the list as HTML, whenever a job is
    submitted, moves or ends (read once for every Jobs page open, as a job's feed is)."""
    async for update in live.follow(JOB_LIST):
        for name, data in update.events:
            yield ServerSentEvent(event=name, raw_data=data)


@pages.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(job_id: JobPath, request: Request, jobs: JobsDep, token: TokenDep,
             datasets: DatasetsDep, registry: RegistryDep) -> Response:
    row, spot = jobs.get_with_spot(job_id, "path.job_id")
    return templates.TemplateResponse(request, "job.html", {
        "active": "jobs", **panel_context(row, datasets, registry, spot),
        "yours": is_yours(row, token), "live": row.status not in FINISHED})


@pages.get("/jobs/{job_id}/panel", response_class=HTMLResponse)
def job_panel(job_id: JobPath, request: Request, jobs: JobsDep, datasets: DatasetsDep,
              registry: RegistryDep) -> Response:
    """The panel once (the page itself gets it pushed: /jobs/{id}/events)."""
    row, spot = jobs.get_with_spot(job_id, "path.job_id")
    return templates.TemplateResponse(request, "partials/job_panel.html",
                                      panel_context(row, datasets, registry, spot))


async def existing_job(job_id: JobPath, jobs: JobsDep) -> str:
    """Checked before the stream starts, so an unknown job is a 404, not an empty stream."""
    await run_in_threadpool(jobs.get, job_id, "path.job_id")
    return job_id


@pages.get("/jobs/{job_id}/events", response_class=EventSourceResponse)
async def job_events(job_id: Annotated[str, Depends(existing_job)], live: LiveDep
                     ) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events for a job page (htmx's SSE extension swaps them in): `panel`,
    the job's panel as HTML, as it changes; `done` once it has finished."""
    async for update in live.follow(job_id):
        for name, data in update.events:
            yield ServerSentEvent(event=name, raw_data=data)


@pages.post("/jobs/{job_id}/cancel", response_class=HTMLResponse)
def job_cancel(job_id: JobPath, request: Request, jobs: JobsDep, token: TokenDep) -> Response:
    """The job page's cancel button; refusals come back as a message in the page."""
    try:
        row = jobs.request_cancel(job_id, token, "path.job_id")
    except Conflict as exc:
        return templates.TemplateResponse(request, "partials/notice.html", {"message": str(exc)})
    text = ("Cancelled." if row.status == "cancelled"
            else "Cancelling: the worker stops within a second or two.")
    return templates.TemplateResponse(request, "partials/notice.html", {"message": text})


@pages.get("/compare", response_class=HTMLResponse)
def compare_page(request: Request, jobs: JobsDep, settings: SettingsDep, datasets: DatasetsDep,
                 token: TokenDep) -> Response:
    """`/compare?jobs=a,b,c`: the URL is the comparison. It shows only the settings that
    differ unless `&only=all` asks for every setting (`only=differences`, which release 0.2
    wrote for it, is still read). Ticked boxes (`jobs=a&jobs=b`) come back to that one
    canonical form. A link naming jobs that are not here (or twice, or too many) opens with
    the ones that can be compared, and says what it left out."""
    picked = request.query_params.getlist("jobs")
    ids = [p.strip() for value in picked for p in value.split(",") if p.strip()]
    canonical = ",".join(dict.fromkeys(ids))
    only = request.query_params.get("only", "")
    if len(picked) > 1:
        query = {"jobs": canonical, **({"only": only} if only else {})}
        return RedirectResponse("/compare?" + urlencode(query, safe=","), status_code=303)

    def exists(job_id: str) -> bool:
        try:
            jobs.get(job_id)
            return True
        except NotFound:
            return False

    ids, changes = comparison.repair_ids(ids, settings.max_compare_jobs, exists)
    if only not in ("", "differences", "all"):
        changes.append(f"only {only[:20]!r} is not \"all\": showing only what differs")
    every = only == "all"
    context: dict[str, Any] = {
        "active": "jobs", "ids": ids, "error": None, "cmp": None, "changes": changes,
        "recent": jobs.list_jobs(limit=30), "colours": JOB_COLOURS, "only": not every,
        "link": "/compare?" + urlencode({"jobs": ",".join(ids), **({"only": "all"} if every else {})},
                                        safe=",") if ids else "/compare"}
    if len(ids) >= 2:
        try:
            context["cmp"] = compare_jobs(",".join(ids), jobs, settings, datasets, token)
            rows = jobs.get_many(ids)
            context["table"] = [(d, comparison.differs(d)) for d in comparison.side_by_side(rows)]
            context["series"] = [
                {"label": f"{j.name} ({j.id})", "colour": JOB_COLOURS[i % len(JOB_COLOURS)],
                 "batches": j.progress.get("batches") or 0, "steps": j.progress.get("steps") or [],
                 "history": j.progress.get("history") or []}
                for i, j in enumerate(context["cmp"].jobs)]
        except (InvalidInput, NotFound) as exc:
            context["error"] = f"{exc.message}"
    elif ids and not changes:
        context["error"] = "name at least two jobs to compare: add one below"
    return templates.TemplateResponse(request, "compare.html", context)


router = APIRouter()
router.include_router(api)
router.include_router(pages)
