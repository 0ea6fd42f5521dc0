"""The job store: training jobs submitted, queued, run, cancelled and finished.

Statuses: queued → running → succeeded | failed | cancelled (queued → cancelled too).
Everything a page or a worker needs lives in the jobs table, so a web server and workers
on different machines see the same jobs. A worker claims queued jobs in the fair order
(`claim_next`), trains many at once in turn, and stamps them all in one write (`beat_many`).
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.classroom import ownership
from app.classroom.quotas import Quotas, Standing
from app.config import Settings
from app.datasets.builtin import DatasetInfo
from app.datasets.catalog import DatasetCatalog
from app.datasets.store import DATASET_ID_PATTERN
from app.errors import Conflict, InvalidInput, LimitExceeded, NotFound, QueueFull
from app.networks.architecture import ArchitectureSpec, Summary, check
from app.networks.presets import PresetName, get_preset
from app.storage.database import Database
from app.storage.tables import ClassRow, JobRow, LearnerRow, WorkerRow, utcnow
from app.training.queueing import QueueSpot, queue_spots, taking_order, with_spots

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


def model_bytes(params: int) -> int:
    """About what a trained model takes stored: its weights and up to two optimizer slots
    per weight, and the archive around them."""
    return params * 4 * 3 + 64 * 1024


def is_yours(row: JobRow, token: str | None) -> bool:
    """Whether this token owns the job (the administrator's token does not make it yours)."""
    return ownership.may_change(row.owner, token, None)


class JobStore:
    """The jobs table, for the web server (submit, list, cancel) and workers (claim, beat,
    finish), with the settings' limits."""

    def __init__(self, database: Database, settings: Settings, datasets: DatasetCatalog,
                 quotas: Quotas | None = None) -> None:
        self.database = database
        self.settings = settings
        self.datasets = datasets
        self.quotas = quotas or Quotas(database, settings)
        self._submitting = threading.Lock()

    def create(self, req: JobRequest, token: str | None = None) -> JobRow:
        """Record a validated job as queued for the owner of `token`, refusing it over a
        quota (a visitor's, the queue's, the storage its model needs)."""
        return self.create_many([req], token)[0]

    def create_many(self, reqs: list[JobRequest], token: str | None = None,
                    sweep_id: str | None = None) -> list[JobRow]:
        """Several jobs of one owner (a sweep's grid, `sweep_id`), all or none: ordinary
        jobs, which the workers share fairly with everyone else's as one owner's. Against
        the limit per client a sweep counts as one submission, however many runs it has."""
        checked = [validate_request(req, self.settings, self.datasets) for req in reqs]
        who = self.quotas.standing(token)
        with self._submitting:  # checks and inserts in one go: 60 requests at once see 60
            self.quotas.require_job_room(who, len(reqs))
            self.quotas.require_storage(who, sum(model_bytes(summary.total_params)
                                                 for _, summary in checked),
                                        "the model this job trains" if len(reqs) == 1
                                        else f"the models these {len(reqs)} jobs train",
                                        "training")
            with self.database.begin() as s:
                self._require_queue_room(s, who, len(reqs), sweep=sweep_id is not None)
                # A class's learner: the job (and its model) carry their nickname and class.
                learner = None if who.owner is None else s.scalars(
                    select(LearnerRow).where(LearnerRow.owner == who.owner)).first()
                rows = [JobRow(
                    id=secrets.token_hex(6), name=req.name or spec.name, status="queued",
                    owner=who.owner, architecture=spec.model_dump(mode="json", exclude_none=True),
                    dataset=req.dataset, training=with_seed(req.training), progress={},
                    created=utcnow(), cancel_requested=False,
                    nickname=learner.nickname if learner else None,
                    class_code=learner.class_code if learner else None, visitor=who.visitor,
                    sweep_id=sweep_id,
                ) for req, (spec, _) in zip(reqs, checked, strict=True)]
                s.add_all(rows)
        return rows

    def _require_queue_room(self, s: Session, who: Standing, n: int, sweep: bool = False
                            ) -> None:
        """The per-client and total limits on waiting jobs. Members' jobs count only members'
        against the total, so visitors never fill the queue for a class. Per client, a
        sweep's waiting runs count as one (`sweep`: these `n` jobs are one)."""
        settings = self.settings
        waiting = select(func.count()).select_from(JobRow).where(JobRow.status == "queued")
        if who.owner is not None:
            mine = s.scalar(select(func.count(func.distinct(func.coalesce(JobRow.sweep_id, JobRow.id))))
                            .where(JobRow.status == "queued", JobRow.owner == who.owner)) or 0
            more = 1 if sweep else n
            if mine + more > settings.max_queued_per_owner:
                raise QueueFull("queue", f"you already have {mine} jobs waiting (a sweep counts "
                                f"as one); the limit per client is {settings.max_queued_per_owner} "
                                "(CNNPG_MAX_QUEUED_PER_OWNER)"
                                + (f", and these are {n} more" if more > 1 else ""))
        counted = waiting if who.visitor else waiting.where(JobRow.visitor.is_(False))
        queued = s.scalar(counted) or 0
        if queued + n > settings.max_queued_jobs:
            raise QueueFull("queue", f"the queue is full: {queued} jobs are waiting, the "
                            f"limit is {settings.max_queued_jobs} (CNNPG_MAX_QUEUED_JOBS); "
                            "try again when one has finished")

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
            seen = utcnow() - dt.timedelta(seconds=self.settings.heartbeat_timeout)
            places = s.scalar(select(func.sum(WorkerRow.slots)).where(WorkerRow.seen >= seen))
        return queue_spots(rows, int(places) if places else None)

    def with_spots(self, read: Callable[[], Sequence[JobRow]]
                   ) -> tuple[list[JobRow], dict[str, QueueSpot]]:
        """Rows from `read` and the queued ones' places, as of one moment (queueing.with_spots)."""
        return with_spots(read, self.queue)

    def get_with_spot(self, job_id: str, field: str = "job_id") -> tuple[JobRow, QueueSpot | None]:
        """The job and, while it is queued, its place, as of one moment."""
        (row,), spots = self.with_spots(lambda: [self.get(job_id, field)])
        return row, spots.get(row.id)

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

    def claim_next(self, worker: str) -> JobRow | None:
        """The next queued job in the fair order (app/training/fairshare.py), now running
        for this worker; None when none is waiting."""
        with self.database.session() as s:
            rows = list(s.scalars(select(JobRow).where(JobRow.status.in_(("queued", "running")))))
        queued = [r for r in rows if r.status == "queued"]
        for row in taking_order(queued, [r for r in rows if r.status == "running"]):
            claimed = self.claim(row.id, worker)
            if claimed is not None:
                return claimed
        return None

    def beat_many(self, job_ids: list[str]) -> set[str]:
        """Stamp these running jobs' heartbeats; the ones whose cancel was asked for."""
        if not job_ids:
            return set()
        with self.database.begin() as s:
            s.execute(update(JobRow).where(JobRow.id.in_(job_ids), JobRow.status == "running")
                      .values(heartbeat=utcnow()))
            return set(s.scalars(select(JobRow.id).where(
                JobRow.id.in_(job_ids), JobRow.cancel_requested.is_(True))))

    def write_progress(self, progress: dict[str, dict[str, Any]]) -> None:
        """Several running jobs' progress, in one transaction."""
        if not progress:
            return
        with self.database.begin() as s:
            for job_id, value in progress.items():
                s.execute(update(JobRow).where(JobRow.id == job_id, JobRow.status == "running")
                          .values(progress=value))

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
