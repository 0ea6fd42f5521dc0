"""The model registry: shipped models (read-only, in models/) and, later, trained ones.

A model id from a request is only ever looked up among the ids the registry knows;
it never becomes a file path.
"""

from __future__ import annotations

import json
import re
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


def list_models() -> list[ModelInfo]:
    """Shipped models first."""
    return [info for info, _ in _shipped().values()]


def get_model(model_id: str) -> ModelInfo:
    check_id(model_id)
    entry = _shipped().get(model_id)
    if entry is None:
        raise ModelNotFound(model_id)
    return entry[0]


def model_path(model_id: str) -> Path:
    check_id(model_id)
    entry = _shipped().get(model_id)
    if entry is None:
        raise ModelNotFound(model_id)
    return entry[1]
