"""Hyperparameter sweeps: one model trained over a grid of settings, each run an ordinary job.

A sweep varies up to three settings, each a dotted path into the job request
(`training.learning_rate`, `layers.0.filters`), over a few values; its grid is their
cartesian product, planned and checked in app/training/sweep_plans.py. Every run is an
ordinary job of the sweep's owner (and class), checked exactly as `POST /api/jobs` checks
a job, with the same seed unless the seed itself is varied, so that only the varied
settings differ between runs. A sweep keeps its grid (which job has which values); its
progress and results are its jobs'. For the queue limit per client a sweep counts as one
submission (app/training/jobs.py): its runs share the workers fairly with everyone else's,
as one owner's jobs do.
"""

from __future__ import annotations

import contextlib
import secrets
import statistics
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from app.classroom import ownership
from app.classroom.classes import job_fraction
from app.config import Settings
from app.errors import Conflict, InvalidInput, NotFound
from app.networks.architecture import ArchitectureSpec
from app.storage.database import Database
from app.storage.tables import ClassRow, JobRow, SweepRow, utcnow
from app.training.jobs import FINISHED, JobFinished, JobStore
from app.training.sweep_plans import Plan, Setting, SweepRequest, describe, plan


class SweepNotFound(NotFound):
    def __init__(self, sweep_id: str, field: str = "sweep_id") -> None:
        super().__init__(field, f"no sweep with id {sweep_id!r}")


class SweepFinished(Conflict):
    """Cancelling a sweep none of whose runs is still queued or running."""



# ------------------------------------------------------------------ reading a sweep


@dataclass(frozen=True)
class Run:
    """One run of a sweep, as its job stands now."""

    job: JobRow
    values: tuple[Any, ...]

    @property
    def status(self) -> str:
        return self.job.status

    @property
    def result(self) -> dict[str, Any]:
        return (self.job.result or {}) if self.job.status == "succeeded" else {}

    @property
    def test_accuracy(self) -> float | None:
        return self.result.get("test_accuracy")

    @property
    def test_loss(self) -> float | None:
        return self.result.get("test_loss")

    @property
    def seed(self) -> int | None:
        return (self.job.training or {}).get("seed")

    @property
    def seconds(self) -> float | None:
        """Training time once trained, else how long it has run so far."""
        if self.result.get("train_seconds") is not None:
            return float(self.result["train_seconds"])
        if self.job.started is None:
            return None
        end = self.job.finished or utcnow()
        return max(0.0, (end - self.job.started).total_seconds())

    @property
    def fraction(self) -> float:
        return job_fraction(self.job)


@dataclass(frozen=True)
class ValueEffect:
    value: Any
    runs: int  # finished runs with this value
    mean: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Effect:
    """What one setting did to the test accuracy: per value, the mean and the spread over
    the other settings' values; `points` is the largest difference of the means, in
    percentage points (None until two of its values have a finished run)."""

    setting: Setting
    values: tuple[ValueEffect, ...]
    points: float | None


@dataclass(frozen=True)
class Sweep:
    """A sweep and its runs, in the grid's order."""

    row: SweepRow
    settings: tuple[Setting, ...]
    runs: tuple[Run, ...]

    @property
    def id(self) -> str:
        return self.row.id

    @property
    def finished(self) -> bool:
        return all(r.status in FINISHED for r in self.runs)

    @property
    def status(self) -> str:
        return "finished" if self.finished else "running"

    def count(self, *statuses: str) -> int:
        return sum(1 for r in self.runs if r.status in statuses)

    @property
    def best(self) -> Run | None:
        """The run with the highest test accuracy (the lower loss between equals)."""
        done = [r for r in self.runs if r.test_accuracy is not None]
        return max(done, key=lambda r: (r.test_accuracy, -(r.test_loss or 0.0)), default=None)

    def effects(self) -> list[Effect]:
        """Each varied setting's effect on the test accuracy, in the order they vary."""
        out = []
        for i, setting in enumerate(self.settings):
            values = []
            for value in setting.values:
                accs = [r.test_accuracy for r in self.runs
                        if r.values[i] == value and r.test_accuracy is not None]
                values.append(ValueEffect(value, len(accs), statistics.fmean(accs) if accs else None,
                                          min(accs, default=None), max(accs, default=None)))
            means = [v.mean for v in values if v.mean is not None]
            points = round((max(means) - min(means)) * 100, 2) if len(means) >= 2 else None
            out.append(Effect(setting, tuple(values), points))
        return out


def settings_of(row: SweepRow) -> tuple[Setting, ...]:
    spec = ArchitectureSpec.model_validate(row.architecture)
    out = []
    for item in row.vary:
        try:
            label, short = describe(item["path"], spec)
        except InvalidInput:  # a model an older release checked differently
            label = short = item["path"]
        values = tuple(item["values"])
        out.append(Setting(item["path"], values, label, short,
                           all(isinstance(v, str) for v in values)))
    return tuple(out)


# ------------------------------------------------------------------ timing


@dataclass(frozen=True)
class Estimate:
    """About how long a sweep's runs train, all of them, one after another on each worker."""

    seconds: float | None  # None: no job has trained on this dataset here to time it
    images_per_second: float | None
    jobs_timed: int  # the finished jobs the speed comes from
    same_model: bool  # timed on jobs of this very model


def run_images(training: dict[str, Any], train_size: int) -> float:
    """Images a run trains on, over all its epochs."""
    samples = training.get("train_samples") or train_size
    return samples * (1 - (training.get("validation_split") or 0.0)) * (training.get("epochs") or 1)


