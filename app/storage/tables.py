"""The tables, through SQLAlchemy. Their history is in `migrations/versions/`: a change here
comes with a migration, so a classroom's database keeps every job and model on upgrade."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class JobRow(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True)
    owner: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    architecture: Mapped[dict[str, Any]] = mapped_column(JSON)
    dataset: Mapped[str] = mapped_column(String(32))
    training: Mapped[dict[str, Any]] = mapped_column(JSON)
    progress: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    worker: Mapped[str | None] = mapped_column(String(128), nullable=True)
    heartbeat: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    created: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    started: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    finished: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    # One run of a hyperparameter sweep (SweepRow), or None.
    sweep_id: Mapped[str | None] = mapped_column(String(32), index=True, nullable=True)
    # A class's learner submitted it (looked up from the owner token at submission).
    nickname: Mapped[str | None] = mapped_column(String(32), nullable=True)
    class_code: Mapped[str | None] = mapped_column(String(16), index=True, nullable=True)
    # Submitted by a visitor (no open class, not the administrator): trains only when no
    # member's job waits, and counts against the visitors' quotas.
    visitor: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ModelRow(Base):
    __tablename__ = "models"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    dataset: Mapped[str] = mapped_column(String(32))
    input_shape: Mapped[list[int]] = mapped_column(JSON)
    class_names: Mapped[list[str]] = mapped_column(JSON)
    test_accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)
    test_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    total_params: Mapped[int] = mapped_column(Integer)
    architecture: Mapped[dict[str, Any]] = mapped_column(JSON)
    training: Mapped[dict[str, Any]] = mapped_column(JSON)
    job_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    keras_bytes: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    created: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    # Where the model came from: "trained" (a job) or "uploaded" (POST /api/models).
    source: Mapped[str] = mapped_column(String(16), default="trained", server_default="trained")
    nickname: Mapped[str | None] = mapped_column(String(32), nullable=True)
    class_code: Mapped[str | None] = mapped_column(String(16), index=True, nullable=True)
    # Stored for a visitor: counts against the visitors' storage, not a member's.
    visitor: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class DatasetRow(Base):
    """An uploaded dataset: its settings, classes and counts; the arrays are in
    `dataset_arrays`, so listing datasets never reads images."""

    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # processing, ready, failed
    source: Mapped[str] = mapped_column(String(16))  # zip, webcam
    image_size: Mapped[int] = mapped_column(Integer)
    color: Mapped[str] = mapped_column(String(16))  # grayscale, rgb
    fit: Mapped[str] = mapped_column(String(8))  # crop, pad
    test_fraction: Mapped[float] = mapped_column(Float)
    on_bad_file: Mapped[str] = mapped_column(String(8))  # skip, refuse
    seed: Mapped[int] = mapped_column(Integer)
    class_names: Mapped[list[str]] = mapped_column(JSON)
    train_counts: Mapped[list[int]] = mapped_column(JSON)
    test_counts: Mapped[list[int]] = mapped_column(JSON)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
    progress: Mapped[dict[str, Any]] = mapped_column(JSON)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    updated: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    visitor: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class DatasetArraysRow(Base):
    """A dataset's images and labels: one compressed `.npz` (x_train, y_train, x_test, y_test,
    uint8), the layout `keras.datasets` files have, so any worker reads it from the database."""

    __tablename__ = "dataset_arrays"

    dataset_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    npz: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))


class JobFrameRow(Base):
    """One frame of a job's timelapse: the first Conv2D layer's kernels and the probe
    image's feature maps as compressed float16 arrays, at epoch 0 (before training) and
    after each epoch. Written as each epoch ends, so a job cut short keeps its frames."""

    __tablename__ = "job_frames"
    __table_args__ = (UniqueConstraint("job_id", "epoch", name="uq_job_frames_job_epoch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(32), index=True)
    epoch: Mapped[int] = mapped_column(Integer)
    val_accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)
    arrays: Mapped[bytes] = mapped_column(LargeBinary)
    created: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ClassRow(Base):
    """A class: a short code students join with, and the hash of its teacher's token."""

    __tablename__ = "classes"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    teacher: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires: Mapped[dt.datetime] = mapped_column(DateTime)


class LearnerRow(Base):
    """A student in a class: a nickname (unique in the class, ignoring case) and the hash
    of the owner token they were given when they joined."""

    __tablename__ = "learners"
    __table_args__ = (UniqueConstraint("class_code", "nickname_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    class_code: Mapped[str] = mapped_column(String(16), ForeignKey("classes.code"), index=True)
    nickname: Mapped[str] = mapped_column(String(32))
    nickname_key: Mapped[str] = mapped_column(String(32))
    owner: Mapped[str] = mapped_column(String(64), unique=True)
    joined: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class LessonProgressRow(Base):
    """A step of a lesson a learner has done, keyed by the hash of their owner token (as
    jobs and models record who made them). Steps with an exercise are recorded when the
    server finds the answer right; steps to read, when the learner moves on. A lesson's
    Train step is not stored: it is done once a job of that owner has trained the
    lesson's model (`app/classroom/progress.py`)."""

    __tablename__ = "lesson_progress"
    __table_args__ = (UniqueConstraint("owner", "lesson", "step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    lesson: Mapped[str] = mapped_column(String(64))
    step: Mapped[str] = mapped_column(String(64))
    done: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class SweepRow(Base):
    """A hyperparameter sweep: one model and its base settings, the settings it varies
    (`vary`: `[{"path", "values"}]`, in order) and its runs (`[{"job", "values"}]`, one
    ordinary job each, which carries `sweep_id`). Its progress and results are its jobs'."""

    __tablename__ = "sweeps"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    nickname: Mapped[str | None] = mapped_column(String(32), nullable=True)
    class_code: Mapped[str | None] = mapped_column(String(16), index=True, nullable=True)
    dataset: Mapped[str] = mapped_column(String(32))
    architecture: Mapped[dict[str, Any]] = mapped_column(JSON)
    training: Mapped[dict[str, Any]] = mapped_column(JSON)
    vary: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    runs: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)


class WorkerRow(Base):
    """A worker process that trains jobs: how many it takes at once, the device it trains on,
    and when it last said it was alive. Workers balance new jobs between them with it, and
    the queue's estimates count the places they have."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)  # host:pid, as jobs name it
    slots: Mapped[int] = mapped_column(Integer)
    device: Mapped[str] = mapped_column(String(128))
    started: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    seen: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
