"""Training jobs over HTTP (JSON): submit, list, read, cancel."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.classroom import ownership
from app.storage.tables import JobRow
from app.training.jobs import JOB_ID_PATTERN, JobRequest, JobStatus, is_yours
from app.web.dependencies import JobsDep, QueueDep, TokenDep
from app.web.schemas import BODY_ERRORS, responses
from app.web.tokens import give_token, token_or_new

router = APIRouter(tags=["jobs"])
JobPath = Annotated[str, Path(pattern=JOB_ID_PATTERN, description="A job id from GET /api/jobs.")]


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
    nickname: str | None = Field(None, description="Your nickname in a class, on your own "
                                 "jobs only: nobody else sees it here.")
    created: UtcDatetime
    started: UtcDatetime | None
    finished: UtcDatetime | None

    @classmethod
    def of(cls, row: JobRow, token: str | None) -> JobOut:
        out = cls.model_validate(row)
        out.yours = is_yours(row, token)
        if not out.yours:
            out.nickname = None
        return out


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
    return [JobOut.of(r, token) for r in jobs.list_jobs()]


@router.get("/api/jobs/{job_id}", response_model=JobOut, responses=NOT_FOUND)
def get_job(job_id: JobPath, jobs: JobsDep, token: TokenDep) -> JobOut:
    return JobOut.of(jobs.get(job_id, "path.job_id"), token)


@router.post("/api/jobs/{job_id}/cancel", response_model=JobOut,
             responses={**NOT_FOUND, **responses(e403="Not the job's owner",
                                                 e409="The job has already finished")})
def cancel_job(job_id: JobPath, jobs: JobsDep, token: TokenDep) -> JobOut:
    """Cancel a queued job at once, or stop a running one within two seconds (the job's
    owner token, or the administrator's)."""
    return JobOut.of(jobs.request_cancel(job_id, token, "path.job_id"), token)
