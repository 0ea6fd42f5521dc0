"""Predictions and feature maps: `POST /predict` and `POST /api/models/{id}/feature-maps`,
each taking JSON (pixels or a data URL) or a multipart form with an image file."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, File, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, Field

from app.config import Settings
from app.networks import inference
from app.networks.inputs import ImageFile, ModelInputs
from app.networks.registry import DEFAULT_MODEL, ModelInfo
from app.web.dependencies import ModelsDep, RegistryDep, ServicesDep, SettingsDep
from app.web.model_input import ImageInput, InputsDep, ModelPath, ModelQuery
from app.web.routing import FormBodyRoute, JSONBodyRoute
from app.web.schemas import BODY_ERRORS, FORM_ERRORS, responses
from app.web.uploads import files_are_files, read_upload

json_router = APIRouter(route_class=JSONBodyRoute, responses=BODY_ERRORS)
form_router = APIRouter(route_class=FormBodyRoute, dependencies=[Depends(files_are_files)])

UploadedImage = Annotated[UploadFile, File(description="PNG, JPEG, WebP or GIF, any size")]


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


PREDICT_ERRORS = responses(e404="No such model",
                           e422="Bad input: not an image, no digit found, or a bad field",
                           e503="The model's file cannot be loaded")


async def file_input(file: UploadFile, info: ModelInfo, settings: Settings,
                     model_inputs: ModelInputs) -> np.ndarray:
    raw = await read_upload(file, settings.max_upload_bytes)
    return model_inputs.prepare(ImageFile(raw), info).x


@json_router.post("/predict", response_model=PredictResponse, tags=["predict"],
                  responses=PREDICT_ERRORS)
async def predict(body: ImageInput, services: ServicesDep,
                  model: ModelQuery = DEFAULT_MODEL) -> Response:
    """Classify a drawn or photographed digit (or any image, for an image model).

    JSON `{"pixels": …}`, `{"image": "data:…"}` or `{"test_index": N}`, or a multipart form
    with the image as `file`."""
    info = services.registry.get(model, "query.model")
    x = services.inputs.prepare(body.source(), info).x
    return prediction_response(inference.predict(services.models.get(info.id), x))


@form_router.post("/predict", response_model=PredictResponse, tags=["predict"],
                  responses={**PREDICT_ERRORS, **FORM_ERRORS})
async def predict_file(file: UploadedImage, services: ServicesDep,
                       model: ModelQuery = DEFAULT_MODEL) -> Response:
    info = services.registry.get(model, "query.model")
    x = await file_input(file, info, services.settings, services.inputs)
    return prediction_response(inference.predict(services.models.get(info.id), x))


def prediction_response(prediction: inference.Prediction) -> Response:
    """The answer, serialized once: /predict is the hot path (DESIGN.md: at most 2× /healthz),
    so it skips FastAPI's second validation of a model it has just built. The
    response_model above still documents it."""
    body = PredictResponse(**asdict(prediction)).model_dump_json()
    return Response(body, media_type="application/json")


def feature_maps_out(maps: inference.FeatureMaps) -> FeatureMapsResponse:
    return FeatureMapsResponse(
        **asdict(maps.prediction),
        input=maps.input_image,
        layers=[LayerMapsOut(name=lm.name, type=lm.type, shape=lm.shape,
                             range=Range(min=lm.scale.minimum, max=lm.scale.maximum),
                             channels=lm.channels) for lm in maps.layers],
        kernels=None if maps.kernels is None else KernelsOut(**asdict(maps.kernels)),
    )


async def _feature_maps(models: inference.LoadedModels, info: ModelInfo,
                        x: np.ndarray) -> FeatureMapsResponse:
    maps = await run_in_threadpool(inference.feature_maps, models.get(info.id), x)
    return feature_maps_out(maps)


MAPS_DOC = ("Each Conv2D and pooling layer's activations for one input (an image per channel), "
            "the first layer's learned kernels, and the probabilities.")


@json_router.post("/api/models/{model_id}/feature-maps", response_model=FeatureMapsResponse,
                  tags=["models"], responses=PREDICT_ERRORS, description=MAPS_DOC)
async def model_feature_maps(model_id: ModelPath, body: ImageInput, registry: RegistryDep,
                             models: ModelsDep, model_inputs: InputsDep) -> Any:
    info = registry.get(model_id, "path.model_id")
    return await _feature_maps(models, info, model_inputs.prepare(body.source(), info).x)


@form_router.post("/api/models/{model_id}/feature-maps", response_model=FeatureMapsResponse,
                  tags=["models"], responses={**PREDICT_ERRORS, **FORM_ERRORS},
                  description=MAPS_DOC)
async def model_feature_maps_file(model_id: ModelPath, file: UploadedImage,
                                  registry: RegistryDep, models: ModelsDep,
                                  settings: SettingsDep, model_inputs: InputsDep) -> Any:
    info = registry.get(model_id, "path.model_id")
    return await _feature_maps(models, info, await file_input(file, info, settings,
                                                              model_inputs))
