"""The Jobs pages: the list, a job's page with its live panel and replay, its cancel button,
and jobs compared side by side."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from app.datasets.catalog import DatasetCatalog
from app.errors import Conflict, InvalidInput, NotFound
from app.services import Services
from app.storage.tables import JobRow
from app.training import comparison
from app.training.jobs import FINISHED, JOB_ID_PATTERN, JobStore, QueueSpot, is_yours
from app.web.dependencies import DatasetsDep, JobsDep, LiveDep, SettingsDep, TokenDep
from app.web.live import LiveJobs, Update
from app.web.routes.jobs import JobPath, class_names, compare_jobs
from app.web.templating import templates

router = APIRouter(include_in_schema=False)
# One colour per job, the same in every chart and table of a comparison (Okabe–Ito, which
# colour-blind readers can tell apart).
JOB_COLOURS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000",
               "#f0e442")


def panel_context(row: JobRow, datasets: DatasetCatalog, spot: QueueSpot | None
                  ) -> dict[str, Any]:
    """What the live panel shows; the same for every viewer, so it is rendered once."""
    return {"job": row, "classes": class_names(row, datasets), "spot": spot}


def queue_spot(jobs: JobStore, row: JobRow) -> QueueSpot | None:
    return jobs.queue().get(row.id) if row.status == "queued" else None


JOB_LIST = "*"  # the feed of the Jobs page (no job id looks like this)


def live_jobs(services: Services) -> LiveJobs:
    """The application's live feeds: each reads its job and renders its panel once for
    every page watching it; the Jobs page's feed reads the list and renders its rows once
    for every Jobs page open."""
    panel = templates.get_template("partials/job_panel.html")
    rows = templates.get_template("partials/job_rows.html")

    def read_list() -> Update:
        jobs, spots = services.jobs.list_jobs(), services.jobs.queue()
        key = tuple((r.id, r.status, (r.progress or {}).get("updated"), spots.get(r.id))
                    for r in jobs)
        return Update(key, (("rows", rows.render(jobs=jobs, spots=spots, picked=None)),))

    def read(job_id: str) -> Update:
        if job_id == JOB_LIST:
            return read_list()
        row = services.jobs.get(job_id)
        spot = queue_spot(services.jobs, row)
        key = (row.status, (row.progress or {}).get("updated"), spot, row.error)
        html = panel.render(panel_context(row, services.datasets, spot))
        done = row.status in FINISHED
        events = (("panel", html), ("done", row.status)) if done else (("panel", html),)
        return Update(key, events, done)

    return LiveJobs(read, services.settings.live_interval)


PickedJob = Annotated[str | None, Query(alias="compare", pattern=JOB_ID_PATTERN,
                                        description="A job to tick for comparing")]


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request, jobs: JobsDep, picked: PickedJob = None) -> Response:
    return templates.TemplateResponse(request, "jobs.html", {
        "active": "jobs", "jobs": jobs.list_jobs(), "spots": jobs.queue(), "picked": picked})


@router.get("/jobs/rows", response_class=HTMLResponse)
def jobs_rows(request: Request, jobs: JobsDep, picked: PickedJob = None) -> Response:
    """The rows once (the page itself gets them pushed: /jobs/events)."""
    return templates.TemplateResponse(request, "partials/job_rows.html", {
        "jobs": jobs.list_jobs(), "spots": jobs.queue(), "picked": picked})


@router.get("/jobs/events", response_class=EventSourceResponse)
async def jobs_events(live: LiveDep) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events for the Jobs page: `rows`, the list as HTML, whenever a job is
    submitted, moves or ends (read once for every Jobs page open, as a job's feed is)."""
    async for update in live.follow(JOB_LIST):
        for name, data in update.events:
            yield ServerSentEvent(event=name, raw_data=data)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(job_id: JobPath, request: Request, jobs: JobsDep, token: TokenDep,
             datasets: DatasetsDep) -> Response:
    row = jobs.get(job_id, "path.job_id")
    return templates.TemplateResponse(request, "job.html", {
        "active": "jobs", **panel_context(row, datasets, queue_spot(jobs, row)),
        "yours": is_yours(row, token), "live": row.status not in FINISHED})


@router.get("/jobs/{job_id}/panel", response_class=HTMLResponse)
def job_panel(job_id: JobPath, request: Request, jobs: JobsDep, datasets: DatasetsDep) -> Response:
    """The panel once (the page itself gets it pushed: /jobs/{id}/events)."""
    row = jobs.get(job_id, "path.job_id")
    return templates.TemplateResponse(request, "partials/job_panel.html",
                                      panel_context(row, datasets, queue_spot(jobs, row)))


async def existing_job(job_id: JobPath, jobs: JobsDep) -> str:
    """Checked before the stream starts, so an unknown job is a 404, not an empty stream."""
    await run_in_threadpool(jobs.get, job_id, "path.job_id")
    return job_id


@router.get("/jobs/{job_id}/events", response_class=EventSourceResponse)
async def job_events(job_id: Annotated[str, Depends(existing_job)], live: LiveDep
                     ) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events for a job page (htmx's SSE extension swaps them in): `panel`,
    the job's panel as HTML, as it changes; `done` once it has finished."""
    async for update in live.follow(job_id):
        for name, data in update.events:
            yield ServerSentEvent(event=name, raw_data=data)


@router.post("/jobs/{job_id}/cancel", response_class=HTMLResponse)
def job_cancel(job_id: JobPath, request: Request, jobs: JobsDep, token: TokenDep) -> Response:
    """The job page's cancel button; refusals come back as a message in the page."""
    try:
        row = jobs.request_cancel(job_id, token, "path.job_id")
    except Conflict as exc:
        return templates.TemplateResponse(request, "partials/notice.html", {"message": str(exc)})
    text = ("Cancelled." if row.status == "cancelled"
            else "Cancelling: the worker stops within a second or two.")
    return templates.TemplateResponse(request, "partials/notice.html", {"message": text})


@router.get("/compare", response_class=HTMLResponse)
def compare_page(request: Request, jobs: JobsDep, settings: SettingsDep, datasets: DatasetsDep,
                 token: TokenDep) -> Response:
    """`/compare?jobs=a,b,c` (and `&only=differences`): the URL is the comparison. Ticked
    boxes (`jobs=a&jobs=b`) come back to that one canonical form. A link naming jobs that
    are not here (or twice, or too many) opens with the ones that can be compared, and
    says what it left out."""
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
    if only not in ("", "differences"):
        changes.append(f"only {only[:20]!r} is not \"differences\": showing every setting")
        only = ""
    context: dict[str, Any] = {
        "active": "jobs", "ids": ids, "error": None, "cmp": None, "changes": changes,
        "recent": jobs.list_jobs(limit=30), "colours": JOB_COLOURS, "only": only == "differences",
        "link": "/compare?" + urlencode({"jobs": ",".join(ids), **({"only": only} if only else {})},
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
