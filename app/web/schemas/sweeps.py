"""Sweeps as the API answers them: a sweep created, and a sweep with its runs and what
mattered."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, Field

from app.classroom import ownership
from app.training.jobs import JobStatus
from app.training.sweep_plans import SWEEP_ID_PATTERN
from app.training.sweeps import Sweep
from app.web.schemas import UtcDatetime

SweepPath = Annotated[str, Path(pattern=SWEEP_ID_PATTERN,
                                description="A sweep id, as POST /api/sweeps answered it.")]


class SweepCreated(BaseModel):
    id: str
    jobs: list[str] = Field(description="Its runs' job ids, in the grid's order (the first "
                            "setting's values vary slowest).")


class SweepRunOut(BaseModel):
    id: str = Field(description="The run's job id (GET /api/jobs/{id}).")
    name: str
    status: JobStatus
    values: dict[str, Any] = Field(description="The value of each varied setting in this run.")
    test_accuracy: float | None
    test_loss: float | None
    seed: int | None = Field(description="Its seed: the same in every run unless the seed is "
                             "varied.")
    seconds: float | None = Field(description="Training time once trained; while running, "
                                  "how long it has run.")
    progress: float = Field(description="How far it is, 0 to 1.")


class ValueEffectOut(BaseModel):
    value: Any
    runs: int = Field(description="Finished runs with this value.")
    mean: float | None = Field(description="Their mean test accuracy.")
    min: float | None
    max: float | None


class EffectOut(BaseModel):
    setting: str
    points: float | None = Field(description="The largest difference between the mean test "
                                 "accuracies of its values, in percentage points (null until "
                                 "two of them have a finished run).")
    values: list[ValueEffectOut]


class SweepOut(BaseModel):
    id: str
    name: str
    status: Literal["running", "finished"] = Field(
        description="running while any run is queued or running, then finished.")
    dataset: str
    architecture: dict[str, Any]
    training: dict[str, Any] = Field(description="The base settings every run starts from, "
                                     "with the seed they share.")
    vary: dict[str, list[Any]]
    jobs: list[SweepRunOut]
    best: str | None = Field(description="The job id of the run with the highest test "
                             "accuracy so far.")
    mattered: list[EffectOut] = Field(description="For each varied setting, the test accuracy "
                                      "of each of its values: mean and spread over the other "
                                      "settings' values.")
    yours: bool = Field(description="Whether the owner token sent created this sweep.")
    nickname: str | None = Field(description="Your nickname in a class, on your own sweeps only.")
    created: UtcDatetime

    @classmethod
    def of(cls, sweep: Sweep, token: str | None) -> SweepOut:
        row = sweep.row
        yours = ownership.may_change(row.owner, token, None)
        best = sweep.best
        return cls(
            id=row.id, name=row.name, status="finished" if sweep.finished else "running",
            dataset=row.dataset, architecture=row.architecture, training=row.training,
            vary={s.path: list(s.values) for s in sweep.settings},
            jobs=[SweepRunOut(
                id=r.job.id, name=r.job.name, status=r.job.status,
                values={s.path: v for s, v in zip(sweep.settings, r.values, strict=True)},
                test_accuracy=r.test_accuracy, test_loss=r.test_loss, seed=r.seed,
                seconds=None if r.seconds is None else round(r.seconds, 2),
                progress=round(r.fraction, 4)) for r in sweep.runs],
            best=best.job.id if best else None,
            mattered=[EffectOut(setting=e.setting.path, points=e.points, values=[
                ValueEffectOut(value=v.value, runs=v.runs, mean=v.mean, min=v.low, max=v.high)
                for v in e.values]) for e in sweep.effects()],
            yours=yours, nickname=row.nickname if yours else None, created=row.created)
