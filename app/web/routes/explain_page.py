"""The Explain page: pick a model and an input (a drawing, an upload or a test image), see
every layer, open how one channel and one cell are computed, and what the network looked at.

The page keeps its state in the URL (static/js/explain.js); its three panels are htmx
partials posted with the page's form, so a refusal comes back as a message in the panel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import numpy as np
from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from app.errors import InvalidInput
from app.imaging.decoding import DATA_URL_PATTERN
from app.networks import explain
from app.networks.explain import view as explain_view
from app.networks.explain.link import ExplainContext, ExplainLink
from app.networks.inference import LoadedModels
from app.networks.inputs import (
    DataUrl,
    ModelInput,
    ModelInputs,
    Seen,
    TestImage,
    drawable,
    encode_px,
)
from app.networks.registry import DEFAULT_MODEL, MODEL_ID_PATTERN, ModelInfo, Registry
from app.validation import Blank
from app.web.dependencies import DatasetsDep, ModelsDep, RegistryDep
from app.web.model_input import InputsDep
from app.web.templating import templates

router = APIRouter(include_in_schema=False)


SmallInt = Annotated[int | None, Blank, Field(ge=0, le=1_000_000)]


class PageState(BaseModel):
    """The page's form: the model, the input, and what is selected (all optional but model)."""

    model: str = Field(DEFAULT_MODEL, pattern=MODEL_ID_PATTERN)
    source: Literal["draw", "upload", "test", "pixels"] = "draw"
    image: Annotated[str | None, Blank, Field(pattern=DATA_URL_PATTERN, max_length=20_000_000)] = None
    px: Annotated[str | None, Blank, Field(pattern=r"^[A-Za-z0-9_-]*$", max_length=2_000_000)] = None
    index: SmallInt = None
    cls: Annotated[SmallInt, Field(alias="class")] = None
    pick: Literal["", "first", "next", "previous"] = ""
    layer: Annotated[str | None, Blank, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}$")] = None
    channel: SmallInt = None
    cell: Annotated[str | None, Blank, Field(pattern=r"^\d{1,5},\d{1,5}$")] = None
    method: Literal["gradcam", "gradient"] = "gradcam"
    target: SmallInt = None


StateForm = Annotated[PageState, Form()]




@dataclass
class Resolved:
    info: ModelInfo
    x: np.ndarray | None
    index: int | None = None
    true_label: int | None = None


def _source(state: PageState, info: ModelInfo, model_inputs: ModelInputs) -> ModelInput | None:
    """The one input the page's form holds: a test image (picked by class, or by index), a
    drawing or upload, or `px`, the input a view of this page was made from."""
    if state.source == "test":
        if state.cls is not None and state.pick:
            return TestImage(model_inputs.pick(info, state.cls, state.index, state.pick))
        return TestImage(state.index) if state.index is not None else None
    if state.image is not None and state.source in ("draw", "upload"):
        return DataUrl(state.image)
    if state.px:  # the page's own record of what the network saw: used as it is
        return Seen(state.px)
    return None


def resolve(state: PageState, registry: Registry, model_inputs: ModelInputs) -> Resolved:
    """The input as the model sees it, prepared exactly as /predict prepares it."""
    info = registry.get(state.model)
    source = _source(state, info, model_inputs)
    if source is None:
        return Resolved(info, None)
    given = model_inputs.prepare(source, info, "index" if isinstance(source, TestImage) else None)
    return Resolved(info, given.x, given.index, given.label)


def _cell(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    r, c = text.split(",")
    return int(r), int(c)


@router.get("/explain", response_class=HTMLResponse)
def explain_page(request: Request, registry: RegistryDep, models: ModelsDep,
                 datasets: DatasetsDep, model_inputs: InputsDep) -> Response:
    """The state its link holds (app/networks/explain/link.py), made valid where it is not,
    with what changed; the page's script restores it (static/js/explain.js)."""
    link, changes = ExplainLink.read(request.query_params.multi_items(),
                                     ExplainContext(registry, models, model_inputs))
    info = link.info
    dataset_note = None
    if not info.dataset:
        dataset_note = "This model was uploaded without naming its dataset: it has no test images."
    else:
        try:
            available = datasets.available(info.dataset)
        except InvalidInput:
            available = False
        if not available:
            dataset_note = (f"The {info.dataset} dataset's files are not available on this "
                            "server, so its test images cannot be picked: draw or upload an "
                            "image instead.")
    return templates.TemplateResponse(request, "explain.html", {
        "active": "explain", "models": registry.list_models(), "info": info,
        "draws": drawable(info), "dataset_note": dataset_note, "changes": changes,
        "state_query": urlencode(link.query()),
    })


def _overview(state: PageState, registry: Registry, models: LoadedModels,
              model_inputs: ModelInputs) -> dict[str, Any]:
    r = resolve(state, registry, model_inputs)
    if r.x is None:
        return {"empty": True, "info": r.info, "state": state}
    ex = explain.explainer(models.get(r.info.id))
    ov = ex.overview(r.x)
    return {"info": r.info, "ov": ov, "layers": explain_view.overview_layers(ex, ov),
            "px": encode_px(r.x), "index": r.index, "true_label": r.true_label,
            "bars": list(zip(r.info.class_names, ov.probabilities, strict=False)),
            "state": state}


@router.post("/explain/overview", response_class=HTMLResponse)
async def overview_partial(request: Request, state: StateForm, registry: RegistryDep,
                           models: ModelsDep, model_inputs: InputsDep) -> Response:
    context = await run_in_threadpool(_overview, state, registry, models, model_inputs)
    return templates.TemplateResponse(request, "partials/explain_overview.html", context)


def _neuron(state: PageState, registry: Registry, models: LoadedModels,
            model_inputs: ModelInputs) -> dict[str, Any]:
    r = resolve(state, registry, model_inputs)
    if r.x is None or state.layer is None or state.channel is None:
        return {"empty": True}
    ex = explain.explainer(models.get(r.info.id))
    view = explain_view.neuron_view(ex, r.x, state.layer, state.channel, _cell(state.cell))
    return {"view": view, "info": r.info}


@router.post("/explain/neuron", response_class=HTMLResponse)
async def neuron_partial(request: Request, state: StateForm, registry: RegistryDep,
                         models: ModelsDep, model_inputs: InputsDep) -> Response:
    context = await run_in_threadpool(_neuron, state, registry, models, model_inputs)
    return templates.TemplateResponse(request, "partials/explain_neuron.html", context)


def _saliency(state: PageState, registry: Registry, models: LoadedModels,
              model_inputs: ModelInputs) -> dict[str, Any]:
    r = resolve(state, registry, model_inputs)
    if r.x is None:
        return {"empty": True}
    ex = explain.explainer(models.get(r.info.id))
    method = state.method if ex.cam is not None else "gradient"
    s = ex.saliency(r.x, method, state.target)
    return {"s": s, "info": r.info, "heat": explain_view.heatmap_image(s.heatmap),
            "has_conv": ex.cam is not None}


@router.post("/explain/saliency", response_class=HTMLResponse)
async def saliency_partial(request: Request, state: StateForm, registry: RegistryDep,
                           models: ModelsDep, model_inputs: InputsDep) -> Response:
    context = await run_in_threadpool(_saliency, state, registry, models, model_inputs)
    return templates.TemplateResponse(request, "partials/explain_saliency.html", context)
