"""ASGI middleware: a request body limit and the security headers of every response."""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.web.routing import is_serving_path

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in names]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


class StartupGuard:
    """Refuse to start, with one clear line, when the data directory or database is unusable.

    Reporting `lifespan.startup.failed` ourselves makes uvicorn print our message and exit,
    where an exception inside the app's lifespan would print a traceback.
    """

    def __init__(self, app: ASGIApp, check: Callable[[], None]) -> None:
        self.app = app
        self.check = check

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            from app.startup import StartupError

            try:
                self.check()
            except StartupError as exc:
                await receive()  # lifespan.startup
                await send({"type": "lifespan.startup.failed", "message": f"cannot start: {exc}"})
                return
        await self.app(scope, receive, send)


class _TooLarge(Exception):
    pass


def _declared_length(headers: dict[bytes, bytes]) -> int:
    """The body's length as its Content-Length declares it (0 when absent or not a number:
    the streamed body is counted all the same)."""
    try:
        return int(headers.get(b"content-length", b"0"))
    except ValueError:
        return 0


class BodySizeLimit:
    """Refuse (413) any request body over `max_bytes`, declared or streamed, before it is read.

    `uploads` gives paths that take larger bodies (a dataset's zip) their own limit and the
    setting that names it."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_json_bytes: int | None = None,
                 uploads: dict[str, tuple[int, str]] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_json_bytes = max_json_bytes or max_bytes
        self.uploads = uploads or {}

    async def _refuse(self, scope: Scope, send: Send, limit: int, setting: str) -> None:
        message = f"over the limit of {limit} bytes ({setting})"
        refusal: dict[str, object] = {"detail": [{"loc": ["body"], "msg": message,
                                                  "type": "too_large"}]}
        if is_serving_path(scope.get("path", "")):  # as serving clients read errors
            refusal = {"error": f"body: {message}", **refusal}
        body = json.dumps(refusal).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    def _limit_for(self, scope: Scope, headers: dict[bytes, bytes]) -> tuple[int, str]:
        """The body limit of this request and the setting that names it: an upload path's
        own, JSON's, or every request's."""
        if scope.get("path") in self.uploads:
            return self.uploads[scope["path"]]
        if headers.get(b"content-type", b"").startswith(b"application/json"):
            return min(self.max_json_bytes, self.max_bytes), "CNNPG_MAX_JSON_BYTES"
        return self.max_bytes, "CNNPG_MAX_REQUEST_BYTES"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        limit, setting = self._limit_for(scope, headers)
        if _declared_length(headers) > limit:
            await self._refuse(scope, send, limit, setting)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(scope, send, limit, setting)
