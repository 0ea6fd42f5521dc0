"""The model registry: shipped models (read-only, in models/) and trained ones (database).

A model id from a request is only ever looked up among the ids the registry knows;
it never becomes a file path unchecked. Trained models are copied out of the database
into a bounded disk cache (CNNPG_MODEL_CACHE_BYTES) when a process loads one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import defer

from app.classroom import ownership
from app.errors import Forbidden, InvalidInput, NotFound
from app.storage.database import Database
from app.storage.tables import ModelRow

MODEL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
MODEL_ID = re.compile(MODEL_ID_PATTERN)
DEFAULT_MODEL = "mnist_digits"


class ModelNotFound(NotFound):
    def __init__(self, model_id: str, field: str = "model") -> None:
        super().__init__(field, f"no model with id {model_id!r}")
        self.model_id = model_id


class ReadOnlyModel(Forbidden):
    """Shipped models belong to the application: nobody deletes them."""


@dataclass(frozen=True)
class ModelInfo:
    id: str
    name: str
    dataset: str
    input_shape: tuple[int, int, int]
    shipped: bool
    test_accuracy: float | None
    created: str
    class_names: list[str]
    owner: str | None = field(default=None, compare=False, repr=False)
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def input_range(self) -> str:
        """The pixel values the model reads: "0-1" (what the playground trains), "0-255" or
        "-1-1" (uploads say which: app/networks/uploads/input_range.py)."""
        return str((self.meta.get("training") or {}).get("input_range", "0-1"))


def check_id(model_id: str, field_name: str = "model") -> str:
    if not MODEL_ID.match(model_id):
        raise InvalidInput(field_name, "a model id is 1–64 letters, digits, '_', '.' or '-', "
                           "starting with a letter or digit")
    return model_id


def _iso(when: dt.datetime | None) -> str:
    return when.isoformat() + "Z" if when else ""


def _trained_info(row: ModelRow) -> ModelInfo:
    return ModelInfo(
        id=row.id, name=row.name, dataset=row.dataset,
        input_shape=(int(row.input_shape[0]), int(row.input_shape[1]), int(row.input_shape[2])),
        shipped=False, test_accuracy=row.test_accuracy, created=_iso(row.created),
        class_names=list(row.class_names), owner=row.owner,
        meta={"architecture": row.architecture, "training": row.training,
              "total_params": row.total_params, "test_loss": row.test_loss,
              "job_id": row.job_id, "sha256": row.sha256, "source": row.source},
    )


def new_model_id(name: str) -> str:
    """A fresh id: the name (its first 40 characters, where they make a valid id) and 8 random
    hex digits."""
    base = name[:40]
    return f"{base}-{secrets.token_hex(4)}" if MODEL_ID.match(base) else f"model-{secrets.token_hex(4)}"


class Registry:
    """Every model this application knows, by id."""

    def __init__(self, database: Database, models_dir: Path, cache_dir: Path,
                 cache_bytes: int) -> None:
        self.database = database
        self.models_dir = models_dir
        self.cache_dir = cache_dir
        self.cache_bytes = cache_bytes

    @cached_property
    def shipped(self) -> dict[str, tuple[ModelInfo, Path]]:
        found: dict[str, tuple[ModelInfo, Path]] = {}
        for meta_path in sorted(Path(self.models_dir).glob("*.json")):
            model_path = meta_path.with_suffix(".keras")
            if not model_path.is_file():
                continue
            meta = json.loads(meta_path.read_text())
            shape = meta["input_shape"]
            info = ModelInfo(
                id=meta_path.stem, name=meta.get("name", meta_path.stem), dataset=meta["dataset"],
                input_shape=(int(shape[0]), int(shape[1]), int(shape[2])), shipped=True,
                test_accuracy=meta.get("test_accuracy"), created=meta.get("created", ""),
                class_names=list(meta.get("class_names") or [str(i) for i in range(10)]),
                meta=meta,
            )
            found[info.id] = (info, model_path)
        return found

    def list_models(self) -> list[ModelInfo]:
        """Shipped models first, then trained ones, newest first."""
        with self.database.session() as s:
            rows = s.scalars(select(ModelRow).options(defer(ModelRow.keras_bytes))
                             .order_by(ModelRow.created.desc())).all()
        return [info for info, _ in self.shipped.values()] + [_trained_info(r) for r in rows]

    def get(self, model_id: str, field: str = "model") -> ModelInfo:
        check_id(model_id, field)
        entry = self.shipped.get(model_id)
        if entry is not None:
            return entry[0]
        return _trained_info(self._row(model_id, field))

    def get_or_shipped(self, wanted: str) -> tuple[ModelInfo, str | None]:
        """For a link: the model it names, or the shipped model and a note saying why."""
        try:
            return self.get(wanted), None
        except (NotFound, InvalidInput):
            info = self.get(DEFAULT_MODEL)
            return info, (f"there is no model {wanted[:64]!r} here: showing {info.id}, the "
                          "shipped model")

    def _row(self, model_id: str, field: str = "model", with_bytes: bool = False) -> ModelRow:
        with self.database.session() as s:
            q = select(ModelRow).where(ModelRow.id == model_id)
            if not with_bytes:
                q = q.options(defer(ModelRow.keras_bytes))
            row = s.scalars(q).first()
        if row is None:
            raise ModelNotFound(model_id, field)
        return row

    def path(self, model_id: str) -> Path:
        """The `.keras` file: shipped in models/, trained ones copied out of the database."""
        check_id(model_id)
        entry = self.shipped.get(model_id)
        if entry is not None:
            return entry[1]
        path = self.cache_dir / f"{model_id}.keras"
        if path.is_file():
            os.utime(path)  # recently used: evicted last
            return path
        row = self._row(model_id, with_bytes=True)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.{secrets.token_hex(4)}.tmp")
        tmp.write_bytes(row.keras_bytes)
        tmp.replace(path)
        self._trim_cache(keep=path)
        return path

    def _trim_cache(self, keep: Path) -> None:
        """Remove the least recently used cached files beyond CNNPG_MODEL_CACHE_BYTES."""
        files = []
        for p in self.cache_dir.glob("*.keras"):
            try:
                st = p.stat()
            except FileNotFoundError:  # another process removed it
                continue
            files.append((st.st_mtime, st.st_size, p))
        total = sum(size for _, size, _ in files)
        for _, size, p in sorted(files):
            if total <= self.cache_bytes:
                break
            if p != keep:
                p.unlink(missing_ok=True)
                total -= size

    def cached_files(self) -> list[Path]:
        return sorted(self.cache_dir.glob("*.keras")) if self.cache_dir.is_dir() else []

    def keras_bytes(self, model_id: str) -> bytes:
        return self.path(model_id).read_bytes()

    def save_trained(self, *, name: str, dataset: str, input_shape: list[int],
                     class_names: list[str], test_accuracy: float, test_loss: float,
                     total_params: int, architecture: dict[str, Any], training: dict[str, Any],
                     keras_bytes: bytes, job_id: str | None = None,
                     owner: str | None = None, nickname: str | None = None,
                     class_code: str | None = None) -> str:
        model_id = new_model_id(name)
        with self.database.begin() as s:
            s.add(ModelRow(id=model_id, name=name, owner=owner, dataset=dataset,
                           input_shape=list(input_shape), class_names=list(class_names),
                           test_accuracy=test_accuracy, test_loss=test_loss,
                           total_params=total_params, architecture=architecture,
                           training=training, job_id=job_id, keras_bytes=keras_bytes,
                           sha256=hashlib.sha256(keras_bytes).hexdigest(),
                           nickname=nickname, class_code=class_code))
        return model_id

    def save_uploaded(self, *, name: str, dataset: str, input_shape: list[int],
                      class_names: list[str], total_params: int, keras_bytes: bytes,
                      owner: str | None, input_range: str = "0-1") -> str:
        """Store a model someone uploaded, once app/networks/uploads.py has checked it."""
        model_id = new_model_id(name)
        with self.database.begin() as s:
            s.add(ModelRow(id=model_id, name=name, owner=owner, dataset=dataset,
                           input_shape=list(input_shape), class_names=list(class_names),
                           test_accuracy=None, test_loss=None, total_params=total_params,
                           architecture={}, training={"input_range": input_range}, job_id=None,
                           keras_bytes=keras_bytes,
                           sha256=hashlib.sha256(keras_bytes).hexdigest(), source="uploaded"))
        return model_id

    def delete(self, model_id: str, token: str | None, admin_token: str | None,
               field: str = "model") -> None:
        """Only the model's owner token, or the administrator's, may delete it; shipped: nobody."""
        info = self.get(model_id, field)
        if info.shipped:
            raise ReadOnlyModel(f"model {model_id} is shipped with the application and is "
                                "read-only: nobody can delete it")
        ownership.require(info.owner, token, admin_token, f"model {model_id}")
        with self.database.begin() as s:
            s.execute(delete(ModelRow).where(ModelRow.id == model_id))
        (self.cache_dir / f"{model_id}.keras").unlink(missing_ok=True)
