"""What every step of checking an upload shares: its limits, its refusal, its result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.errors import InvalidInput

FIELD = "file"


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int
    max_expanded_bytes: int
    max_params: int
    max_layers: int
    max_input_side: int
    max_classes: int


@dataclass(frozen=True)
class CheckedModel:
    """An upload that passed every check, as the bytes to store."""

    keras_bytes: bytes
    config_name: str
    input_shape: tuple[int, int, int]
    num_classes: int
    total_params: int
    input_range: str = "0-1"
    model: Any = field(default=None, repr=False, compare=False)  # as Keras loaded it here


class Refused(InvalidInput):
    """The file is not a model the playground accepts; nothing of it was run."""

    def __init__(self, message: str) -> None:
        super().__init__(FIELD, message)
