"""Liveness: touches nothing heavy."""

from fastapi import APIRouter

router = APIRouter()


@router.get("/healthz", tags=["meta"])
def healthz() -> dict[str, str]:
    return {"status": "ok"}
