"""Datasets: the built-in ones and uploaded zips of class folders (API); the Datasets pages
(the list with its upload form and progress, a dataset's page, the webcam capture)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response

from app.classroom import ownership
from app.classroom.quotas import Quotas
from app.datasets.builtin import BUILTIN, DATASETS
from app.datasets.catalog import info_of
from app.datasets.ingestion import DatasetUploads
from app.datasets.store import Failure
from app.datasets.uploads.stratified_split import min_per_class
from app.errors import Conflict, Forbidden
from app.training.jobs import JobStore
from app.web.dependencies import (
    DatasetsDep,
    DatasetUploadsDep,
    JobsDep,
    QuotasDep,
    SettingsDep,
    TokenDep,
)
from app.web.schemas import FORM_ERRORS, responses
from app.web.schemas.datasets import (
    DatasetForm,
    DatasetOut,
    DatasetPath,
)
from app.web.templating import templates
from app.web.tokens import give_token, token_or_new
from app.web.uploads import files_are_files

api = APIRouter(tags=["datasets"])
NOT_FOUND = responses(e404="No such dataset")


def dataset_storage(quotas: Quotas, token: str | None) -> Callable[[int], bool]:
    """The check of a zip's bytes against its owner's storage quota (True: a visitor's)."""
    return lambda size: quotas.room_for(token, size, "this dataset").visitor


def jobs_waiting(jobs: JobStore, dataset_id: str) -> int:
    return sum(j.status in ("queued", "running") for j in jobs.list_jobs(dataset=dataset_id))


def dataset_out(uploads: DatasetUploads, dataset_id: str, token: str | None,
                field: str = "path.dataset_id") -> DatasetOut:
    info = DATASETS.get(dataset_id)
    if info is not None:
        return DatasetOut.of_info(info)
    return DatasetOut.of_row(uploads.store.get(dataset_id, field), token)


@api.post("/api/datasets", status_code=201, response_model=DatasetOut,
             dependencies=[Depends(files_are_files)],
             responses={**FORM_ERRORS, **responses(
                 e413="The zip is over CNNPG_MAX_DATASET_ZIP_BYTES, or its files expand past "
                 "CNNPG_MAX_DATASET_EXPANDED_BYTES, or a storage quota is full (the "
                 "visitors', yours, the server's: the message says which and how to free room)",
                 e422="The zip cannot become a dataset (the message says why and names the "
                 "files): not a zip, unsafe paths, symlinks, nested archives, one class, too "
                 "many classes or images, a class too small to split, unreadable images with "
                 "on_bad_file=refuse, …")})
async def create_dataset(form: Annotated[DatasetForm, Form()],
                         file: Annotated[UploadFile, File(description=(
                             "A .zip of class folders: cats/001.jpg, dogs/001.jpg, … (PNG, "
                             "JPEG, WebP or GIF)"))],
                         uploads: DatasetUploadsDep, token: TokenDep,
                         quotas: QuotasDep) -> Response:
    """Make a dataset from a zip of class folders: every image is decoded, fitted (cropped or
    padded) and resized, and each class split into train and test (seeded, stratified). The
    answer comes once the dataset is ready (or refused); the response carries the owner token
    (`X-Owner-Token` header and an HttpOnly cookie) that may delete it."""
    token, _ = token_or_new(token)
    row = await run_in_threadpool(uploads.receive, file.file, name=form.name.strip(),
                                  options=form.options(), owner=ownership.owner_hash(token),
                                  origin=form.source, storage=dataset_storage(quotas, token))
    row = await run_in_threadpool(uploads.result, row.id)
    body = DatasetOut.of_row(row, token)
    return give_token(JSONResponse(body.model_dump(mode="json"), status_code=201), token)


@api.get("/api/datasets", response_model=list[DatasetOut])
def list_datasets(uploads: DatasetUploadsDep, token: TokenDep) -> list[DatasetOut]:
    """The built-in datasets, then the uploaded ones (newest first; those still being
    processed too). A job's `dataset` takes any of their ids once ready."""
    uploads.tidy()
    rows = uploads.store.rows(("ready", "processing"))
    return [*(DatasetOut.of_info(i) for i in BUILTIN), *(DatasetOut.of_row(r, token) for r in rows)]


@api.get("/api/datasets/{dataset_id}", response_model=DatasetOut, responses=NOT_FOUND)
def get_dataset(dataset_id: DatasetPath, uploads: DatasetUploadsDep,
                token: TokenDep) -> DatasetOut:
    return dataset_out(uploads, dataset_id, token)


@api.delete("/api/datasets/{dataset_id}", status_code=204,
               responses={**NOT_FOUND, **responses(
                   e403="Not the owner, or a built-in (read-only) dataset",
                   e409="Jobs are queued or running on it")})
def delete_dataset(dataset_id: DatasetPath, uploads: DatasetUploadsDep, jobs: JobsDep,
                   settings: SettingsDep, token: TokenDep) -> Response:
    """Delete an uploaded dataset and its images: its owner token or the administrator's
    only; built-in datasets are read-only. Models trained on it stay, with its class names."""
    uploads.delete(dataset_id, token, settings.admin_token,
                   jobs_waiting=jobs_waiting(jobs, dataset_id), field="path.dataset_id")
    return Response(status_code=204)


pages = APIRouter(include_in_schema=False)
IMAGE_SIZES = (16, 24, 28, 32, 48, 64)


def _limits(settings: Any) -> dict[str, int]:
    return {"zip_bytes": settings.max_dataset_zip_bytes,
            "expanded_bytes": settings.max_dataset_expanded_bytes,
            "images": settings.max_dataset_images, "classes": settings.max_dataset_classes,
            "min_per_class": min_per_class(0.2)}


@pages.get("/datasets", response_class=HTMLResponse)
def datasets_page(request: Request, uploads: DatasetUploadsDep, settings: SettingsDep,
                  token: TokenDep) -> Response:
    uploads.tidy()
    rows = uploads.store.rows(("ready", "processing"))
    return templates.TemplateResponse(request, "datasets.html", {
        "active": "datasets", "builtin": BUILTIN, "rows": rows, "info_of": info_of,
        "token": token, "may_change": ownership.may_change, "sizes": IMAGE_SIZES,
        "limits": _limits(settings)})


@pages.get("/datasets/webcam", response_class=HTMLResponse)
def webcam_page(request: Request, settings: SettingsDep) -> Response:
    return templates.TemplateResponse(request, "dataset_webcam.html", {
        "active": "datasets", "sizes": IMAGE_SIZES, "limits": _limits(settings)})


@pages.post("/datasets/upload", response_class=HTMLResponse,
             dependencies=[Depends(files_are_files)])
async def upload(request: Request, form: Annotated[DatasetForm, Form()],
                 file: Annotated[UploadFile, File()], uploads: DatasetUploadsDep,
                 token: TokenDep, quotas: QuotasDep) -> Response:
    """The page's upload (and the webcam page's save): checked at once, then processed in
    the background while the answer, a progress bar, follows it. Refusals come back as the
    page's message (web/errors.py)."""
    token, _ = token_or_new(token)
    row = await run_in_threadpool(uploads.receive, file.file, name=form.name.strip(),
                                  options=form.options(), owner=ownership.owner_hash(token),
                                  origin=form.source, storage=dataset_storage(quotas, token))
    response = templates.TemplateResponse(request, "partials/dataset_progress.html",
                                          {"row": row, "failure": None})
    return give_token(response, token)


@pages.get("/datasets/{dataset_id}/progress", response_class=HTMLResponse)
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


@pages.get("/datasets/{dataset_id}", response_class=HTMLResponse)
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


@pages.post("/datasets/{dataset_id}/delete", response_class=HTMLResponse)
def delete(dataset_id: DatasetPath, request: Request, uploads: DatasetUploadsDep,
           jobs: JobsDep, settings: SettingsDep, token: TokenDep) -> Response:
    """The dataset page's delete button; refusals come back as a message in the page."""
    try:
        uploads.delete(dataset_id, token, settings.admin_token,
                       jobs_waiting=jobs_waiting(jobs, dataset_id), field="path.dataset_id")
    except (Conflict, Forbidden) as exc:
        return templates.TemplateResponse(request, "partials/notice.html", {"message": str(exc)})
    return Response(status_code=204, headers={"HX-Redirect": "/datasets"})


router = APIRouter()
router.include_router(api)
router.include_router(pages)
