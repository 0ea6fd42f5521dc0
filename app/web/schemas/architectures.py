"""Architectures as the API answers them: the presets, and a model's summary."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from app.networks.architecture import Summary


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
