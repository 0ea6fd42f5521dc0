"""Liveness: touches nothing heavy."""

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

router = APIRouter()


class Health(BaseModel):
    status: Literal["ok"]


@router.get("/healthz", tags=["meta"], response_model=Health)
async def healthz() -> Health:
    return Health(status="ok")
