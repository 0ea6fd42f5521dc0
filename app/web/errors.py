"""Domain errors as HTTP responses: the one place that knows their status codes.

Bad input is a 4xx naming the field, in FastAPI's own shape
(`{"detail": [{"loc": [...], "msg": ..., "type": ...}]}`); refusals that are not about
one field are `{"detail": "why"}`. The serving protocols' routes (TensorFlow Serving's
`/v1/…`, the Open Inference Protocol's `/v2…`) answer as their servers do (`{"error": ...}`,
400 for bad input). A page's own htmx requests get the message as the HTML
that shows it, with 200: the refusal is what the page displays, not a failed load (which
browsers log as an error).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from app.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    QueueFull,
    TooLarge,
    Unavailable,
)
from app.web.routing import is_serving_path, route_contexts
from app.web.templating import describe_errors, is_htmx, templates

# Most specific first: the first class an error is an instance of gives its status.
STATUS: tuple[tuple[type[Exception], int], ...] = (
    (TooLarge, 413),
    (QueueFull, 429),
    (InvalidInput, 422),
    (NotFound, 404),
    (Forbidden, 403),
    (Conflict, 409),
    (Unavailable, 503),
)


def status_of(exc: Exception) -> int:
    return next(code for cls, code in STATUS if isinstance(exc, cls))


def error_items(field: str, message: str, kind: str = "value_error") -> list[dict[str, Any]]:
    """A domain error in FastAPI's own 422 shape, so every 4xx body reads alike."""
    parts = field.split(".")
    where = "body"
    if parts[0] in ("query", "path", "header", "cookie"):  # the field says where it was sent
        where, parts = parts[0], parts[1:]
    return [{"loc": [where, *parts], "msg": message, "type": kind}]


def _is_serving(request: Request) -> bool:
    return is_serving_path(request.url.path)


def _wants_page(request: Request) -> bool:
    """A browser opening a page (a link to a job or model that is gone, say): it gets a page
    that says so, in the site's layout, not a JSON body."""
    return (request.method == "GET" and "text/html" in request.headers.get("accept", "")
            and not request.url.path.startswith("/api/") and not _is_serving(request))


def _respond(request: Request, status: int, detail: str | list[dict[str, Any]]) -> Response:
    if is_htmx(request):
        lines = describe_errors(detail) if isinstance(detail, list) else [detail]
        return templates.TemplateResponse(request, "partials/errors.html", {"errors": lines})
    if _wants_page(request):
        lines = describe_errors(detail) if isinstance(detail, list) else [detail]
        return templates.TemplateResponse(request, "error.html", {"errors": lines, "status": status},
                                          status_code=status)
    if _is_serving(request):
        # Serving clients read "error"; "detail" keeps this API's own shape as well.
        message = "; ".join(describe_errors(detail)) if isinstance(detail, list) else detail
        return JSONResponse({"error": message, "detail": jsonable_encoder(detail)},
                            status_code=400 if status == 422 else status)
    return JSONResponse({"detail": jsonable_encoder(detail)}, status_code=status)


async def domain_error(request: Request, exc: Exception) -> Response:
    status = status_of(exc)
    if isinstance(exc, InvalidInput | NotFound):
        kind = "not_found" if isinstance(exc, NotFound) else "value_error"
        return _respond(request, status, error_items(exc.field, exc.message, kind))
    return _respond(request, status, str(exc))


MAX_ERRORS = 20


def _is_union_label(part: object) -> bool:
    """Pydantic names the union member an error came from (a tag such as "H×W" or "a preset
    name", or a type such as "list[int]"), which is never a field name; people want the
    field's path alone."""
    return isinstance(part, str) and (any(c in part for c in "[× ")
                                      or part.startswith(("constrained-", "function-")))


async def invalid_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors: list[dict[str, Any]] = []
    for e in exc.errors():
        item = {"loc": [p for p in e.get("loc", ()) if not _is_union_label(p)],
                "msg": e.get("msg", ""), "type": e.get("type", "value_error")}
        if item not in errors:
            errors.append(item)
    if len(errors) > MAX_ERRORS:  # 784 out-of-range pixels are one problem, not 784
        more = len(errors) - MAX_ERRORS
        errors = [*errors[:MAX_ERRORS], {"loc": ["body"], "msg": f"and {more} more like these",
                                         "type": "too_many_errors"}]
    return _respond(request, 422, errors)


def allowed_methods(app: FastAPI, scope: dict[str, Any]) -> list[str]:
    """Every method some route serves at this path (Starlette names only the first route's)."""
    methods: set[str] = set()
    for context in route_contexts(app):
        route = context.original_route
        route_methods = getattr(route, "methods", None)
        if route_methods and route.matches(scope)[0] != Match.NONE:
            methods |= set(route_methods)
    return sorted(methods)


def install(app: FastAPI) -> None:
    for cls, _ in STATUS:
        app.add_exception_handler(cls, domain_error)
    app.add_exception_handler(RequestValidationError, invalid_request)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(app, dict(request.scope)))
        if _is_serving(request) or (exc.status_code == 404 and _wants_page(request)):
            # TF Serving's shape (e.g. a body that is not UTF-8), or a page that says so
            detail = (f"there is no page at {request.url.path[:200]}" if not _is_serving(request)
                      else str(exc.detail))
            response = _respond(request, exc.status_code, detail)
            response.headers.update(headers)
            return response
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                            headers=headers)

    app.add_exception_handler(StarletteHTTPException, http_error)
