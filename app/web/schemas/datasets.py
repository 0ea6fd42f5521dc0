"""Datasets as the API takes and answers them: the upload's form, a dataset with its counts,
its report and its progress."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from app.classroom import ownership
from app.datasets.builtin import DatasetInfo
from app.datasets.catalog import info_of
from app.datasets.store import DATASET_ID_PATTERN, DatasetStatus
from app.datasets.uploads.options import Color, DatasetOptions, OnBadFile
from app.imaging.fitting import Fit
from app.storage.tables import DatasetRow
from app.web.schemas import UtcDatetime

DatasetPath = Annotated[str, Path(pattern=DATASET_ID_PATTERN, max_length=32,
                                  description="A dataset id from GET /api/datasets.")]
# Printable, and not only spaces.
NAME_PATTERN = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"


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
    phase: str = Field(description="starting, queued (waiting for another upload's "
                       "processing to end), decoding, splitting, storing or ready.")
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
