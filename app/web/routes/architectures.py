"""Architectures over HTTP: the lesson presets, and a summary computed as Keras would."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from app.networks.architecture import ArchitectureSpec, Summary, check
from app.networks.presets import PRESETS
from app.web.dependencies import SettingsDep
from app.web.schemas import BODY_ERRORS, responses

router = APIRouter(tags=["architectures"])


class PresetOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    label: str
    lesson: str
    dataset: str
    architecture: dict[str, Any]
    training: dict[str, Any]
    reported_test_accuracy: float | None
    note: str


class LayerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    type: str
    output_shape: list[int | None]
    params: int


class SummaryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    layers: list[LayerOut]
    total_params: int
    trainable_params: int
    non_trainable_params: int


def summary_out(summary: Summary) -> SummaryOut:
    return SummaryOut.model_validate(summary)


@router.get("/api/presets", response_model=list[PresetOut])
def presets() -> list[PresetOut]:
    """The lesson models, with the training settings and test accuracy each lesson reports."""
    return [PresetOut.model_validate(p) for p in PRESETS]


@router.post("/api/architectures/summary", response_model=SummaryOut,
             responses={**BODY_ERRORS, **responses(
                 e422="A bad argument, or an impossible model: named by layer")})
def architecture_summary(spec: ArchitectureSpec, settings: SettingsDep) -> SummaryOut:
    """Output shape and parameters per layer, exactly as Keras' `model.summary()` counts
    them, computed without building anything; an impossible model is a 422 naming the layer."""
    return summary_out(check(spec, settings.max_layers, settings.max_params))
