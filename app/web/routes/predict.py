"""Predictions and feature maps: `POST /predict` and `POST /api/models/{id}/feature-maps`,
each taking JSON (pixels or a data URL) or a multipart form with an image file."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, File, Path, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator
from pydantic.json_schema import SkipJsonSchema

from app.config import Settings
from app.datasets.catalog import DatasetCatalog
from app.imaging.decoding import DATA_URL_PATTERN, ImageLimits, decode_data_url, open_image
from app.networks import inference, inputs
from app.networks.registry import DEFAULT_MODEL, MODEL_ID_PATTERN, ModelInfo
from app.validation import NotNull
from app.web.dependencies import DatasetsDep, ModelsDep, RegistryDep, ServicesDep, SettingsDep
from app.web.routing import FormBodyRoute, JSONBodyRoute
from app.web.schemas import BODY_ERRORS, FORM_ERRORS, responses
from app.web.uploads import files_are_files, read_upload

json_router = APIRouter(route_class=JSONBodyRoute, responses=BODY_ERRORS)
form_router = APIRouter(route_class=FormBodyRoute, dependencies=[Depends(files_are_files)])

Intensity = Annotated[float, Field(ge=0, le=255, strict=True, allow_inf_nan=False)]
PixelRows = Annotated[list[Annotated[list[Intensity], Field(min_length=1, max_length=2048)]],
                      Field(min_length=1, max_length=2048)]
PixelCube = Annotated[list[Annotated[list[Annotated[list[Intensity], Field(
    min_length=1, max_length=4)]], Field(min_length=1, max_length=2048)]],
    Field(min_length=1, max_length=2048)]


def _pixel_layout(v: Any) -> str:
    """H×W when a row holds numbers, H×W×C when it holds pixels (lists of channels)."""
    try:
        return "H×W×C" if isinstance(v[0][0], list | tuple) else "H×W"
    except (TypeError, IndexError, KeyError):
        return "H×W"


Pixels = Annotated[Annotated[PixelRows, Tag("H×W")] | Annotated[PixelCube, Tag("H×W×C")],
                   Discriminator(_pixel_layout)]
INPUT_KEYS = ("pixels", "image", "test_index")


class ImageInput(BaseModel):
    """Exactly one of: pixels, an image as a data URL, or a test image of the model's dataset."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "oneOf": [{"required": [key]} for key in INPUT_KEYS]})

    pixels: Annotated[Pixels | SkipJsonSchema[None], NotNull] = Field(
        None, description="H×W (or H×W×C) numbers 0–255; a drawn digit in either polarity.")
    image: Annotated[Annotated[str, Field(pattern=DATA_URL_PATTERN, max_length=20_000_000)]
                     | SkipJsonSchema[None], NotNull] = Field(
        None, description="An image as a data URL: data:image/png;base64,…")
    test_index: Annotated[Annotated[int, Field(ge=0, le=1_000_000, strict=True)]
                          | SkipJsonSchema[None], NotNull] = Field(
        None, description="Image N of the test split of the model's dataset.")

    @model_validator(mode="after")
    def _exactly_one(self) -> ImageInput:
        given = [k for k in INPUT_KEYS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"send exactly one of {', '.join(map(repr, INPUT_KEYS))}")
        return self
ModelQuery = Annotated[str, Query(pattern=MODEL_ID_PATTERN, max_length=64,
                                  description="A model id from GET /api/models.")]
ModelPath = Annotated[str, Path(pattern=MODEL_ID_PATTERN, max_length=64,
                                description="A model id from GET /api/models.")]
ImageFile = Annotated[UploadFile, File(description="PNG, JPEG, WebP or GIF, any size")]


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


def limits_of(settings: Settings) -> ImageLimits:
    return ImageLimits(settings.max_upload_bytes, settings.max_image_pixels)


def json_input(body: ImageInput, info: ModelInfo, settings: Settings,
               datasets: DatasetCatalog) -> np.ndarray:
    """The input object, prepared for this model exactly as /predict prepares it."""
    if body.pixels is not None:
        return inference.prepare_pixels(body.pixels, info)
    if body.test_index is not None:
        return inputs.test_image(datasets, info, body.test_index)[0]
    return inference.prepare(decode_data_url(str(body.image), limits_of(settings)), info)


async def file_input(file: UploadFile, info: ModelInfo, settings: Settings) -> np.ndarray:
    raw = await read_upload(file, settings.max_upload_bytes)
    return inference.prepare(open_image(raw, limits_of(settings)), info, "file")


@json_router.post("/predict", response_model=PredictResponse, tags=["predict"],
                  responses=PREDICT_ERRORS)
async def predict(body: ImageInput, services: ServicesDep,
                  model: ModelQuery = DEFAULT_MODEL) -> Response:
    """Classify a drawn or photographed digit (or any image, for an image model).

    JSON `{"pixels": …}`, `{"image": "data:…"}` or `{"test_index": N}`, or a multipart form
    with the image as `file`."""
    info = services.registry.get(model, "query.model")
    x = json_input(body, info, services.settings, services.datasets)
    return prediction_response(inference.predict(services.models.get(info.id), x))


@form_router.post("/predict", response_model=PredictResponse, tags=["predict"],
                  responses={**PREDICT_ERRORS, **FORM_ERRORS})
async def predict_file(file: ImageFile, services: ServicesDep,
                       model: ModelQuery = DEFAULT_MODEL) -> Response:
    info = services.registry.get(model, "query.model")
    x = await file_input(file, info, services.settings)
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
                             models: ModelsDep, settings: SettingsDep,
                             datasets: DatasetsDep) -> Any:
    info = registry.get(model_id, "path.model_id")
    return await _feature_maps(models, info, json_input(body, info, settings, datasets))


@form_router.post("/api/models/{model_id}/feature-maps", response_model=FeatureMapsResponse,
                  tags=["models"], responses={**PREDICT_ERRORS, **FORM_ERRORS},
                  description=MAPS_DOC)
async def model_feature_maps_file(model_id: ModelPath, file: ImageFile, registry: RegistryDep,
                                  models: ModelsDep, settings: SettingsDep) -> Any:
    info = registry.get(model_id, "path.model_id")
    return await _feature_maps(models, info, await file_input(file, info, settings))
