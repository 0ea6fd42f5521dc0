"""Jobs as the API answers them: a job, its result, its timelapse, jobs compared."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.storage.tables import JobRow
from app.training import trainer
from app.training.jobs import JOB_ID_PATTERN, JobStatus, is_yours
from app.training.queueing import QueueSpot, time_left
from app.web.schemas import UtcDatetime

JobPath = Annotated[str, Path(pattern=JOB_ID_PATTERN, description="A job id from GET /api/jobs.")]
COMPARE_PATTERN = r"^[0-9a-f]{12}(,[0-9a-f]{12})*$"





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
    device: str | None = Field(None, description="What its worker trains it on, e.g. \"CPU (2 "
                               "cores)\" or \"GPU (NVIDIA H100)\", once it has started.")
    created: UtcDatetime
    started: UtcDatetime | None
    finished: UtcDatetime | None

    @classmethod
    def of(cls, row: JobRow, token: str | None, spot: QueueSpot | None = None) -> JobOut:
        out = cls.model_validate(row)
        out.yours = is_yours(row, token)
        out.device = (row.progress or {}).get("device")
        if row.status == "running" and out.progress.get("eta_seconds") is not None:
            # As of now, not of the job's last turn (a worker writes it once a turn).
            out.progress = {**out.progress, "eta_seconds": time_left(row, time.time())}
        if spot is not None and row.status == "queued":
            out.queue_position, out.start_in_seconds = spot.position, spot.start_in_seconds
        if not out.yours:
            out.nickname = None
        return out


class JobCreated(BaseModel):
    id: str
    status: JobStatus


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
