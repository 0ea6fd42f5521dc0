"""The job store: training jobs submitted, queued, run, cancelled and finished.

Statuses: queued → running → succeeded | failed | cancelled (queued → cancelled too).
Everything a page or a worker needs lives in the jobs table, so a web server and workers
on different machines see the same jobs.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag
from sqlalchemy import func, select, update

from app.classroom import ownership
from app.config import Settings
from app.datasets.builtin import DatasetInfo
from app.datasets.catalog import DatasetCatalog
from app.datasets.store import DATASET_ID_PATTERN
from app.errors import Conflict, InvalidInput, LimitExceeded, NotFound, QueueFull
from app.networks.architecture import ArchitectureSpec, Summary, check
from app.networks.presets import PresetName, get_preset
from app.storage.database import Database
from app.storage.tables import ClassRow, JobRow, LearnerRow, utcnow

FINISHED = ("succeeded", "failed", "cancelled")
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
JOB_ID_PATTERN = r"^[0-9a-f]{12}$"
# The largest values any server accepts; CNNPG_MAX_EPOCHS and CNNPG_MAX_TRAIN_SAMPLES
# may set lower ones.
EPOCHS_CEILING = 50
SAMPLES_CEILING = 60_000
SEED_CEILING = 2**32 - 1  # NumPy's seeds are 32-bit


def _spec_or_preset(value: Any) -> str:
    return "a preset name" if isinstance(value, str) else "an architecture spec"


class TrainingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    optimizer: Literal["adam", "sgd", "rmsprop", "adamw", "nadam", "adagrad"] = "adam"
    learning_rate: float = Field(0.001, gt=0, le=1, strict=True)
    batch_size: int = Field(32, ge=1, le=4096, strict=True)
    epochs: int = Field(1, ge=1, le=EPOCHS_CEILING, strict=True)
    validation_split: float = Field(0.0, ge=0, le=0.5, strict=True)
    train_samples: Annotated[int, Field(ge=10, le=SAMPLES_CEILING, strict=True)] | None = Field(
        None, description="Use only the first N images (null: all of them).")
    seed: Annotated[int, Field(ge=0, le=SEED_CEILING, strict=True)] | None = Field(
        None, description="Seeds every random choice (initial weights, shuffling, dropout): "
        "the same seed, settings and data give the same test accuracy on the same machine. "
        "Null: a random seed is chosen, and recorded on the job.")


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    architecture: Annotated[
        Annotated[ArchitectureSpec, Tag("an architecture spec")]
        | Annotated[PresetName, Tag("a preset name")],
        Discriminator(_spec_or_preset)] = Field(
        description="An architecture spec, or a preset name from GET /api/presets.")
    dataset: str = Field(pattern=DATASET_ID_PATTERN, max_length=32, description=(
        'A dataset id from GET /api/datasets: "mnist", "fashion_mnist", "cifar10" or an '
        "uploaded dataset's."))
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    name: Annotated[str, Field(max_length=64)] | None = Field(
        None, description="Shown in the job list (null: the architecture's name).")


class JobNotFound(NotFound):
    def __init__(self, job_id: str, field: str = "job_id") -> None:
        super().__init__(field, f"no job with id {job_id!r}")


class JobFinished(Conflict):
    """Cancelling what has already finished."""


def resolve_architecture(value: ArchitectureSpec | str) -> ArchitectureSpec:
    if isinstance(value, ArchitectureSpec):
        return value
    preset = get_preset(str(value))
    if preset is None:
        raise InvalidInput("architecture", f"unknown preset {value!r}; see GET /api/presets")
    return ArchitectureSpec.model_validate(preset.architecture)


def check_fits_dataset(spec: ArchitectureSpec, summary: Summary, dataset: DatasetInfo) -> None:
    """The model's input and output must match the dataset's images and classes."""
    want = dataset.input_shape
    if tuple(spec.input_shape) != want:
        raise InvalidInput(
            "architecture.input_shape",
            f"{list(spec.input_shape)} does not fit {dataset.id}, whose images are {list(want)}",
        )
    n = dataset.num_classes
    last = summary.layers[-1].output_shape
    if last != (None, n):
        raise InvalidInput(
            f"architecture.layers.{len(summary.layers) - 1}",
            f"the last layer outputs {list(last[1:])}; {dataset.id} needs {n} values, one per "
            f"class: end with Dense(units={n}, activation='softmax')",
        )


def validate_request(req: JobRequest, settings: Settings, datasets: DatasetCatalog
                     ) -> tuple[ArchitectureSpec, Summary]:
    spec = resolve_architecture(req.architecture)
    summary = check(spec, settings.max_layers, settings.max_params)
    dataset = datasets.get(req.dataset)
    check_fits_dataset(spec, summary, dataset)
    t = req.training
    if t.epochs > settings.max_epochs:
        raise LimitExceeded("training.epochs", f"{t.epochs} is over the limit of {settings.max_epochs}"
                            " (CNNPG_MAX_EPOCHS)")
    samples = t.train_samples or dataset.train_size
    if samples > settings.max_train_samples:
        raise LimitExceeded("training.train_samples", f"{samples} is over the limit of "
                            f"{settings.max_train_samples} (CNNPG_MAX_TRAIN_SAMPLES)")
    return spec, summary


def with_seed(training: TrainingSettings) -> dict[str, Any]:
    """The settings to record, with a seed: the one given, or a random one."""
    settings = training.model_dump()
    if settings.get("seed") is None:
        settings["seed"] = secrets.randbelow(2**31)
    return settings


@dataclass(frozen=True)
class QueueSpot:
    position: int  # 1: the next job a worker takes
    start_in_seconds: float | None  # estimated; None when nothing is training to tell


def queue_spots(rows: list[JobRow]) -> dict[str, QueueSpot]:
    """Where each queued job is in the queue (first in, first out), and roughly when it will
    start: the running jobs' time left and the queued jobs' ahead of it (their images at the
    running jobs' speed), shared among as many workers as are training now."""
    running = [r for r in rows if r.status == "running"]
    queued = sorted((r for r in rows if r.status == "queued"), key=lambda r: (r.created, r.id))
    etas = [(r.progress or {}).get("eta_seconds") for r in running]
    speeds = [v for r in running if (v := (r.progress or {}).get("images_per_second"))]
    known = bool(running) and all(e is not None for e in etas) and bool(speeds)
    speed = sum(speeds) / len(speeds) if speeds else 0.0
    workers = max(1, len(running))
    work = float(sum(e for e in etas if e is not None))
    spots: dict[str, QueueSpot] = {}
    for i, row in enumerate(queued):
        spots[row.id] = QueueSpot(i + 1, round(work / workers, 1) if known else None)
        t = row.training or {}
        images = (t.get("train_samples") or 60_000) * (1 - (t.get("validation_split") or 0.0))
        work += images * (t.get("epochs") or 1) / speed if speed else 0.0
    return spots


def is_yours(row: JobRow, token: str | None) -> bool:
    """Whether this token owns the job (the administrator's token does not make it yours)."""
    return ownership.may_change(row.owner, token, None)


class JobStore:
    """The jobs table, for the web server (submit, list, cancel) and workers (claim, beat,
    finish), with the settings' limits."""

    def __init__(self, database: Database, settings: Settings, datasets: DatasetCatalog) -> None:
        self.database = database
        self.settings = settings
        self.datasets = datasets

    def create(self, req: JobRequest, owner: str | None = None) -> JobRow:
        """Record a validated job as queued, refusing when the queue is full."""
        settings = self.settings
        spec, _ = validate_request(req, settings, self.datasets)
        with self.database.begin() as s:
            queued = s.scalar(select(func.count()).select_from(JobRow)
                              .where(JobRow.status == "queued")) or 0
            if owner is not None:
                mine = s.scalar(select(func.count()).select_from(JobRow)
                                .where(JobRow.status == "queued", JobRow.owner == owner)) or 0
                if mine >= settings.max_queued_per_owner:
                    raise QueueFull("queue", f"you already have {mine} jobs waiting; the limit "
                                    f"per client is {settings.max_queued_per_owner} "
                                    "(CNNPG_MAX_QUEUED_PER_OWNER)")
            if queued >= settings.max_queued_jobs:
                raise QueueFull("queue", f"the queue is full: {queued} jobs are waiting, the "
                                f"limit is {settings.max_queued_jobs} (CNNPG_MAX_QUEUED_JOBS); "
                                "try again when one has finished")
            # A class's learner: the job (and its model) carry their nickname and class.
            learner = None if owner is None else s.scalars(
                select(LearnerRow).where(LearnerRow.owner == owner)).first()
            row = JobRow(
                id=secrets.token_hex(6), name=req.name or spec.name, status="queued",
                owner=owner, architecture=spec.model_dump(mode="json", exclude_none=True),
                dataset=req.dataset, training=with_seed(req.training), progress={},
                created=utcnow(), cancel_requested=False,
                nickname=learner.nickname if learner else None,
                class_code=learner.class_code if learner else None,
            )
            s.add(row)
        return row

    def get(self, job_id: str, field: str = "job_id") -> JobRow:
        with self.database.session() as s:
            row = s.get(JobRow, job_id)
            if row is None:
                raise JobNotFound(job_id, field)
            return row

    def list_jobs(self, limit: int = 200, dataset: str | None = None) -> list[JobRow]:
        """The newest jobs (those on one dataset, when given)."""
        q = select(JobRow).order_by(JobRow.created.desc()).limit(limit)
        if dataset is not None:
            q = q.where(JobRow.dataset == dataset)
        with self.database.session() as s:
            return list(s.scalars(q))

    def get_many(self, job_ids: list[str], field: str = "jobs") -> list[JobRow]:
        """These jobs, in this order (NotFound naming `field` for the first unknown one)."""
        with self.database.session() as s:
            found = {r.id: r for r in s.scalars(select(JobRow).where(JobRow.id.in_(job_ids)))}
        for job_id in job_ids:
            if job_id not in found:
                raise JobNotFound(job_id, field)
        return [found[j] for j in job_ids]

    def queue(self) -> dict[str, QueueSpot]:
        """Every queued job's place in the queue and estimated start."""
        with self.database.session() as s:
            rows = list(s.scalars(select(JobRow).where(JobRow.status.in_(("queued", "running")))))
        return queue_spots(rows)

    def request_cancel(self, job_id: str, token: str | None, field: str = "job_id") -> JobRow:
        """A queued job is cancelled at once; a running one is stopped by its worker.
        Only the job's owner token, the teacher token of its class, or the administrator's,
        may cancel it."""
        with self.database.begin() as s:
            row = s.get(JobRow, job_id, with_for_update=True)
            if row is None:
                raise JobNotFound(job_id, field)
            klass = s.get(ClassRow, row.class_code) if row.class_code else None
            if not (klass is not None and ownership.may_change(klass.teacher, token, None)):
                ownership.require(row.owner, token, self.settings.admin_token, f"job {job_id}")
            if row.status in FINISHED:
                raise JobFinished(f"job {job_id} has already {row.status}")
            row.cancel_requested = True
            if row.status == "queued":
                row.status, row.finished = "cancelled", utcnow()
                row.error = "cancelled before it started"
        return self.get(job_id)

    # ------------------------------------------------------------ worker side

    def claim(self, job_id: str, worker: str) -> JobRow | None:
        """queued → running for this worker; None if it was cancelled or taken meanwhile."""
        with self.database.begin() as s:
            now = utcnow()
            n = s.execute(update(JobRow).where(JobRow.id == job_id, JobRow.status == "queued")
                          .values(status="running", worker=worker, started=now,
                                  heartbeat=now)).rowcount
        return self.get(job_id) if n else None

    def beat(self, job_id: str, progress: dict[str, Any] | None = None) -> bool:
        """Stamp a running job's heartbeat (and its progress, when given); True when
        cancellation has been asked for."""
        values: dict[str, Any] = {"heartbeat": utcnow()}
        if progress is not None:
            values["progress"] = progress
        with self.database.begin() as s:
            s.execute(update(JobRow).where(JobRow.id == job_id, JobRow.status == "running")
                      .values(**values))
            return bool(s.scalar(select(JobRow.cancel_requested).where(JobRow.id == job_id)))

    def finish(self, job_id: str, status: JobStatus, *, result: dict[str, Any] | None = None,
               error: str | None = None) -> None:
        with self.database.begin() as s:
            s.execute(update(JobRow).where(JobRow.id == job_id, JobRow.status == "running")
                      .values(status=status, result=result, error=error, finished=utcnow()))

    def fail_running(self, reason: str, *, worker: str | None = None,
                     older_than: dt.timedelta | None = None) -> int:
        """Mark running jobs failed: those of a dead worker, or whose heartbeat stopped."""
        conditions = [JobRow.status == "running"]
        if worker is not None:
            conditions.append(JobRow.worker == worker)
        if older_than is not None:
            conditions.append(JobRow.heartbeat < utcnow() - older_than)
        with self.database.begin() as s:
            result = s.execute(update(JobRow).where(*conditions)
                               .values(status="failed", error=reason, finished=utcnow()))
            return int(result.rowcount)
