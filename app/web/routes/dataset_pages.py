"""The Datasets pages: the list with the upload form, the webcam capture page, one dataset's
page (classes, counts, samples, its jobs), and the upload's live progress."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from app.classroom import ownership
from app.datasets.builtin import BUILTIN, DATASETS
from app.datasets.catalog import info_of
from app.datasets.store import Failure
from app.datasets.uploads.stratified_split import min_per_class
from app.errors import Conflict, Forbidden
from app.web.dependencies import (
    DatasetsDep,
    DatasetUploadsDep,
    JobsDep,
    SettingsDep,
    TokenDep,
)
from app.web.routes.datasets import DatasetForm, DatasetPath, jobs_waiting
from app.web.templating import templates
from app.web.tokens import give_token, token_or_new
from app.web.uploads import files_are_files

router = APIRouter(include_in_schema=False)
IMAGE_SIZES = (16, 24, 28, 32, 48, 64)


def _limits(settings: Any) -> dict[str, int]:
    return {"zip_bytes": settings.max_dataset_zip_bytes,
            "expanded_bytes": settings.max_dataset_expanded_bytes,
            "images": settings.max_dataset_images, "classes": settings.max_dataset_classes,
            "min_per_class": min_per_class(0.2)}


@router.get("/datasets", response_class=HTMLResponse)
def datasets_page(request: Request, uploads: DatasetUploadsDep, settings: SettingsDep,
                  token: TokenDep) -> Response:
    uploads.tidy()
    rows = uploads.store.rows(("ready", "processing"))
    return templates.TemplateResponse(request, "datasets.html", {
        "active": "datasets", "builtin": BUILTIN, "rows": rows, "info_of": info_of,
        "token": token, "may_change": ownership.may_change, "sizes": IMAGE_SIZES,
        "limits": _limits(settings)})


@router.get("/datasets/webcam", response_class=HTMLResponse)
def webcam_page(request: Request, settings: SettingsDep) -> Response:
    return templates.TemplateResponse(request, "dataset_webcam.html", {
        "active": "datasets", "sizes": IMAGE_SIZES, "limits": _limits(settings)})


@router.post("/datasets/upload", response_class=HTMLResponse,
             dependencies=[Depends(files_are_files)])
async def upload(request: Request, form: Annotated[DatasetForm, Form()],
                 file: Annotated[UploadFile, File()], uploads: DatasetUploadsDep,
                 token: TokenDep) -> Response:
    """The page's upload (and the webcam page's save): checked at once, then processed in
    the background while the answer, a progress bar, follows it. Refusals come back as the
    page's message (web/errors.py)."""
    token, _ = token_or_new(token)
    row = await run_in_threadpool(uploads.receive, file.file, name=form.name.strip(),
                                  options=form.options(), owner=ownership.owner_hash(token),
                                  origin=form.source)
    response = templates.TemplateResponse(request, "partials/dataset_progress.html",
                                          {"row": row, "failure": None})
    return give_token(response, token)


@router.get("/datasets/{dataset_id}/progress", response_class=HTMLResponse)
def progress(dataset_id: DatasetPath, request: Request, uploads: DatasetUploadsDep) -> Response:
    """Processing: the progress bar, polled; ready: to the dataset's page; failed: why."""
    row = uploads.store.row(dataset_id)
    if row is not None and row.status == "ready":
        return Response(status_code=204, headers={"HX-Redirect": f"/datasets/{dataset_id}"})
    failure = None
    if row is None:
        failure = Failure("invalid", "file", "this dataset was deleted, or its upload failed "
                          "more than an hour ago", [])
    elif row.status == "failed":
        failure = Failure.of(row.error or {})
    return templates.TemplateResponse(request, "partials/dataset_progress.html",
                                      {"row": row, "failure": failure})


@router.get("/datasets/{dataset_id}", response_class=HTMLResponse)
def dataset_page(dataset_id: DatasetPath, request: Request, uploads: DatasetUploadsDep,
                 datasets: DatasetsDep, jobs: JobsDep, token: TokenDep) -> Response:
    builtin = DATASETS.get(dataset_id)
    row = None if builtin is not None else uploads.store.get(dataset_id, "path.dataset_id")
    context: dict[str, Any] = {"active": "datasets", "row": row, "failure": None,
                               "yours": row is not None and ownership.may_change(
                                   row.owner, token, None)}
    if row is not None and row.status != "ready":
        context.update(info=None, samples=None, jobs=[])
    else:
        context.update(info=builtin or info_of(row),  # type: ignore[arg-type]
                       samples=datasets.samples(dataset_id),
                       jobs=jobs.list_jobs(dataset=dataset_id))
    return templates.TemplateResponse(request, "dataset.html", context)


@router.post("/datasets/{dataset_id}/delete", response_class=HTMLResponse)
def delete(dataset_id: DatasetPath, request: Request, uploads: DatasetUploadsDep,
           jobs: JobsDep, settings: SettingsDep, token: TokenDep) -> Response:
    """The dataset page's delete button; refusals come back as a message in the page."""
    try:
        uploads.delete(dataset_id, token, settings.admin_token,
                       jobs_waiting=jobs_waiting(jobs, dataset_id), field="path.dataset_id")
    except (Conflict, Forbidden) as exc:
        return templates.TemplateResponse(request, "partials/notice.html", {"message": str(exc)})
    return Response(status_code=204, headers={"HX-Redirect": "/datasets"})

