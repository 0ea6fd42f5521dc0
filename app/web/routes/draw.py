"""The Draw page: a canvas, the prediction, and the feature maps of every layer."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

import numpy as np
from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from app.imaging.decoding import DATA_URL_PATTERN, decode_data_url
from app.lab.view import fmt
from app.networks import explain, explain_view, inference
from app.networks.registry import DEFAULT_MODEL, MODEL_ID_PATTERN
from app.web.dependencies import ModelsDep, RegistryDep, SettingsDep
from app.web.routes.predict import limits_of
from app.web.templating import templates

router = APIRouter(include_in_schema=False)


@router.get("/draw", response_class=HTMLResponse)
def draw_page(request: Request, registry: RegistryDep, model: str = DEFAULT_MODEL) -> Response:
    models = registry.list_models()
    selected = model if any(m.id == model for m in models) else DEFAULT_MODEL
    return templates.TemplateResponse(request, "draw.html", {
        "active": "draw", "models": models, "selected": selected,
    })


def kernel_lab_link(weights: list[list[float]]) -> str:
    """The Kernel Lab with this learned kernel as a custom grid, on a real digit."""
    n = len(weights)
    pairs: list[tuple[str, Any]] = [("source", "sample:digit-3"), ("kernel", "custom"),
                                    ("ksize", n if n in (3, 5, 7) else 3)]
    pairs += [("k", fmt(v)) for row in weights for v in row]
    return "/kernel-lab?" + urlencode(pairs)


class Drawing(BaseModel):
    image: str = Field(pattern=DATA_URL_PATTERN, max_length=20_000_000)
    model: str = Field(DEFAULT_MODEL, pattern=MODEL_ID_PATTERN)


@router.post("/draw/analyze", response_class=HTMLResponse)
async def analyze(request: Request, drawing: Annotated[Drawing, Form()], registry: RegistryDep,
                  models: ModelsDep, settings: SettingsDep) -> Response:
    info = registry.get(drawing.model)
    x = inference.prepare(decode_data_url(drawing.image, limits_of(settings)), info)
    maps, looked = await run_in_threadpool(_maps_and_gradcam, models.get(info.id), x)
    links = ([kernel_lab_link(w) for w in maps.kernels.weights]
             if maps.kernels is not None and info.input_shape[2] == 1 else [])
    return templates.TemplateResponse(request, "partials/draw_analysis.html", {
        "maps": maps, "info": info, "kernel_links": links,
        "bars": list(zip(info.class_names, maps.prediction.probabilities, strict=False)),
        "looked": looked,
        "explain_link": "/explain?" + urlencode({"model": info.id, "source": "draw",
                                                 "px": explain_view.encode_px(x)}),
    })


def _maps_and_gradcam(loaded: inference.LoadedModel, x: np.ndarray
                      ) -> tuple[inference.FeatureMaps, explain.Saliency]:
    """The feature maps, and where the network looked for its prediction (Grad-CAM)."""
    ex = explain.explainer(loaded)
    return (inference.feature_maps(loaded, x),
            ex.saliency(x, "gradcam" if ex.last_conv is not None else "gradient", None))
