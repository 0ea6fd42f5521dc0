"""Uploaded datasets in the database: their records and their arrays.

A dataset is recorded as `processing` when its zip has passed the checks on its directory,
follows its ingestion's progress, and becomes `ready` in one transaction that writes its
arrays (a compressed `.npz`, so workers on other machines read it with no shared disk), or
`failed` with the reason and the files at fault, holding no images. A failed record only
lets the page that uploaded it show why; it is removed after an hour (or at once, by the
API, which answers with the reason instead). A processing record whose ingestion stopped
sending progress (a server stopped mid-way) is failed after `STALE_AFTER`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import secrets
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sqlalchemy import delete, select, update

from app.datasets.uploads.building import Built
from app.datasets.uploads.options import DatasetOptions
from app.errors import NotFound
from app.storage.database import Database
from app.storage.tables import DatasetArraysRow, DatasetRow, utcnow

DATASET_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
DatasetStatus = Literal["processing", "ready", "failed"]
STALE_AFTER = dt.timedelta(seconds=60)
FAILED_KEPT = dt.timedelta(hours=1)


class DatasetNotFound(NotFound):
    def __init__(self, dataset_id: str, field: str = "dataset_id") -> None:
        super().__init__(field, f"no dataset with id {dataset_id!r}")


def new_id(name: str) -> str:
    """A readable, unguessable id: the name's letters and digits and a random suffix."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:20].rstrip("_") or "dataset"
    if not slug[0].isalnum():
        slug = "d" + slug
    return f"{slug}-{secrets.token_hex(4)}"


@dataclass(frozen=True)
class Failure:
    """Why an ingestion failed: `kind` "too_large" (the zip or its expansion is over a size
    limit) or "invalid"; the message; the files at fault."""

    kind: Literal["too_large", "invalid"]
    field: str
    message: str
    files: list[dict[str, str]]

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "field": self.field, "message": self.message,
                "files": self.files}

    @classmethod
    def of(cls, value: dict[str, Any]) -> Failure:
        return cls(value.get("kind", "invalid"), value.get("field", "file"),
                   value.get("message", ""), list(value.get("files") or []))


def options_of(row: DatasetRow) -> DatasetOptions:
    return DatasetOptions(image_size=row.image_size, color=row.color,  # type: ignore[arg-type]
                          fit=row.fit, test_fraction=row.test_fraction,  # type: ignore[arg-type]
                          on_bad_file=row.on_bad_file, seed=row.seed)  # type: ignore[arg-type]


class DatasetStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    # ------------------------------------------------------------ reading

    def row(self, dataset_id: str) -> DatasetRow | None:
        with self.database.session() as s:
            return s.get(DatasetRow, dataset_id)

    def get(self, dataset_id: str, field: str = "dataset_id") -> DatasetRow:
        """A dataset that is ready or being processed (a failed one is not a dataset)."""
        row = self.row(dataset_id)
        if row is None or row.status == "failed":
            raise DatasetNotFound(dataset_id, field)
        return row

    def rows(self, statuses: tuple[DatasetStatus, ...] = ("ready",)) -> list[DatasetRow]:
        """Datasets in these states, newest first."""
        with self.database.session() as s:
            return list(s.scalars(select(DatasetRow).where(DatasetRow.status.in_(statuses))
                                  .order_by(DatasetRow.created.desc())))

    def arrays(self, dataset_id: str) -> dict[str, np.ndarray]:
        """x_train, y_train, x_test, y_test as stored (uint8 images, int labels)."""
        with self.database.session() as s:
            blob = s.scalar(select(DatasetArraysRow.npz)
                            .where(DatasetArraysRow.dataset_id == dataset_id))
        if blob is None:
            raise DatasetNotFound(dataset_id, "dataset")
        with np.load(io.BytesIO(blob)) as f:
            return {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}

    # ------------------------------------------------------------ writing

    def create(self, *, name: str, owner: str | None, source: str, options: DatasetOptions,
               class_names: list[str], counts: list[int], visitor: bool = False) -> DatasetRow:
        """Record a dataset whose zip passed the checks, as processing."""
        now = utcnow()
        row = DatasetRow(
            id=new_id(name), name=name, owner=owner, status="processing", source=source,
            image_size=options.image_size, color=options.color, fit=options.fit,
            test_fraction=options.test_fraction, on_bad_file=options.on_bad_file,
            seed=options.seed, class_names=class_names, train_counts=counts,
            test_counts=[0] * len(counts), report={},
            progress={"phase": "starting", "done": 0, "total": sum(counts)},
            error=None, created=now, updated=now, visitor=visitor)
        with self.database.begin() as s:
            s.add(row)
        return row

    def progress(self, dataset_id: str, phase: str, done: int, total: int) -> None:
        with self.database.begin() as s:
            s.execute(update(DatasetRow).where(DatasetRow.id == dataset_id,
                                               DatasetRow.status == "processing")
                      .values(progress={"phase": phase, "done": done, "total": total},
                              updated=utcnow()))

    def phase(self, dataset_id: str, phase: str) -> None:
        """A new phase before any image is done (waiting its turn, starting)."""
        row = self.row(dataset_id)
        if row is not None:
            self.progress(dataset_id, phase, 0, int((row.progress or {}).get("total", 0)))

    def touch(self, dataset_id: str) -> None:
        """Still waiting its turn: not stale."""
        with self.database.begin() as s:
            s.execute(update(DatasetRow).where(DatasetRow.id == dataset_id,
                                               DatasetRow.status == "processing")
                      .values(updated=utcnow()))

    def finish(self, dataset_id: str, built: Built) -> bool:
        """Store the arrays and mark the dataset ready, in one transaction; False when it is
        no longer processing (deleted, or failed as stale meanwhile): nothing is written."""
        blob = built.npz()
        with self.database.begin() as s:
            n = s.execute(update(DatasetRow).where(DatasetRow.id == dataset_id,
                                                   DatasetRow.status == "processing")
                          .values(status="ready", class_names=built.class_names,
                                  train_counts=built.counts("train"),
                                  test_counts=built.counts("test"), report=built.report,
                                  progress={"phase": "ready", "done": built.report["images"],
                                            "total": built.report["images"]},
                                  updated=utcnow())).rowcount
            if not n:
                return False
            s.add(DatasetArraysRow(dataset_id=dataset_id, npz=blob,
                                   sha256=hashlib.sha256(blob).hexdigest()))
        return True

    def fail(self, dataset_id: str, failure: Failure) -> None:
        with self.database.begin() as s:
            s.execute(update(DatasetRow).where(DatasetRow.id == dataset_id,
                                               DatasetRow.status == "processing")
                      .values(status="failed", error=failure.as_json(), updated=utcnow()))

    def delete(self, dataset_id: str) -> None:
        with self.database.begin() as s:
            s.execute(delete(DatasetArraysRow).where(DatasetArraysRow.dataset_id == dataset_id))
            s.execute(delete(DatasetRow).where(DatasetRow.id == dataset_id))

    def tidy(self, now: dt.datetime | None = None) -> list[str]:
        """Fail stale ingestions and remove old failures; the ids still processing."""
        now = now or utcnow()
        with self.database.begin() as s:
            s.execute(update(DatasetRow).where(DatasetRow.status == "processing",
                                               DatasetRow.updated < now - STALE_AFTER)
                      .values(status="failed", updated=now, error=Failure(
                          "invalid", "file", "processing stopped (the server was stopped or "
                          "restarted while this dataset was being processed); upload it again",
                          []).as_json()))
            s.execute(delete(DatasetRow).where(DatasetRow.status == "failed",
                                               DatasetRow.updated < now - FAILED_KEPT))
            return list(s.scalars(select(DatasetRow.id)
                                  .where(DatasetRow.status == "processing")))
