"""Predictions and feature maps as the API answers them."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PredictResponse(BaseModel):
    label: int
    probabilities: list[float]
    model: str
    class_name: str


class Range(BaseModel):
    min: float
    max: float


class LayerMapsOut(BaseModel):
    name: str
    type: str
    shape: list[int]
    range: Range
    channels: list[str] = Field(description="One PNG data URL per channel.")


class KernelsOut(BaseModel):
    layer: str
    shape: list[int]
    weights: list[list[list[float]]] = Field(description="Each filter's 2-D kernel on the "
                                             "first input channel.")
    images: list[str]


class FeatureMapsResponse(PredictResponse):
    input: str = Field(description="The image the network sees, as a PNG data URL.")
    layers: list[LayerMapsOut]
    kernels: KernelsOut | None
