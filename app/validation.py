"""Small validation helpers shared by request models."""

from __future__ import annotations

from pydantic import BeforeValidator


def refuse_null(value: object) -> object:
    """For "one of these fields" bodies: a field may be left out, but not sent as null."""
    if value is None:
        raise ValueError("leave the field out instead of sending null")
    return value


NotNull = BeforeValidator(refuse_null)


def blank_is_none(value: object) -> object:
    """For optional form fields: an empty field (as browsers send it) means not given."""
    return None if value == "" else value


Blank = BeforeValidator(blank_is_none)
