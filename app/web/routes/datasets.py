"""Datasets over HTTP (JSON): upload a zip of class folders, list, read, delete."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Path, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.classroom import ownership
from app.datasets.builtin import BUILTIN, DATASETS, DatasetInfo
from app.datasets.catalog import info_of
from app.datasets.ingestion import DatasetUploads
from app.datasets.store import DATASET_ID_PATTERN, DatasetStatus
from app.datasets.uploads.options import Color, DatasetOptions, OnBadFile
from app.imaging.fitting import Fit
from app.storage.tables import DatasetRow
from app.training.jobs import JobStore
from app.web.dependencies import DatasetUploadsDep, JobsDep, SettingsDep, TokenDep
from app.web.schemas import FORM_ERRORS, responses
from app.web.tokens import give_token, token_or_new
from app.web.uploads import files_are_files

router = APIRouter(tags=["datasets"])
DatasetPath = Annotated[str, Path(pattern=DATASET_ID_PATTERN, max_length=32,
                                  description="A dataset id from GET /api/datasets.")]
NOT_FOUND = responses(e404="No such dataset")
# Printable, and not only spaces.
NAME_PATTERN = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"


def as_utc(when: dt.datetime) -> dt.datetime:
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when


UtcDatetime = Annotated[dt.datetime, AfterValidator(as_utc)]


class DatasetForm(BaseModel):
    """The uploaded zip's settings: how its images become the dataset's arrays."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=64, pattern=NAME_PATTERN,
                      description="Shown wherever the dataset is listed.")
    image_size: int = Field(32, ge=8, le=64, description="Images become image_size × image_size.")
    color: Color = Field("rgb", description="grayscale: one channel; rgb: three.")
    test_fraction: float = Field(0.2, ge=0.05, le=0.5, allow_inf_nan=False,
                                 description="The share of each class held out for testing.")
    fit: Fit = Field("crop", description="How a photo that is not square becomes square: crop "
                     "its centre, or pad it with black.")
    on_bad_file: OnBadFile = Field(
        "skip", description="A member that is not an image, or cannot be decoded: skip it "
        "(the report lists it), or refuse the whole zip.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seeds the train/test split.")
    source: Literal["zip", "webcam"] = Field("zip", description="Where the images came from.")

    def options(self) -> DatasetOptions:
        return DatasetOptions(image_size=self.image_size, color=self.color, fit=self.fit,
                              test_fraction=self.test_fraction, on_bad_file=self.on_bad_file,
                              seed=self.seed)


class SplitCounts(BaseModel):
    train: int
    test: int


class SkippedFile(BaseModel):
    file: str
    reason: str


class IngestReport(BaseModel):
    files: int = Field(description="Members read as images of a class (or skipped as not).")
    images: int = Field(description="Images in the dataset.")
    skipped: list[SkippedFile] = Field(description="Members left out, and why.")
    ignored: int = Field(description="Folders and system files (.DS_Store, __MACOSX/) passed over.")


class IngestProgress(BaseModel):
    phase: str = Field(description="queued, decoding, splitting, storing or ready.")
    done: int
    total: int


class DatasetSettingsOut(BaseModel):
    image_size: int
    color: Color
    fit: Fit
    test_fraction: float
    on_bad_file: OnBadFile
    seed: int
    source: Literal["zip", "webcam"]


