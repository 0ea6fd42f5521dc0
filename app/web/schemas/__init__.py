"""Response models every part of the API shares: error bodies and their documentation."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel


class Message(BaseModel):
    """A refusal that is not about one field."""

    detail: str


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class FieldErrors(BaseModel):
    """What was wrong, field by field (the shape of FastAPI's own 422)."""

    detail: list[FieldError]


def responses(**described: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses for an operation's error codes: `responses(e404="No such model")`."""
    models: dict[int, type[BaseModel]] = {400: Message, 403: Message, 404: FieldErrors,
                                          409: Message, 413: FieldErrors, 422: FieldErrors,
                                          429: FieldErrors, 503: Message}
    out: dict[int | str, dict[str, Any]] = {}
    for key, description in described.items():
        code = int(key.removeprefix("e"))
        out[code] = {"model": models[code], "description": description}
    return out


BODY_ERRORS = responses(e400="The body could not be read (not UTF-8, say)")
FORM_ERRORS = responses(e400="The multipart form could not be parsed",
                        e413="The upload is over CNNPG_MAX_UPLOAD_BYTES or the request over "
                        "CNNPG_MAX_REQUEST_BYTES")


def as_utc(when: dt.datetime) -> dt.datetime:
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when


UtcDatetime = Annotated[dt.datetime, AfterValidator(as_utc)]
