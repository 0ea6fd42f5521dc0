"""One path, two kinds of body: JSON, or a form with a file.

`POST /predict`, `POST /api/convolve` and `POST /api/models/{id}/feature-maps` take JSON
or a multipart form (DESIGN.md). FastAPI parses one kind of body per route, so each
kind is its own route at the same path: `FormBodyRoute` takes the form content types and
`JSONBodyRoute` every other request (FastAPI then answers a non-JSON body with its 422).
Each route is parsed and documented by FastAPI itself; `openapi()` lists both bodies
under the one operation, taking each from FastAPI's own schema for its route.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from typing import Any, ClassVar

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from starlette.convertors import Convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import Scope

FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
SERVING_PREFIXES = ("/v1/", "/v2/")  # TensorFlow Serving, the Open Inference Protocol


def is_serving_path(path: str) -> bool:
    """A serving protocol's path: its errors are `{"error": …}`, as its clients read them."""
    return path == "/v2" or path.startswith(SERVING_PREFIXES)


class ModelNameConvertor(Convertor[str]):
    """A path segment in a model id's characters (app.networks.registry.MODEL_ID_PATTERN)."""

    regex = "[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


def content_type(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return str(value.decode("latin-1").split(";")[0].strip().lower())
    return ""


class _BodyRoute(APIRoute):
    takes_forms: ClassVar[bool]

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is Match.FULL and (content_type(scope) in FORM_TYPES) != self.takes_forms:
            return Match.NONE, {}
        return match, child


class JSONBodyRoute(_BodyRoute):
    takes_forms = False


class FormBodyRoute(_BodyRoute):
    takes_forms = True


class AnyTypeJSONRoute(APIRoute):
    """A JSON body whatever its content type says, as TensorFlow Serving and Open Inference
    Protocol servers read it: `curl -d` sends `application/x-www-form-urlencoded`,
    tritonclient no content type at all, its asyncio client `application/octet-stream`.
    FastAPI parses the body as JSON only under a JSON content type, so the request reaches
    it saying so (`prepare`, which subclasses extend)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            return await handler(await self.prepare(request))

        return route

    async def prepare(self, request: Request) -> Request:
        return as_json(request)


def as_json(request: Request, body: bytes | None = None, **scope: Any) -> Request:
    """The same request with a JSON content type (and this body, and these scope keys)."""
    headers = [(k, v) for k, v in request.scope["headers"] if k != b"content-type"]
    headers.append((b"content-type", b"application/json"))
    out = Request({**request.scope, **scope, "headers": headers}, request.receive)
    if body is not None:
        out._body = body  # read once already: FastAPI takes it from here
    return out


def route_contexts(app: FastAPI) -> Iterator[RouteContext]:
    """Every route of the app, those of included routers too."""
    yield from iter_route_contexts(app.routes)


def openapi_with_form_bodies(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI, each form route's body added to the operation it shares a path with."""
    if app.openapi_schema is not None:
        return app.openapi_schema

    def generate(routes: list[RouteContext]) -> dict[str, Any]:
        return get_openapi(title=app.title, version=app.version, description=app.description,
                           routes=routes)

    contexts = list(route_contexts(app))
    forms = [c for c in contexts if isinstance(c.original_route, FormBodyRoute)
             and c.original_route.include_in_schema]
    schema = generate([c for c in contexts if not isinstance(c.original_route, FormBodyRoute)])
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for context in forms:
        path = str(context.path_format)
        extra = generate([context])
        components.update(extra.get("components", {}).get("schemas", {}))
        for method, operation in extra["paths"][path].items():
            target = schema["paths"].setdefault(path, {}).setdefault(method, operation)
            if target is operation:
                continue
            body = target.setdefault("requestBody", {"required": True, "content": {}})
            body["content"].update(operation.get("requestBody", {}).get("content", {}))
            for code, response in operation.get("responses", {}).items():
                target["responses"].setdefault(code, response)
    app.openapi_schema = schema
    return schema
