"""The job store: training jobs submitted, queued, run, cancelled and finished.

Statuses: queued → running → succeeded | failed | cancelled (queued → cancelled too).
Everything a page or a worker needs lives in the jobs table, so a web server and workers
on different machines see the same jobs.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select, update

from app import ownership
from app.architecture import ArchitectureSpec, Summary, check
from app.config import Settings
from app.datasets import CLASS_NAMES, INPUT_SHAPES
from app.db import JobRow, sessions, utcnow
from app.errors import InvalidInput, LimitExceeded
from app.presets import get_preset

FINISHED = ("succeeded", "failed", "cancelled")
DATASET_SIZES = {"mnist": 60_000, "fashion_mnist": 60_000, "cifar10": 50_000}


class TrainingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    optimizer: Literal["adam", "sgd", "rmsprop", "adamw", "nadam", "adagrad"] = "adam"
    learning_rate: float = Field(0.001, gt=0, le=1)
    batch_size: int = Field(32, ge=1, le=4096)
    epochs: int = Field(1, ge=1)
    validation_split: float = Field(0.0, ge=0, le=0.5)
    train_samples: int | None = Field(None, ge=10, description="Use only the first N images.")


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    architecture: ArchitectureSpec | str = Field(
        description="An architecture spec, or a preset name from GET /api/presets.")
    dataset: Literal["mnist", "fashion_mnist", "cifar10"]
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    name: str | None = Field(None, max_length=64, description="Shown in the job list.")


class JobNotFound(LookupError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job with id {job_id!r}")


class JobFinished(ValueError):
    """Cancelling what has already finished."""


def resolve_architecture(value: ArchitectureSpec | str) -> ArchitectureSpec:
    if isinstance(value, ArchitectureSpec):
        return value
    preset = get_preset(value)
    if preset is None:
        raise InvalidInput("architecture", f"unknown preset {value!r}; see GET /api/presets")
    return ArchitectureSpec.model_validate(preset.architecture)


def check_fits_dataset(spec: ArchitectureSpec, summary: Summary, dataset: str) -> None:
    """The model's input and output must match the dataset's images and classes."""
    want = INPUT_SHAPES[dataset]
    if tuple(spec.input_shape) != want:
        raise InvalidInput(
            "architecture.input_shape",
            f"{list(spec.input_shape)} does not fit {dataset}, whose images are {list(want)}",
        )
    n = len(CLASS_NAMES[dataset])
    last = summary.layers[-1].output_shape
    if last != (None, n):
        raise InvalidInput(
            f"architecture.layers.{len(summary.layers) - 1}",
            f"the last layer outputs {list(last[1:])}; {dataset} needs {n} values, one per "
            f"class: end with Dense(units={n}, activation='softmax')",
        )


def validate_request(req: JobRequest, settings: Settings) -> tuple[ArchitectureSpec, Summary]:
    spec = resolve_architecture(req.architecture)
    summary = check(spec, settings.max_layers, settings.max_params)
    check_fits_dataset(spec, summary, req.dataset)
    t = req.training
    if t.epochs > settings.max_epochs:
        raise LimitExceeded("training.epochs", f"{t.epochs} is over the limit of {settings.max_epochs}"
                            " (CNNPG_MAX_EPOCHS)")
    samples = t.train_samples or DATASET_SIZES[req.dataset]
    if samples > settings.max_train_samples:
        raise LimitExceeded("training.train_samples", f"{samples} is over the limit of "
                            f"{settings.max_train_samples} (CNNPG_MAX_TRAIN_SAMPLES)")
    return spec, summary


def create(req: JobRequest, settings: Settings, owner: str | None = None) -> JobRow:
    """Record a validated job as queued, refusing (429) when the queue is full."""
    spec, _ = validate_request(req, settings)
    Session = sessions(settings)
    with Session.begin() as s:
        queued = s.scalar(select(func.count()).select_from(JobRow).where(JobRow.status == "queued"))
        if owner is not None:
            mine = s.scalar(select(func.count()).select_from(JobRow)
                            .where(JobRow.status == "queued", JobRow.owner == owner))
            if mine >= settings.max_queued_per_owner:
                raise LimitExceeded("queue", f"you already have {mine} jobs waiting; the limit per "
                                    f"client is {settings.max_queued_per_owner} "
                                    "(CNNPG_MAX_QUEUED_PER_OWNER)", 429)
        if queued >= settings.max_queued_jobs:
            raise LimitExceeded("queue", f"the queue is full: {queued} jobs are waiting, the "
                                f"limit is {settings.max_queued_jobs} (CNNPG_MAX_QUEUED_JOBS); "
                                "try again when one has finished", 429)
        row = JobRow(
            id=secrets.token_hex(6), name=req.name or spec.name, status="queued", owner=owner,
            architecture=spec.model_dump(mode="json", exclude_none=True), dataset=req.dataset,
            training=req.training.model_dump(), progress={}, created=utcnow(),
        )
        s.add(row)
    return row


def get(settings: Settings, job_id: str) -> JobRow:
    with sessions(settings)() as s:
        row = s.get(JobRow, job_id)
        if row is None:
            raise JobNotFound(job_id)
        return row


def list_jobs(settings: Settings, limit: int = 200) -> list[JobRow]:
    with sessions(settings)() as s:
        return list(s.scalars(select(JobRow).order_by(JobRow.created.desc()).limit(limit)))


def request_cancel(settings: Settings, job_id: str, token: str | None) -> JobRow:
    """A queued job is cancelled at once; a running one is stopped by its worker.
    Only the job's owner token, or the administrator's, may cancel it."""
    with sessions(settings).begin() as s:
        row = s.get(JobRow, job_id, with_for_update=True)
        if row is None:
            raise JobNotFound(job_id)
        ownership.require(row.owner, token, settings.admin_token, f"job {job_id}")
        if row.status in FINISHED:
            raise JobFinished(f"job {job_id} has already {row.status}")
        row.cancel_requested = True
        if row.status == "queued":
            row.status, row.finished = "cancelled", utcnow()
            row.error = "cancelled before it started"
    return get(settings, job_id)


# ---------------------------------------------------------------- worker side

def claim(settings: Settings, job_id: str, worker: str) -> JobRow | None:
    """queued → running for this worker; None if it was cancelled or taken meanwhile."""
    with sessions(settings).begin() as s:
        now = utcnow()
        n = s.execute(update(JobRow).where(JobRow.id == job_id, JobRow.status == "queued")
                      .values(status="running", worker=worker, started=now, heartbeat=now)).rowcount
    return get(settings, job_id) if n else None


def beat(settings: Settings, job_id: str, progress: dict[str, Any] | None = None) -> bool:
    """Stamp a running job's heartbeat (and its progress, when given); True when
    cancellation has been asked for."""
    values: dict[str, Any] = {"heartbeat": utcnow()}
    if progress is not None:
        values["progress"] = progress
    with sessions(settings).begin() as s:
        s.execute(update(JobRow).where(JobRow.id == job_id, JobRow.status == "running")
                  .values(**values))
        return bool(s.scalar(select(JobRow.cancel_requested).where(JobRow.id == job_id)))


def finish(settings: Settings, job_id: str, status: str, *, result: dict | None = None,
           error: str | None = None) -> None:
    with sessions(settings).begin() as s:
        s.execute(update(JobRow).where(JobRow.id == job_id, JobRow.status == "running")
                  .values(status=status, result=result, error=error, finished=utcnow()))


def fail_running(settings: Settings, reason: str, *, worker: str | None = None,
                 older_than: dt.timedelta | None = None) -> int:
    """Mark running jobs failed: those of a dead worker, or whose heartbeat stopped."""
    conditions = [JobRow.status == "running"]
    if worker is not None:
        conditions.append(JobRow.worker == worker)
    if older_than is not None:
        conditions.append(JobRow.heartbeat < utcnow() - older_than)
    with sessions(settings).begin() as s:
        return s.execute(update(JobRow).where(*conditions)
                         .values(status="failed", error=reason, finished=utcnow())).rowcount


def is_yours(row: JobRow, token: str | None) -> bool:
    """Whether this token owns the job (the administrator's token does not make it yours)."""
    return ownership.may_change(row.owner, token, None)


def public(row: JobRow, token: str | None = None) -> dict[str, Any]:
    return {
        "id": row.id, "name": row.name, "status": row.status, "dataset": row.dataset,
        "architecture": row.architecture, "training": row.training,
        "progress": row.progress or {}, "result": row.result, "error": row.error,
        "worker": row.worker,
        "yours": is_yours(row, token),
        "created": row.created.isoformat() + "Z" if row.created else None,
        "started": row.started.isoformat() + "Z" if row.started else None,
        "finished": row.finished.isoformat() + "Z" if row.finished else None,
    }
