"""The FastAPI application. `create_app(settings)` makes one; it owns its services."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from app import __version__, startup
from app.config import Settings, load_settings
from app.networks.registry import DEFAULT_MODEL
from app.resources import STATIC_DIR
from app.services import Services
from app.training.supervisor import Supervisor
from app.web import errors
from app.web.middleware import BodySizeLimit, SecurityHeaders, StartupGuard
from app.web.routes import (
    architectures,
    classes,
    datasets,
    draw,
    explain,
    health,
    inference_protocol,
    insight,
    jobs,
    kernel_lab,
    lessons,
    models,
    pages,
    predict,
    serving,
    share,
    sweeps,
)
from app.web.routing import openapi_with_form_bodies
from app.web.timing import ServerTiming

# One module per resource, each with its API and page routers side by side in `router`.
RESOURCES = (health, predict, serving, inference_protocol, kernel_lab, architectures, jobs, sweeps,
             models, datasets, explain, insight, draw, classes, lessons, pages, share)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Build the services (the database is already migrated: StartupGuard), start the
    workers' supervisor, and load the default model in the background, so /healthz answers
    at once and the first visitor to Draw does not wait for TensorFlow."""
    settings: Settings = app.state.settings
    services = Services.build(settings)
    app.state.services = services
    app.state.live = jobs.live_jobs(services)  # job pages' server-sent updates
    sweeps.follow_sweeps(app.state.live, services)  # and sweep pages'
    app.state.live.end_streams_on_exit_signals()
    # Starts the embedded workers (if any), and fails jobs whose worker is gone, wherever
    # it ran: also with CNNPG_WORKERS=0, when workers on other machines take the jobs.
    supervisor = Supervisor(settings, services.jobs)
    supervisor.start()
    warm_up = threading.Thread(target=services.models.warm_up, args=(DEFAULT_MODEL,), daemon=True,
                               name="warm-up")
    warm_up.start()
    try:
        yield
    finally:
        supervisor.stop()
        # TensorFlow aborts the whole process if it exits while a thread is still importing
        # it: a server stopped during its first seconds waits for the warm-up to finish.
        warm_up.join(60)
        services.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
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
    errors.install(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in RESOURCES:
        app.include_router(module.router)

    def openapi() -> dict[str, Any]:
        return openapi_with_form_bodies(app)

    app.openapi = openapi  # type: ignore[method-assign]
    # A dataset's zip (and the few form fields beside it) may be larger than other requests.
    zip_body = (settings.max_dataset_zip_bytes + 64 * 1024, "CNNPG_MAX_DATASET_ZIP_BYTES")
    model_body = (settings.max_model_upload_bytes + 64 * 1024, "CNNPG_MAX_MODEL_UPLOAD_BYTES")
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes,
                       max_json_bytes=settings.max_json_bytes,
                       uploads={"/api/datasets": zip_body, "/datasets/upload": zip_body,
                                "/api/models": model_body, "/models/upload": model_body})
    app.add_middleware(SecurityHeaders)
    app.add_middleware(ServerTiming)
    app.add_middleware(StartupGuard, check=lambda: startup.prepare(settings))
    return app
