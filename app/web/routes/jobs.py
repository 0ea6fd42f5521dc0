"""Training jobs over HTTP (JSON): submit, list, read, cancel; a job's timelapse; jobs
compared."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from app.classroom import ownership
from app.config import Settings
from app.datasets.catalog import DatasetCatalog
from app.errors import InvalidInput, NotFound
from app.networks.architecture import ArchitectureSpec, check
from app.storage.tables import JobRow
from app.training import comparison, trainer
from app.training.jobs import (
    EPOCHS_CEILING,
    JOB_ID_PATTERN,
    JobRequest,
    JobStatus,
    JobStore,
    QueueSpot,
    is_yours,
)
from app.web.dependencies import DatasetsDep, JobsDep, QueueDep, SettingsDep, TimelapsesDep, TokenDep
from app.web.schemas import BODY_ERRORS, responses
from app.web.tokens import give_token, token_or_new

router = APIRouter(tags=["jobs"])
JobPath = Annotated[str, Path(pattern=JOB_ID_PATTERN, description="A job id from GET /api/jobs.")]
COMPARE_PATTERN = r"^[0-9a-f]{12}(,[0-9a-f]{12})*$"


def as_utc(when: dt.datetime) -> dt.datetime:
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when


UtcDatetime = Annotated[dt.datetime, AfterValidator(as_utc)]


class Misclassified(BaseModel):
    index: int
    true: int
    predicted: int
    true_name: str
    predicted_name: str
    image: str | None = Field(None, description="The test image, as a PNG data URL.")


class JobResult(BaseModel):
    test_loss: float
    test_accuracy: float
    model_id: str
    confusion_matrix: list[list[int]]
    misclassified: list[Misclassified] = []
    train_seconds: float | None = None
    per_class_accuracy: list[float | None] | None = Field(
        None, description="Each class's test accuracy, in the dataset's class order.")

    @model_validator(mode="after")
    def _per_class(self) -> JobResult:
        if self.per_class_accuracy is None and self.confusion_matrix:
            self.per_class_accuracy = trainer.per_class_accuracy(self.confusion_matrix)
        return self


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    status: JobStatus
    dataset: str
    architecture: dict[str, Any]
    training: dict[str, Any]
    progress: dict[str, Any] = Field(description="epoch, batch, phase and the metric history.")
    result: JobResult | None
    error: str | None
    worker: str | None
    yours: bool = Field(False, description="Whether the owner token sent created this job.")
    queue_position: int | None = Field(
        None, description="While queued: its place in the queue (1: the next job to start).")
    start_in_seconds: float | None = Field(
        None, description="While queued: about how long until it starts, from the running "
        "jobs' time left and the queued jobs' size (null when nothing is training to tell).")
    nickname: str | None = Field(None, description="Your nickname in a class, on your own "
                                 "jobs only: nobody else sees it here.")
    created: UtcDatetime
    started: UtcDatetime | None
    finished: UtcDatetime | None

    @classmethod
    def of(cls, row: JobRow, token: str | None, spot: QueueSpot | None = None) -> JobOut:
        out = cls.model_validate(row)
        out.yours = is_yours(row, token)
        if spot is not None and row.status == "queued":
            out.queue_position, out.start_in_seconds = spot.position, spot.start_in_seconds
        if not out.yours:
            out.nickname = None
        return out

    @classmethod
    def one(cls, row: JobRow, token: str | None, jobs: JobStore) -> JobOut:
        return cls.of(row, token, jobs.queue().get(row.id) if row.status == "queued" else None)


class JobCreated(BaseModel):
    id: str
    status: JobStatus


NOT_FOUND = responses(e404="No such job")


@router.post("/api/jobs", status_code=202, response_model=JobCreated,
             responses={**BODY_ERRORS, **responses(
                 e422="A bad setting, an impossible model, or over a limit",
                 e429="The queue is full, in all or for this client")})
def create_job(req: JobRequest, jobs: JobsDep, queue: QueueDep, token: TokenDep) -> Response:
    """Queue a training job; a worker process trains it. The response carries the owner
    token (`X-Owner-Token` header and an HttpOnly cookie): send it back to cancel the job
    or delete its model."""
    token, _ = token_or_new(token)
    row = jobs.create(req, ownership.owner_hash(token))
    queue.enqueue(row.id)
    body = JobCreated.model_validate({"id": row.id, "status": row.status})
    return give_token(JSONResponse(body.model_dump(), status_code=202), token)


@router.get("/api/jobs", response_model=list[JobOut])
def list_jobs(jobs: JobsDep, token: TokenDep) -> list[JobOut]:
    """Every job, newest first, with status, progress and result."""
    rows = jobs.list_jobs()
    spots = jobs.queue() if any(r.status == "queued" for r in rows) else {}
    return [JobOut.of(r, token, spots.get(r.id)) for r in rows]


@router.get("/api/jobs/{job_id}", response_model=JobOut, responses=NOT_FOUND)
def get_job(job_id: JobPath, jobs: JobsDep, token: TokenDep) -> JobOut:
    """The job: status, progress (live per-step curves, speed, time left), result; while
    queued, its place in the queue and estimated start."""
    return JobOut.one(jobs.get(job_id, "path.job_id"), token, jobs)


@router.post("/api/jobs/{job_id}/cancel", response_model=JobOut,
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


class ProbeOut(BaseModel):
    index: int = Field(description="The probe's index in the dataset's test split.")
    label: int | None
    image: str = Field(description="The probe image, as a PNG data URL.")


class FrameOut(BaseModel):
    epoch: int = Field(description="0: before training; n: after epoch n.")
    kernels: list[str] = Field(description="The first Conv2D layer's kernels, PNG data URLs.")
    maps: list[str] = Field(description="That layer's feature maps of the probe, PNG data URLs.")
    val_accuracy: float | None
    kernel_shape: list[int] = Field(description="[k_h, k_w, c_in, filters] (at most 64 kept).")
    map_shape: list[int] = Field(description="[height, width, channels].")


class TimelapseOut(BaseModel):
    probe: ProbeOut | None = Field(description="The fixed test image whose maps are shown "
                                   "(null until the first frame).")
    frames: list[FrameOut]
    epochs: int = Field(description="The epochs the job trains: frames go up to this one.")


@router.get("/api/jobs/{job_id}/timelapse", response_model=TimelapseOut,
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


class DifferenceOut(BaseModel):
    field: str = Field(description="A dotted name: dataset, training.learning_rate, "
                       "architecture.layers.2.filters, …")
    values: list[Any] = Field(description="Its value in each job, in the order asked for "
                              "(null where a job lacks it, say a layer a shorter model has not).")


class CompareSummary(BaseModel):
    id: str
    total_params: int | None
    class_names: list[str]


class CompareOut(BaseModel):
    jobs: list[JobOut]
    differences: list[DifferenceOut]
    summaries: list[CompareSummary] = Field(description="Each job's parameter count and "
                                            "class names, in the same order.")


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
    rows = jobs.get_many(ids, "query.jobs")
    spots = jobs.queue() if any(r.status == "queued" for r in rows) else {}

    return CompareOut(
        jobs=[JobOut.of(r, token, spots.get(r.id)) for r in rows],
        differences=[DifferenceOut(field=d.field, values=d.values)
                     for d in comparison.differences(rows)],
        summaries=[CompareSummary(id=r.id, total_params=total_params(r),
                                  class_names=class_names(r, datasets)) for r in rows])


@router.get("/api/compare", response_model=CompareOut, responses=responses(
    e404="A job that does not exist", e422="Fewer than two jobs, too many, or not job ids"))
def compare(jobs: JobsDep, settings: SettingsDep, datasets: DatasetsDep, token: TokenDep,
            job_ids: Annotated[str, Query(
                alias="jobs", pattern=COMPARE_PATTERN, max_length=13 * 64,
                description="Job ids separated by commas: at least 2, at most "
                "CNNPG_MAX_COMPARE_JOBS (8).")]) -> CompareOut:
    """Jobs side by side, and exactly the settings that differ between them (dataset,
    training settings, seed, each layer's arguments with Keras' defaults filled in)."""
    return compare_jobs(job_ids, jobs, settings, datasets, token)
