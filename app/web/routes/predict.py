"""Predictions and feature maps: `POST /predict` and `POST /api/models/{id}/feature-maps`,
each taking JSON (pixels or a data URL) or a multipart form with an image file."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, File, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from app.config import Settings
from app.networks import inference
from app.networks.inputs import ImageFile, ModelInputs
from app.networks.registry import DEFAULT_MODEL, ModelInfo
from app.web.dependencies import ModelsDep, RegistryDep, ServicesDep, SettingsDep
from app.web.model_input import ImageInput, InputsDep, ModelPath, ModelQuery
from app.web.routing import FormBodyRoute, JSONBodyRoute
from app.web.schemas import BODY_ERRORS, FORM_ERRORS, responses
from app.web.schemas.predictions import FeatureMapsResponse, KernelsOut, LayerMapsOut, PredictResponse, Range
from app.web.uploads import files_are_files, read_upload

api_json = APIRouter(route_class=JSONBodyRoute, responses=BODY_ERRORS)
api_form = APIRouter(route_class=FormBodyRoute, dependencies=[Depends(files_are_files)])

UploadedImage = Annotated[UploadFile, File(description="PNG, JPEG, WebP or GIF, any size")]


PREDICT_ERRORS = responses(e404="No such model",
                           e422="Bad input: not an image, no digit found, or a bad field",
                           e503="The model's file cannot be loaded")


async def file_input(file: UploadFile, info: ModelInfo, settings: Settings,
                     model_inputs: ModelInputs) -> np.ndarray:
    raw = await read_upload(file, settings.max_upload_bytes)
    return model_inputs.prepare(ImageFile(raw), info).x


@api_json.post("/predict", response_model=PredictResponse, tags=["predict"],
                  responses=PREDICT_ERRORS)
async def predict(body: ImageInput, services: ServicesDep,
                  model: ModelQuery = DEFAULT_MODEL) -> Response:
    """Classify a drawn or photographed digit (or any image, for an image model).

    JSON `{"pixels": …}`, `{"image": "data:…"}` or `{"test_index": N}`, or a multipart form
    with the image as `file`."""
    info = services.registry.get(model, "query.model")
    x = services.inputs.prepare(body.source(), info).x
    return prediction_response(inference.predict(services.models.get(info.id), x))


@api_form.post("/predict", response_model=PredictResponse, tags=["predict"],
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


@api_json.post("/api/models/{model_id}/feature-maps", response_model=FeatureMapsResponse,
                  tags=["models"], responses=PREDICT_ERRORS, description=MAPS_DOC)
async def model_feature_maps(model_id: ModelPath, body: ImageInput, registry: RegistryDep,
                             models: ModelsDep, model_inputs: InputsDep) -> Any:
    info = registry.get(model_id, "path.model_id")
    return await _feature_maps(models, info, model_inputs.prepare(body.source(), info).x)


@api_form.post("/api/models/{model_id}/feature-maps", response_model=FeatureMapsResponse,
                  tags=["models"], responses={**PREDICT_ERRORS, **FORM_ERRORS},
                  description=MAPS_DOC)
async def model_feature_maps_file(model_id: ModelPath, file: UploadedImage,
                                  registry: RegistryDep, models: ModelsDep,
                                  settings: SettingsDep, model_inputs: InputsDep) -> Any:
    info = registry.get(model_id, "path.model_id")
    return await _feature_maps(models, info, await file_input(file, info, settings,
                                                              model_inputs))


router = APIRouter()
router.include_router(api_json)
router.include_router(api_form)
