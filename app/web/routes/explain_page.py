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

from app.config import Settings
from app.datasets.catalog import DatasetCatalog
from app.errors import InvalidInput
from app.imaging.decoding import DATA_URL_PATTERN, decode_data_url
from app.networks import explain, explain_link, explain_view, inference, inputs
from app.networks.inference import LoadedModels
from app.networks.registry import DEFAULT_MODEL, MODEL_ID_PATTERN, ModelInfo, Registry
from app.validation import Blank
from app.web.dependencies import DatasetsDep, ModelsDep, RegistryDep, SettingsDep
from app.web.routes.predict import limits_of
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


def draws(info: ModelInfo) -> bool:
    """Whether the drawing canvas fits the model (28×28 grayscale)."""
    return info.input_shape == (28, 28, 1)


def _pick_index(state: PageState, info: ModelInfo, datasets: DatasetCatalog) -> int | None:
    """The test image to show: the index asked for, or the first / next / previous one of
    the class picked."""
    if state.cls is None or not state.pick:
        return state.index
    if state.cls >= len(info.class_names):
        raise InvalidInput("class", f"{state.cls} is out of range: {info.id} has "
                           f"{len(info.class_names)} classes")
    found = inputs.test_indices(datasets, info, state.cls)
    if not found:
        raise InvalidInput("class", f"no test image of class {info.class_names[state.cls]!r} here")
    if state.pick == "first" or state.index is None:
        return found[0]
    if state.pick == "next":
        return next((i for i in found if i > state.index), found[0])
    return next((i for i in reversed(found) if i < state.index), found[-1])


def resolve(state: PageState, registry: Registry, settings: Settings,
            datasets: DatasetCatalog) -> Resolved:
    """The input as the model sees it: a drawing or upload prepared exactly as /predict
    prepares it, a test image, or `px`, the input a view of this page was made from."""
    info = registry.get(state.model)
    if state.source == "test":
        index = _pick_index(state, info, datasets)
        if index is None:
            return Resolved(info, None)
        x, label = inputs.test_image(datasets, info, index, "index")
        return Resolved(info, x, index, label)
    if state.image is not None and state.source in ("draw", "upload"):
        return Resolved(info, inference.prepare(decode_data_url(state.image, limits_of(settings)),
                                                info))
    if state.px:  # the page's own record of what the network saw: used as it is
        return Resolved(info, explain_view.decode_px(state.px, info.input_shape))
    return Resolved(info, None)


def _cell(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    r, c = text.split(",")
    return int(r), int(c)


@router.get("/explain", response_class=HTMLResponse)
def explain_page(request: Request, registry: RegistryDep, models: ModelsDep,
                 datasets: DatasetsDep) -> Response:
    """The state its link holds (app/networks/explain_link.py), made valid where it is not,
    with what changed; the page's script restores it (static/js/explain.js)."""
    state, info, changes = explain_link.repair(request.query_params, registry, models, datasets)
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
        "draws": draws(info), "dataset_note": dataset_note, "changes": changes,
        "state_query": urlencode(state),
    })


def _overview(state: PageState, registry: Registry, models: LoadedModels, settings: Settings,
              datasets: DatasetCatalog) -> dict[str, Any]:
    r = resolve(state, registry, settings, datasets)
    if r.x is None:
        return {"empty": True, "info": r.info, "state": state}
    ex = explain.explainer(models.get(r.info.id))
    ov = ex.overview(r.x)
    return {"info": r.info, "ov": ov, "layers": explain_view.overview_layers(ex, ov),
            "px": explain_view.encode_px(r.x), "index": r.index, "true_label": r.true_label,
            "bars": list(zip(r.info.class_names, ov.probabilities, strict=False)),
            "state": state}


@router.post("/explain/overview", response_class=HTMLResponse)
async def overview_partial(request: Request, state: StateForm, registry: RegistryDep,
                           models: ModelsDep, settings: SettingsDep,
                           datasets: DatasetsDep) -> Response:
    context = await run_in_threadpool(_overview, state, registry, models, settings, datasets)
    return templates.TemplateResponse(request, "partials/explain_overview.html", context)


def _neuron(state: PageState, registry: Registry, models: LoadedModels, settings: Settings,
            datasets: DatasetCatalog) -> dict[str, Any]:
    r = resolve(state, registry, settings, datasets)
    if r.x is None or state.layer is None or state.channel is None:
        return {"empty": True}
    ex = explain.explainer(models.get(r.info.id))
    view = explain_view.neuron_view(ex, r.x, state.layer, state.channel, _cell(state.cell))
    return {"view": view, "info": r.info}


@router.post("/explain/neuron", response_class=HTMLResponse)
async def neuron_partial(request: Request, state: StateForm, registry: RegistryDep,
                         models: ModelsDep, settings: SettingsDep,
                         datasets: DatasetsDep) -> Response:
    context = await run_in_threadpool(_neuron, state, registry, models, settings, datasets)
    return templates.TemplateResponse(request, "partials/explain_neuron.html", context)


def _saliency(state: PageState, registry: Registry, models: LoadedModels, settings: Settings,
              datasets: DatasetCatalog) -> dict[str, Any]:
    r = resolve(state, registry, settings, datasets)
    if r.x is None:
        return {"empty": True}
    ex = explain.explainer(models.get(r.info.id))
    method = state.method if ex.cam is not None else "gradient"
    s = ex.saliency(r.x, method, state.target)
    return {"s": s, "info": r.info, "heat": explain_view.heatmap_image(s.heatmap),
            "has_conv": ex.cam is not None}


@router.post("/explain/saliency", response_class=HTMLResponse)
async def saliency_partial(request: Request, state: StateForm, registry: RegistryDep,
                           models: ModelsDep, settings: SettingsDep,
                           datasets: DatasetsDep) -> Response:
    context = await run_in_threadpool(_saliency, state, registry, models, settings, datasets)
    return templates.TemplateResponse(request, "partials/explain_saliency.html", context)
