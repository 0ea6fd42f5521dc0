"""What every route shares: templates, settings, and domain errors as HTTP responses."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request, Response, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ValidationError

from app import ownership
from app.config import Settings
from app.errors import InvalidInput, LimitExceeded
from app.resources import TEMPLATES_DIR

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))

NAV = [
    ("kernel_lab", "Kernel Lab", "/kernel-lab"),
    ("builder", "Model Builder", "/builder"),
    ("jobs", "Jobs", "/jobs"),
    ("draw", "Draw", "/draw"),
    ("api", "API", "/docs"),
]
templates.env.globals["nav"] = NAV


def presented_token(request: Request) -> str | None:
    """The owner token a client sent: the header (API clients) or the cookie (browsers)."""
    return request.headers.get(ownership.HEADER) or request.cookies.get(ownership.COOKIE)


def owner_token(request: Request) -> tuple[str, bool]:
    """The caller's token, or a new one: (token, newly issued)."""
    token = presented_token(request)
    if ownership.well_formed(token):
        return token, False
    return ownership.new_token(), True


def give_token(response: Response, token: str) -> Response:
    """Hand the token to the client: an HttpOnly, SameSite cookie, and a header for APIs."""
    response.set_cookie(ownership.COOKIE, token, max_age=365 * 24 * 3600, httponly=True,
                        samesite="strict", path="/")
    response.headers[ownership.HEADER] = token
    return response


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


async def json_body(request: Request) -> Any:
    """The request's JSON, or a 422 naming the body (routes that take JSON or a form)."""
    try:
        return json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput("body", f"not valid JSON ({exc})") from None


async def upload_bytes(upload: UploadFile, settings: Settings) -> bytes:
    """An uploaded file's bytes, refusing (413) one over CNNPG_MAX_UPLOAD_BYTES."""
    raw = await upload.read(settings.max_upload_bytes + 1)
    if len(raw) > settings.max_upload_bytes:
        raise LimitExceeded("file", f"over the upload limit of {settings.max_upload_bytes} bytes "
                            "(CNNPG_MAX_UPLOAD_BYTES)", 413)
    return raw


def error_items(exc: InvalidInput, where: str = "body") -> list[dict[str, Any]]:
    """A domain error in FastAPI's own 422 shape, so every 4xx body reads alike."""
    parts = exc.field.split(".")
    if parts[0] in ("query", "path", "header"):  # the field says where it was sent
        where, parts = parts[0], parts[1:]
    return [{"loc": [where, *parts], "msg": exc.message, "type": "value_error"}]


def validate(model: type[BaseModel], data: Any, where: str = "body") -> Any:
    """Validate like FastAPI does for declared bodies, raising its 422 on failure."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": (where, *e["loc"])} for e in exc.errors(include_url=False,
                                                                  include_context=False)]
        ) from None


def describe_errors(errors: list[dict[str, Any]]) -> list[str]:
    """'field: message' lines for people."""
    lines = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "query", "form")]
        lines.append(f"{'.'.join(loc) or 'request'}: {e.get('msg', '')}")
    return lines
