"""The FastAPI application: `uvicorn app.main:app`, or `cnn-playground serve`."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from app import __version__, inference, startup
from app.config import Settings, get_settings
from app.db import sessions
from app.errors import InvalidInput, LimitExceeded
from app.jobs import JobNotFound
from app.middleware import BodySizeLimit, SecurityHeaders, StartupGuard
from app.ownership import NotOwner
from app.registry import DEFAULT_MODEL, ModelNotFound
from app.resources import STATIC_DIR
from app.routes import builder, draw, health, jobs, kernel_lab, models, pages, predict
from app.supervisor import Supervisor
from app.web import describe_errors, error_items, is_htmx, templates


def _error_response(request: Request, status: int, errors: list[dict]) -> Response:
    if is_htmx(request):
        return templates.TemplateResponse(
            request, "partials/errors.html", {"errors": describe_errors(errors)}, status_code=status
        )
    return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=status)


def _message_response(request: Request, status: int, message: str) -> Response:
    """A refusal that is not about one field: `{"detail": message}`, or a message for htmx."""
    if is_htmx(request):
        return templates.TemplateResponse(request, "partials/errors.html", {"errors": [message]},
                                          status_code=status)
    return JSONResponse({"detail": message}, status_code=status)


def _document_manual_bodies(app: FastAPI, *models: type[BaseModel]) -> None:
    """Add the schemas of bodies that routes parse themselves (JSON or form) to the OpenAPI."""

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in models:
                js = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(js.pop("$defs", {}))
                components[model.__name__] = js
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    sessions(settings)  # create the database (and its tables) before anything needs it
    # Starts the embedded workers (if any), and fails jobs whose worker is gone, wherever
    # it ran: also with CNNPG_WORKERS=0, when workers on other machines take the jobs.
    supervisor = Supervisor(settings)
    supervisor.start()
    # Load the default model in the background: /healthz answers at once, and the first
    # visitor to the Draw page does not wait for TensorFlow to start.
    threading.Thread(target=inference.warm_up, args=(DEFAULT_MODEL,), daemon=True,
                     name="warm-up").start()
    try:
        yield
    finally:
        supervisor.stop()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        lifespan=lifespan,
        title="CNN Playground",
        version=__version__,
        description="Learn and demonstrate convolutional neural networks. "
        "Errors are 4xx with `detail` naming the field and the reason.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings

    @app.exception_handler(InvalidInput)
    async def invalid_input(request: Request, exc: InvalidInput) -> Response:
        status = exc.status_code if isinstance(exc, LimitExceeded) else 422
        return _error_response(request, status, error_items(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        errors = [{k: e[k] for k in ("loc", "msg", "type") if k in e} for e in exc.errors()]
        return _error_response(request, 422, errors)

    @app.exception_handler(ModelNotFound)
    async def model_not_found(request: Request, exc: ModelNotFound) -> Response:
        where = "query" if "model" in request.query_params else "path"
        return _error_response(request, 404, [{"loc": [where, "model"], "msg": str(exc),
                                               "type": "not_found"}])

    @app.exception_handler(inference.ModelUnavailable)
    async def model_unavailable(request: Request, exc: inference.ModelUnavailable) -> Response:
        return _message_response(request, 503, str(exc))

    @app.exception_handler(NotOwner)
    async def not_owner(request: Request, exc: NotOwner) -> Response:
        return _message_response(request, 403, str(exc))

    @app.exception_handler(JobNotFound)
    async def job_not_found(request: Request, exc: JobNotFound) -> Response:
        return _error_response(request, 404, [{"loc": ["path", "job_id"], "msg": str(exc),
                                               "type": "not_found"}])

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(health.router)
    app.include_router(kernel_lab.router)
    app.include_router(predict.router)
    app.include_router(models.router)
    app.include_router(draw.router)
    app.include_router(jobs.router)
    app.include_router(builder.router)
    app.include_router(pages.router)
    _document_manual_bodies(app, kernel_lab.ConvolveRequest, predict.PredictJSON)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes,
                       max_json_bytes=settings.max_json_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(StartupGuard, check=lambda: startup.check(settings))
    return app


app = create_app()