class DatasetOut(BaseModel):
    id: str
    name: str
    builtin: bool
    status: Literal["processing", "ready"] = Field(
        description="processing: its images are being decoded; jobs may use it once ready.")
    classes: list[str]
    counts: dict[str, SplitCounts] | None = Field(
        description="Images per class in each split (uploaded datasets).")
    input_shape: list[int]
    train_size: int
    test_size: int
    description: str
    yours: bool = Field(False, description="Whether the owner token sent created it.")
    created: UtcDatetime | None = None
    settings: DatasetSettingsOut | None = None
    report: IngestReport | None = None
    progress: IngestProgress | None = None

    @classmethod
    def of_info(cls, info: DatasetInfo) -> DatasetOut:
        return cls(id=info.id, name=info.label, builtin=True, status="ready",
                   classes=list(info.class_names), counts=None,
                   input_shape=list(info.input_shape), train_size=info.train_size,
                   test_size=info.test_size, description=info.description)

    @classmethod
    def of_row(cls, row: DatasetRow, token: str | None) -> DatasetOut:
        status: DatasetStatus = "ready" if row.status == "ready" else "processing"
        info = info_of(row)
        ready = status == "ready"
        return cls(
            id=row.id, name=row.name, builtin=False, status=status,
            classes=list(row.class_names),
            counts={c: SplitCounts(train=a, test=b) for c, a, b in
                    zip(row.class_names, row.train_counts, row.test_counts, strict=True)}
            if ready else None,
            input_shape=list(info.input_shape), train_size=info.train_size if ready else 0,
            test_size=info.test_size if ready else 0, description=info.description,
            yours=ownership.may_change(row.owner, token, None), created=row.created,
            settings=DatasetSettingsOut(image_size=row.image_size, color=row.color,
                                        fit=row.fit, test_fraction=row.test_fraction,
                                        on_bad_file=row.on_bad_file, seed=row.seed,
                                        source=row.source),
            report=IngestReport.model_validate(row.report) if ready else None,
            progress=IngestProgress.model_validate(row.progress),
        )


def jobs_waiting(jobs: JobStore, dataset_id: str) -> int:
    return sum(j.status in ("queued", "running") for j in jobs.list_jobs(dataset=dataset_id))


def dataset_out(uploads: DatasetUploads, dataset_id: str, token: str | None,
                field: str = "path.dataset_id") -> DatasetOut:
    info = DATASETS.get(dataset_id)
    if info is not None:
        return DatasetOut.of_info(info)
    return DatasetOut.of_row(uploads.store.get(dataset_id, field), token)


@router.post("/api/datasets", status_code=201, response_model=DatasetOut,
             dependencies=[Depends(files_are_files)],
             responses={**FORM_ERRORS, **responses(
                 e413="The zip is over CNNPG_MAX_DATASET_ZIP_BYTES, or its files expand past "
                 "CNNPG_MAX_DATASET_EXPANDED_BYTES",
                 e422="The zip cannot become a dataset (the message says why and names the "
                 "files): not a zip, unsafe paths, symlinks, nested archives, one class, too "
                 "many classes or images, a class too small to split, unreadable images with "
                 "on_bad_file=refuse, …")})
async def create_dataset(form: Annotated[DatasetForm, Form()],
                         file: Annotated[UploadFile, File(description=(
                             "A .zip of class folders: cats/001.jpg, dogs/001.jpg, … (PNG, "
                             "JPEG, WebP or GIF)"))],
                         uploads: DatasetUploadsDep, token: TokenDep) -> Response:
    """Make a dataset from a zip of class folders: every image is decoded, fitted (cropped or
    padded) and resized, and each class split into train and test (seeded, stratified). The
    answer comes once the dataset is ready (or refused); the response carries the owner token
    (`X-Owner-Token` header and an HttpOnly cookie) that may delete it."""
    token, _ = token_or_new(token)
    row = await run_in_threadpool(uploads.receive, file.file, name=form.name.strip(),
                                  options=form.options(), owner=ownership.owner_hash(token),
                                  origin=form.source)
    row = await run_in_threadpool(uploads.result, row.id)
    body = DatasetOut.of_row(row, token)
    return give_token(JSONResponse(body.model_dump(mode="json"), status_code=201), token)


@router.get("/api/datasets", response_model=list[DatasetOut])
def list_datasets(uploads: DatasetUploadsDep, token: TokenDep) -> list[DatasetOut]:
    """The built-in datasets, then the uploaded ones (newest first; those still being
    processed too). A job's `dataset` takes any of their ids once ready."""
    uploads.tidy()
    rows = uploads.store.rows(("ready", "processing"))
    return [*(DatasetOut.of_info(i) for i in BUILTIN), *(DatasetOut.of_row(r, token) for r in rows)]


@router.get("/api/datasets/{dataset_id}", response_model=DatasetOut, responses=NOT_FOUND)
def get_dataset(dataset_id: DatasetPath, uploads: DatasetUploadsDep,
                token: TokenDep) -> DatasetOut:
    return dataset_out(uploads, dataset_id, token)


@router.delete("/api/datasets/{dataset_id}", status_code=204,
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
