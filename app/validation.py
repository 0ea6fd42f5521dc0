"""Small validation helpers shared by request models."""

from __future__ import annotations

from pydantic import BeforeValidator


def refuse_null(value: object) -> object:
    """For "one of these fields" bodies: a field may be left out, but not sent as null."""
    if value is None:
        raise ValueError("leave the field out instead of sending null")
    return value


NotNull = BeforeValidator(refuse_null)
