"""The Draw page: a canvas, the prediction, and the feature maps of every layer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from app import inference
from app.imaging import ImageLimits
from app.kernel_lab import fmt
from app.registry import DEFAULT_MODEL, check_id, get_model, list_models
from app.routes.predict import decode_data_url
from app.web import settings_of, templates

router = APIRouter(include_in_schema=False)


@router.get("/draw", response_class=HTMLResponse)
def draw_page(request: Request, model: str = DEFAULT_MODEL) -> Response:
    models = list_models()
    selected = model if any(m.id == model for m in models) else DEFAULT_MODEL
    return templates.TemplateResponse(request, "draw.html", {
        "active": "draw", "models": models, "selected": selected,
    })


def kernel_lab_link(weights: list[list[float]]) -> str:
    """The Kernel Lab with this learned kernel as a custom grid, on a real digit."""
    from urllib.parse import urlencode

    n = len(weights)
    pairs: list[tuple[str, Any]] = [("source", "sample:digit-3"), ("kernel", "custom"),
                                    ("ksize", n if n in (3, 5, 7) else 3)]
    pairs += [("k", fmt(v)) for row in weights for v in row]
    return "/kernel-lab?" + urlencode(pairs)


@router.post("/draw/analyze", response_class=HTMLResponse)
async def analyze(request: Request) -> Response:
    settings = settings_of(request)
    form = await request.form(max_files=0, max_fields=10,
                              max_part_size=settings.max_request_bytes)
    info = get_model(check_id(str(form.get("model") or DEFAULT_MODEL)))
    img = decode_data_url(str(form.get("image") or ""),
                          ImageLimits(settings.max_upload_bytes, settings.max_image_pixels))
    x = inference.prepare(img, info)
    maps = await run_in_threadpool(inference.feature_maps, info.id, x)
    links = ([kernel_lab_link(w) for w in maps.kernels.weights]
             if maps.kernels is not None and info.input_shape[2] == 1 else [])
    return templates.TemplateResponse(request, "partials/draw_analysis.html", {
        "maps": maps, "info": info, "kernel_links": links,
        "bars": list(zip(info.class_names, maps.prediction.probabilities, strict=False)),
    })
