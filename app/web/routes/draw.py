"""The Draw page: a canvas (or an upload, or a test image), the prediction, and the feature
maps of every layer; its link holds the model and the drawing (app/networks/draw_view.py)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import numpy as np
from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from app.config import Settings
from app.datasets.catalog import DatasetCatalog
from app.errors import InvalidInput, NotFound, Unavailable
from app.imaging.decoding import DATA_URL_PATTERN, decode_data_url
from app.lab.view import fmt
from app.networks import draw_view, explain, explain_view, inference, inputs
from app.networks.inference import LoadedModels
from app.networks.registry import DEFAULT_MODEL, MODEL_ID_PATTERN, ModelInfo, Registry
from app.validation import Blank
from app.web.dependencies import DatasetsDep, ModelsDep, RegistryDep, SettingsDep
from app.web.routes.predict import limits_of
from app.web.templating import templates

router = APIRouter(include_in_schema=False)


def _test_classes(info: ModelInfo, datasets: DatasetCatalog) -> list[str]:
    """The classes to pick a test image from, or none where the dataset is not here."""
    try:
        draw_view.test_count(info, datasets)
    except InvalidInput:
        return []
    return list(info.class_names)


@router.get("/draw", response_class=HTMLResponse)
def draw_page(request: Request, registry: RegistryDep, models: ModelsDep,
              datasets: DatasetsDep) -> Response:
    """`/draw?model=ID&d=…` (strokes), `&test=N` (a test image) or `&px=…` (an upload as the
    network saw it): a link that cannot be used as it is opens the nearest one that can."""
    link, info = draw_view.repair_link(request.query_params, registry, datasets)
    try:
        kernels = draw_view.kernels(models.get(info.id))
    except Unavailable:  # a model whose file cannot be loaded: the analysis will say so
        kernels = None
    return templates.TemplateResponse(request, "draw.html", {
        "active": "draw", "models": registry.list_models(), "info": info, "link": link,
        "kernels": kernels if info.input_shape[2] == 1 else None,
        "test_classes": _test_classes(info, datasets),
    })


def kernel_lab_link(weights: list[list[float]]) -> str:
    """The Kernel Lab with this learned kernel as a custom grid, on a real digit."""
    n = len(weights)
    pairs: list[tuple[str, Any]] = [("source", "sample:digit-3"), ("kernel", "custom"),
                                    ("ksize", n if n in (3, 5, 7) else 3)]
    pairs += [("k", fmt(v)) for row in weights for v in row]
    return "/kernel-lab?" + urlencode(pairs)


@router.get("/draw/kernel/{model}/{index}")
def open_kernel(model: str, index: int, registry: RegistryDep, models: ModelsDep) -> Response:
    """A learned kernel of the first layer in the Kernel Lab (the links on Draw's kernels and
    first-layer maps: a short link each, so an update need not carry 32 long ones)."""
    try:
        info = registry.get(model)
    except (NotFound, InvalidInput):
        return RedirectResponse("/draw?" + urlencode({"model": model[:64]}), status_code=303)
    weights = draw_view.kernel_weights(models.get(info.id), index)
    if weights is None or info.input_shape[2] != 1:
        return RedirectResponse("/draw?" + urlencode({"model": info.id}), status_code=303)
    return RedirectResponse(kernel_lab_link(weights), status_code=303)


SmallInt = Annotated[int | None, Blank, Field(ge=0, le=1_000_000)]


class Drawing(BaseModel):
    """One input: a drawing or upload (`image`), a test image (`test`, or the `pick` after
    `test` of class `test_class`), or the pixels a link holds (`px`)."""

    model: str = Field(DEFAULT_MODEL, pattern=MODEL_ID_PATTERN)
    image: Annotated[str | None, Blank, Field(pattern=DATA_URL_PATTERN, max_length=20_000_000)] = None
    px: Annotated[str | None, Blank, Field(pattern=r"^[A-Za-z0-9_-]*$", max_length=2_000_000)] = None
    test: SmallInt = None
    test_class: SmallInt = None
    pick: Literal["", "next"] = ""


def _input(drawing: Drawing, info: ModelInfo, settings: Settings,
           datasets: DatasetCatalog) -> tuple[np.ndarray, int | None, int | None]:
    """The model's input, and the test image's index and label when it is one."""
    if drawing.test_class is not None and drawing.pick:
        if drawing.test_class >= len(info.class_names):
            raise InvalidInput("test_class", f"{drawing.test_class} is out of range: {info.id} "
                               f"has {len(info.class_names)} classes")
        found = inputs.test_indices(datasets, info, drawing.test_class)
        if not found:
            raise InvalidInput("test_class", "no test image of class "
                               f"{info.class_names[drawing.test_class]!r} here")
        after = drawing.test if drawing.test is not None else -1
        index = next((i for i in found if i > after), found[0])
        x, label = inputs.test_image(datasets, info, index, "test")
        return x, index, label
    if drawing.test is not None:
        x, label = inputs.test_image(datasets, info, drawing.test, "test")
        return x, drawing.test, label
    if drawing.image is not None:
        return inference.prepare(decode_data_url(drawing.image, limits_of(settings)), info), None, None
    if drawing.px:
        return explain_view.decode_px(drawing.px, info.input_shape), None, None
    raise InvalidInput("image", "draw a digit, upload an image or pick a test image")


def _analysis(drawing: Drawing, registry: Registry, models: LoadedModels, settings: Settings,
              datasets: DatasetCatalog) -> dict[str, Any]:
    info = registry.get(drawing.model)
    x, index, label = _input(drawing, info, settings, datasets)
    result = draw_view.analyze(explain.explainer(models.get(info.id)), x)
    result.true_label = label
    return {
        "a": result, "info": info, "test": index,
        "bars": list(zip(info.class_names, result.prediction.probabilities, strict=False)),
        "keep_px": len(result.px) <= draw_view.MAX_URL_PX,
        "explain_link": "/explain?" + urlencode(
            {"model": info.id, "source": "test", "class": label, "index": index}
            if index is not None else {"model": info.id, "source": "draw", "px": result.px}),
    }


@router.post("/draw/analyze", response_class=HTMLResponse)
async def analyze(request: Request, drawing: Annotated[Drawing, Form()], registry: RegistryDep,
                  models: ModelsDep, settings: SettingsDep, datasets: DatasetsDep) -> Response:
    context = await run_in_threadpool(_analysis, drawing, registry, models, settings, datasets)
    return templates.TemplateResponse(request, "partials/draw_analysis.html", context)