# ------------------------------------------------------------------ the store


class SweepStore:
    """Sweeps and their grids; their runs are the job store's jobs."""

    def __init__(self, database: Database, settings: Settings, jobs: JobStore) -> None:
        self.database = database
        self.settings = settings
        self.jobs = jobs

    def plan(self, req: SweepRequest) -> Plan:
        return plan(req, self.settings, self.jobs.datasets)

    def create(self, req: SweepRequest, token: str | None) -> tuple[SweepRow, list[JobRow]]:
        """Check the sweep, queue its runs as the owner's jobs (all or none: refused over
        the owner's or the server's queue limit) and record it."""
        checked = self.plan(req)
        sweep_id = secrets.token_hex(6)
        rows = self.jobs.create_many([job for _, job in checked.runs], token, sweep_id=sweep_id)
        first = rows[0]
        sweep = SweepRow(
            id=sweep_id, name=checked.name[:64], owner=first.owner, nickname=first.nickname,
            class_code=first.class_code, dataset=checked.dataset,
            architecture=checked.spec.model_dump(mode="json", exclude_none=True),
            training=checked.training,
            vary=[{"path": s.path, "values": list(s.values)} for s in checked.settings],
            runs=[{"job": row.id, "values": list(values)}
                  for row, (values, _) in zip(rows, checked.runs, strict=True)],
            created=utcnow())
        with self.database.begin() as s:
            s.add(sweep)
        return sweep, rows

    def row(self, sweep_id: str, field: str = "sweep_id") -> SweepRow:
        with self.database.session() as s:
            row = s.get(SweepRow, sweep_id)
        if row is None:
            raise SweepNotFound(sweep_id, field)
        return row

    def get(self, sweep_id: str, field: str = "sweep_id") -> Sweep:
        return self.read(self.row(sweep_id, field))

    def read(self, row: SweepRow) -> Sweep:
        ids = [r["job"] for r in row.runs]
        with self.database.session() as s:
            jobs = {j.id: j for j in s.scalars(select(JobRow).where(JobRow.id.in_(ids)))}
        runs = tuple(Run(jobs[r["job"]], tuple(r["values"])) for r in row.runs if r["job"] in jobs)
        return Sweep(row, settings_of(row), runs)

    def for_class(self, class_code: str) -> list[Sweep]:
        """A class's sweeps, newest first."""
        with self.database.session() as s:
            rows = list(s.scalars(select(SweepRow).where(SweepRow.class_code == class_code)
                                  .order_by(SweepRow.created.desc())))
        return [self.read(r) for r in rows]

    def may_cancel(self, row: SweepRow, token: str | None) -> bool:
        """The sweep's owner, its class's teacher, or the administrator."""
        if ownership.may_change(row.owner, token, self.settings.admin_token):
            return True
        if row.class_code is None:
            return False
        with self.database.session() as s:
            klass = s.get(ClassRow, row.class_code)
        return klass is not None and ownership.may_change(klass.teacher, token, None)

    def cancel(self, sweep_id: str, token: str | None, field: str = "sweep_id") -> Sweep:
        """Cancel the runs still queued (at once) or running (their worker stops them);
        the finished ones are kept."""
        row = self.row(sweep_id, field)
        if not self.may_cancel(row, token):
            ownership.require(row.owner, token, self.settings.admin_token, f"sweep {sweep_id}")
        sweep = self.read(row)
        left = [r.job.id for r in sweep.runs if r.status not in FINISHED]
        if not left:
            raise SweepFinished(f"sweep {sweep_id} has already finished: no run is queued or "
                                "running")
        for job_id in left:  # the same token may cancel each: the owner's, the teacher's
            with contextlib.suppress(JobFinished):  # it ended meanwhile: kept
                self.jobs.request_cancel(job_id, token)
        return self.read(row)

    # ------------------------------------------------------------ timing

    def estimate(self, checked: Plan) -> Estimate:
        """How long a sweep's runs should train, from the speed of the jobs that trained on
        the same dataset here (the same model's if there are any), one after another on each
        of the server's workers. Rough: a larger batch trains faster per image."""
        dataset_size = self.jobs.datasets.get(checked.dataset).train_size
        layers = checked.spec.model_dump(mode="json", exclude_none=True)["layers"]
        runs = [job for _, job in checked.runs]
        with self.database.session() as s:
            done = list(s.scalars(
                select(JobRow).where(JobRow.status == "succeeded", JobRow.dataset == checked.dataset)
                .order_by(JobRow.finished.desc()).limit(50)))
        timed: list[tuple[float, float, bool]] = []  # (images/s, overhead s, same model)
        for job in done:
            seconds = (job.result or {}).get("train_seconds")
            if not seconds or job.started is None or job.finished is None:
                continue
            speed = run_images(job.training or {}, dataset_size) / float(seconds)
            overhead = max(0.0, (job.finished - job.started).total_seconds() - float(seconds))
            same = (job.architecture or {}).get("layers") == layers
            timed.append((speed, overhead, same))
        same_model = [t for t in timed if t[2]]
        chosen = same_model or timed
        if not chosen:
            return Estimate(None, None, 0, False)
        speed = statistics.median(t[0] for t in chosen)
        # A job's time beyond its training (loading, building, testing, saving): the least
        # any took, since one that shared its worker waited for the others' turns as well.
        overhead = min(t[1] for t in chosen)
        work = sum(run_images(job.training.model_dump(), dataset_size) / speed + overhead
                   for job in runs)
        workers = max(1, self.settings.workers)
        return Estimate(round(work / workers, 1), round(speed, 1), len(chosen), bool(same_model))

