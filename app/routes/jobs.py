"""Architectures, presets and training jobs over HTTP (JSON)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from app import jobs, ownership, queue
from app.architecture import ArchitectureSpec, Summary, check
from app.presets import PRESETS
from app.web import give_token, owner_token, presented_token, settings_of

router = APIRouter()


class LayerOut(BaseModel):
    name: str
    type: str
    output_shape: list[int | None]
    params: int


class SummaryOut(BaseModel):
    layers: list[LayerOut]
    total_params: int
    trainable_params: int
    non_trainable_params: int


def summary_json(summary: Summary) -> dict[str, Any]:
    return {
        "layers": [{"name": r.name, "type": r.type, "output_shape": list(r.output_shape),
                    "params": r.params} for r in summary.layers],
        "total_params": summary.total_params,
        "trainable_params": summary.trainable_params,
        "non_trainable_params": summary.total_params - summary.trainable_params,
    }


@router.get("/api/presets", tags=["architectures"])
def presets() -> list[dict[str, Any]]:
    """The lesson models, with the training settings and test accuracy each lesson reports."""
    return [p.as_dict() for p in PRESETS]


@router.post("/api/architectures/summary", response_model=SummaryOut, tags=["architectures"])
def architecture_summary(spec: ArchitectureSpec, request: Request) -> dict[str, Any]:
    """Output shape and parameters per layer, exactly as Keras' `model.summary()` counts
    them, computed without building anything; an impossible model is a 422 naming the layer."""
    settings = settings_of(request)
    return summary_json(check(spec, settings.max_layers, settings.max_params))


class JobCreated(BaseModel):
    id: str
    status: str


@router.post("/api/jobs", status_code=202, response_model=JobCreated, tags=["jobs"],
             responses={429: {"description": "The queue is full"}})
def create_job(req: jobs.JobRequest, request: Request) -> Response:
    """Queue a training job; a worker process trains it. The response carries the owner
    token (`X-Owner-Token` header and an HttpOnly cookie): send it back to cancel the job
    or delete its model."""
    token, _ = owner_token(request)
    row = jobs.create(req, settings_of(request), ownership.owner_hash(token))
    queue.enqueue(row.id)
    return give_token(JSONResponse({"id": row.id, "status": row.status}, status_code=202), token)


@router.get("/api/jobs", tags=["jobs"])
def list_jobs(request: Request) -> list[dict[str, Any]]:
    """Every job, newest first, with status, progress and result."""
    token = presented_token(request)
    return [jobs.public(r, token) for r in jobs.list_jobs(settings_of(request))]


@router.get("/api/jobs/{job_id}", tags=["jobs"], responses={404: {"description": "No such job"}})
def get_job(job_id: str, request: Request) -> dict[str, Any]:
    return jobs.public(jobs.get(settings_of(request), job_id), presented_token(request))


@router.post("/api/jobs/{job_id}/cancel", tags=["jobs"],
             responses={403: {"description": "Not the job's owner"},
                        404: {"description": "No such job"},
                        409: {"description": "The job has already finished"}})
def cancel_job(job_id: str, request: Request) -> Response:
    """Cancel a queued job at once, or stop a running one within two seconds (the job's
    owner token, or the administrator's)."""
    token = presented_token(request)
    try:
        row = jobs.request_cancel(settings_of(request), job_id, token)
    except jobs.JobFinished as exc:
        return JSONResponse({"detail": str(exc)}, status_code=409)
    return JSONResponse(jobs.public(row, token))
