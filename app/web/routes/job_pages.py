"""The Jobs pages: the list, a job's page with its live panel, and its cancel button."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from app.datasets.catalog import DatasetCatalog
from app.errors import Conflict, InvalidInput
from app.storage.tables import JobRow
from app.training.jobs import is_yours
from app.web.dependencies import DatasetsDep, JobsDep, TokenDep
from app.web.routes.jobs import JobPath
from app.web.templating import templates

router = APIRouter(include_in_schema=False)


def _class_names(row: JobRow, datasets: DatasetCatalog) -> tuple[str, ...]:
    try:
        return datasets.get(row.dataset).class_names
    except InvalidInput:  # an uploaded dataset deleted since: its classes by number
        n = len((row.result or {}).get("confusion_matrix") or [])
        return tuple(str(i) for i in range(n))


def _job_context(row: JobRow, token: str | None, datasets: DatasetCatalog) -> dict[str, object]:
    return {"job": row, "classes": _class_names(row, datasets), "yours": is_yours(row, token)}


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request, jobs: JobsDep) -> Response:
    return templates.TemplateResponse(request, "jobs.html",
                                      {"active": "jobs", "jobs": jobs.list_jobs()})


@router.get("/jobs/rows", response_class=HTMLResponse)
def jobs_rows(request: Request, jobs: JobsDep) -> Response:
    return templates.TemplateResponse(request, "partials/job_rows.html",
                                      {"jobs": jobs.list_jobs()})


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(job_id: JobPath, request: Request, jobs: JobsDep, token: TokenDep,
             datasets: DatasetsDep) -> Response:
    row = jobs.get(job_id, "path.job_id")
    return templates.TemplateResponse(request, "job.html",
                                      {"active": "jobs", **_job_context(row, token, datasets)})


@router.get("/jobs/{job_id}/panel", response_class=HTMLResponse)
def job_panel(job_id: JobPath, request: Request, jobs: JobsDep, token: TokenDep,
              datasets: DatasetsDep) -> Response:
    row = jobs.get(job_id, "path.job_id")
    return templates.TemplateResponse(request, "partials/job_panel.html",
                                      _job_context(row, token, datasets))


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
