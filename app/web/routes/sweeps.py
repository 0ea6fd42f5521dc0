"""Hyperparameter sweeps: start one, read it, cancel it (API)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from app.training.sweeps import SweepRequest, SweepStore
from app.training.taskqueue import JobQueue
from app.web.dependencies import QueueDep, SweepsDep, TokenDep
from app.web.schemas import BODY_ERRORS, responses
from app.web.schemas.sweeps import SweepCreated, SweepOut, SweepPath
from app.web.tokens import give_token, token_or_new

api = APIRouter(tags=["sweeps"])
NOT_FOUND = responses(e404="No such sweep")


def start(req: SweepRequest, sweeps: SweepStore, queue: JobQueue, token: str) -> SweepCreated:
    row, jobs = sweeps.create(req, token)
    for job in jobs:
        queue.enqueue(job.id)
    return SweepCreated(id=row.id, jobs=[j.id for j in jobs])


@api.post("/api/sweeps", status_code=202, response_model=SweepCreated,
          responses={**BODY_ERRORS, **responses(
              e403="Visitors may not train on this server (CNNPG_VISITOR_JOBS=0)",
              e413="The storage its models need is full (the message names the quota)",
              e422="A setting that is not one, a value not valid for its setting (both "
                   "named), an impossible model, or more runs than CNNPG_MAX_SWEEP_JOBS",
              e429="The runs would pass the queue limit, in all or for this client")})
def create_sweep(req: SweepRequest, sweeps: SweepsDep, queue: QueueDep, token: TokenDep
                 ) -> Response:
    """Train one model over a grid of settings: every combination of the values in `vary`
    is a run, an ordinary job of this client (cancel, compare, replay each), checked as
    `POST /api/jobs` checks a job, all with the same seed unless the seed is varied. The
    response carries the owner token, as a job's does."""
    token, _ = token_or_new(token)
    body = start(req, sweeps, queue, token)
    return give_token(JSONResponse(body.model_dump(), status_code=202), token)


@api.get("/api/sweeps/{sweep_id}", response_model=SweepOut, responses=NOT_FOUND)
def get_sweep(sweep_id: SweepPath, sweeps: SweepsDep, token: TokenDep) -> SweepOut:
    """The sweep: its runs with their values, status and results, the best run, and what
    mattered (each setting's effect on the test accuracy)."""
    return SweepOut.of(sweeps.get(sweep_id, "path.sweep_id"), token)


@api.post("/api/sweeps/{sweep_id}/cancel", response_model=SweepOut, responses={
    **NOT_FOUND, **responses(e403="Not the sweep's owner, its class's teacher or the "
                             "administrator", e409="No run is queued or running")})
def cancel_sweep(sweep_id: SweepPath, sweeps: SweepsDep, token: TokenDep) -> SweepOut:
    """Cancel the runs still queued (at once) or running (within a second or two); the
    finished runs are kept."""
    return SweepOut.of(sweeps.cancel(sweep_id, token, "path.sweep_id"), token)


router = APIRouter()
router.include_router(api)
