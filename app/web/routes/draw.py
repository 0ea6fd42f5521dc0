"""The Draw page: a canvas (or an upload, or a test image), the prediction, and the feature
maps of every layer; its link holds the model and the drawing (app/networks/draw/link.py)."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from app.errors import InvalidInput, NotFound, Unavailable
from app.formatting import fmt
from app.imaging.decoding import DATA_URL_PATTERN
from app.imaging.rendering import heat_legend_url
from app.networks import explain
from app.networks.draw import view as draw_view
from app.networks.draw.link import DrawContext, DrawLink
from app.networks.inference import LoadedModels
from app.networks.inputs import DataUrl, ModelInput, ModelInputs, Seen, TestImage, drawable
from app.networks.registry import DEFAULT_MODEL, MODEL_ID_PATTERN, ModelInfo, Registry
from app.validation import Blank
from app.web.dependencies import ModelsDep, RegistryDep
from app.web.model_input import InputsDep
from app.web.templating import templates

router = APIRouter(include_in_schema=False)


def _test_classes(info: ModelInfo, model_inputs: ModelInputs) -> list[str]:
    """The classes to pick a test image from, or none where the dataset is not here."""
    try:
        model_inputs.test_count(info)
    except InvalidInput:
        return []
    return list(info.class_names)


@router.get("/draw", response_class=HTMLResponse)
def draw_page(request: Request, registry: RegistryDep, models: ModelsDep,
              model_inputs: InputsDep) -> Response:
    """`/draw?model=ID&d=…` (strokes), `&test=N` (a test image) or `&px=…` (an upload as the
    network saw it): a link that cannot be used as it is opens the nearest one that can."""
    link, changes = DrawLink.read(request.query_params.multi_items(),
                                  DrawContext(registry, model_inputs))
    info = link.info
    try:
        kernels = draw_view.kernels(models.get(info.id))
    except Unavailable:  # a model whose file cannot be loaded: the analysis will say so
        kernels = None
    return templates.TemplateResponse(request, "draw.html", {
        "active": "draw", "info": info, "link": link,
        "models": [m for m in registry.list_models() if drawable(m) or m.id == info.id],
        "changes": changes, "kernels": kernels if drawable(info) else None,
        "drawable": drawable(info), "test_classes": _test_classes(info, model_inputs),
    })


@cache
def heat_legend() -> str:
    """The heatmap's colour scale (inferno), low to high, beside Draw's "where it looked"."""
    return heat_legend_url(112, 8)


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
    if weights is None or not drawable(info):
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


    def source(self, info: ModelInfo, model_inputs: ModelInputs) -> ModelInput:
        """The one input this form holds (a test image picked by class, a test image, a
        drawing or upload, or the pixels a link holds)."""
        if self.test_class is not None and self.pick:
            return TestImage(model_inputs.pick(info, self.test_class, self.test, "next",
                                               "test_class"))
        if self.test is not None:
            return TestImage(self.test)
        if self.image is not None:
            return DataUrl(self.image)
        if self.px:
            return Seen(self.px)
        raise InvalidInput("image", "draw a digit, upload an image or pick a test image")


def _analysis(drawing: Drawing, registry: Registry, models: LoadedModels,
              model_inputs: ModelInputs) -> dict[str, Any]:
    info = registry.get(drawing.model)
    source = drawing.source(info, model_inputs)
    given = model_inputs.prepare(source, info, "test" if isinstance(source, TestImage) else None)
    index, label = given.index, given.label
    result = draw_view.analyze(explain.explainer(models.get(info.id)), given.x)
    result.true_label = label
    return {
        "a": result, "info": info, "test": index, "heat_legend": heat_legend(),
        "bars": list(zip(info.class_names, result.prediction.probabilities, strict=False)),
        "keep_px": len(result.px) <= draw_view.MAX_URL_PX,
        "explain_link": "/explain?" + urlencode(
            {"model": info.id, "source": "test", "class": label, "index": index}
            if index is not None else {"model": info.id, "source": "draw", "px": result.px}),
    }


@router.post("/draw/analyze", response_class=HTMLResponse)
async def analyze(request: Request, drawing: Annotated[Drawing, Form()], registry: RegistryDep,
                  models: ModelsDep, model_inputs: InputsDep) -> Response:
    context = await run_in_threadpool(_analysis, drawing, registry, models, model_inputs)
    return templates.TemplateResponse(request, "partials/draw_analysis.html", context)
