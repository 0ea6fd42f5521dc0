"""The model registry: shipped models (read-only, in models/) and trained ones (database).

A model id from a request is only ever looked up among the ids the registry knows;
it never becomes a file path unchecked (trained models are cached on disk under ids
that match MODEL_ID).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from app.config import get_settings
from app.errors import InvalidInput
from app.resources import MODELS_DIR

MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ModelNotFound(LookupError):
    def __init__(self, model_id: str) -> None:
        super().__init__(f"no model with id {model_id!r}")
        self.model_id = model_id


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
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "dataset": self.dataset,
                "input_shape": list(self.input_shape), "shipped": self.shipped,
                "test_accuracy": self.test_accuracy, "created": self.created}


def check_id(model_id: str, field_name: str = "model") -> str:
    if not MODEL_ID.match(model_id):
        raise InvalidInput(field_name, "a model id is 1–64 letters, digits, '_', '.' or '-', "
                           "starting with a letter or digit")
    return model_id


def _shipped() -> dict[str, tuple[ModelInfo, Path]]:
    return _scan_shipped(get_settings().models_dir or MODELS_DIR)


@lru_cache(maxsize=4)
def _scan_shipped(folder: Path) -> dict[str, tuple[ModelInfo, Path]]:
    found: dict[str, tuple[ModelInfo, Path]] = {}
    for meta_path in sorted(Path(folder).glob("*.json")):
        model_path = meta_path.with_suffix(".keras")
        if not model_path.is_file():
            continue
        meta = json.loads(meta_path.read_text())
        info = ModelInfo(
            id=meta_path.stem, name=meta.get("name", meta_path.stem), dataset=meta["dataset"],
            input_shape=tuple(meta["input_shape"]), shipped=True,
            test_accuracy=meta.get("test_accuracy"), created=meta.get("created", ""),
            class_names=list(meta.get("class_names") or [str(i) for i in range(10)]), meta=meta,
        )
        found[info.id] = (info, model_path)
    return found


DEFAULT_MODEL = "mnist_digits"


def _trained_info(row) -> ModelInfo:
    return ModelInfo(
        id=row.id, name=row.name, dataset=row.dataset, input_shape=tuple(row.input_shape),
        shipped=False, test_accuracy=row.test_accuracy,
        created=row.created.isoformat() + "Z" if row.created else "",
        class_names=list(row.class_names),
        meta={"architecture": row.architecture, "training": row.training,
              "total_params": row.total_params, "test_loss": row.test_loss,
              "job_id": row.job_id, "sha256": row.sha256},
    )


def list_models() -> list[ModelInfo]:
    """Shipped models first, then trained ones, newest first."""
    from sqlalchemy import select
    from sqlalchemy.orm import defer

    from app.db import ModelRow, sessions

    with sessions(get_settings())() as s:
        rows = s.scalars(select(ModelRow).options(defer(ModelRow.keras_bytes))
                         .order_by(ModelRow.created.desc())).all()
    return [info for info, _ in _shipped().values()] + [_trained_info(r) for r in rows]


def get_model(model_id: str) -> ModelInfo:
    check_id(model_id)
    entry = _shipped().get(model_id)
    if entry is not None:
        return entry[0]
    row = _trained_row(model_id)
    return _trained_info(row)


def _trained_row(model_id: str, with_bytes: bool = False):
    from sqlalchemy import select
    from sqlalchemy.orm import defer

    from app.db import ModelRow, sessions

    with sessions(get_settings())() as s:
        q = select(ModelRow).where(ModelRow.id == model_id)
        if not with_bytes:
            q = q.options(defer(ModelRow.keras_bytes))
        row = s.scalars(q).first()
    if row is None:
        raise ModelNotFound(model_id)
    return row


def model_path(model_id: str) -> Path:
    """The `.keras` file: shipped in models/, trained ones cached from the database."""
    check_id(model_id)
    entry = _shipped().get(model_id)
    if entry is not None:
        return entry[1]
    cache = get_settings().data_dir / "model-cache"
    path = cache / f"{model_id}.keras"
    if not path.is_file():
        row = _trained_row(model_id, with_bytes=True)
        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(row.keras_bytes)
        tmp.replace(path)
    return path


def model_bytes(model_id: str) -> bytes:
    return model_path(model_id).read_bytes()


def save_trained(*, name: str, dataset: str, input_shape: list[int], class_names: list[str],
                 test_accuracy: float, test_loss: float, total_params: int,
                 architecture: dict[str, Any], training: dict[str, Any], keras_bytes: bytes,
                 job_id: str | None = None, owner: str | None = None) -> str:
    from app.db import ModelRow, sessions

    model_id = f"{name[:40]}-{secrets.token_hex(4)}" if MODEL_ID.match(name[:40]) else \
        f"model-{secrets.token_hex(4)}"
    with sessions(get_settings()).begin() as s:
        s.add(ModelRow(id=model_id, name=name, owner=owner, dataset=dataset,
                       input_shape=list(input_shape), class_names=list(class_names),
                       test_accuracy=test_accuracy, test_loss=test_loss,
                       total_params=total_params, architecture=architecture, training=training,
                       job_id=job_id, keras_bytes=keras_bytes,
                       sha256=hashlib.sha256(keras_bytes).hexdigest()))
    return model_id


class ReadOnlyModel(PermissionError):
    pass


def delete_model(model_id: str, token: str | None) -> None:
    """Only the model's owner token, or the administrator's, may delete it; shipped: nobody."""
    from sqlalchemy import delete

    from app import ownership
    from app.db import ModelRow, sessions

    info = get_model(model_id)
    if info.shipped:
        raise ReadOnlyModel(f"model {model_id} is shipped with the application and is read-only:"
                            " nobody can delete it")
    row = _trained_row(model_id)
    ownership.require(row.owner, token, get_settings().admin_token, f"model {model_id}")
    with sessions(get_settings()).begin() as s:
        s.execute(delete(ModelRow).where(ModelRow.id == model_id))
    (get_settings().data_dir / "model-cache" / f"{model_id}.keras").unlink(missing_ok=True)
