"""Explain: every layer on one input, one neuron broken down, and what the network looked
at (the JSON API); the Explain page, whose three panels are htmx partials posted with the
page's form and whose state is its link (app/networks/explain/link.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlencode

import numpy as np
from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from app.errors import InvalidInput
from app.imaging.decoding import DATA_URL_PATTERN
from app.imaging.rendering import heat_legend_url
from app.networks import explain
from app.networks.explain import occlusion
from app.networks.explain import view as explain_view
from app.networks.explain.link import ExplainContext, ExplainLink
from app.networks.explain.outline import collapsed, outline
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
from app.networks.ranges import to_unit
from app.networks.registry import DEFAULT_MODEL, MODEL_ID_PATTERN, ModelInfo, Registry
from app.validation import Blank
from app.web.dependencies import DatasetsDep, ModelsDep, RegistryDep
from app.web.model_input import InputsDep, ModelPath
from app.web.schemas import BODY_ERRORS, responses
from app.web.schemas.explain import (
    ExplainRequest,
    ExplainResponse,
    LayerOut,
    NeuronRequest,
    NeuronResponse,
    PredictionOut,
    SaliencyRequest,
    SaliencyResponse,
)
from app.web.schemas.predictions import Range
from app.web.templating import templates

api = APIRouter(tags=["explain"], responses=BODY_ERRORS)
ERRORS = responses(e404="No such model",
                   e422="Bad input: the image, or a layer, channel, cell or class that the model "
                   "does not have (named field by field)",
                   e503="The model's file cannot be loaded")
Index = Annotated[int, Field(ge=0, le=1_000_000, strict=True)]
T = TypeVar("T")
LAYER_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}$"


def _on_input(model_id: str, body: ExplainRequest, registry: Registry, models: LoadedModels,
              model_inputs: ModelInputs, work: Callable[[explain.Explainer, np.ndarray], T]) -> T:
    """Prepare the input for the model as /predict does, then explain (in one worker thread)."""
    info = registry.get(model_id, "path.model_id")
    x = model_inputs.prepare(body.input.source(), info).x
    return work(explain.explainer(models.get(info.id, "path.model_id")), x)


def overview_out(model_id: str, ov: explain.Overview) -> ExplainResponse:
    return ExplainResponse(
        model=model_id,
        prediction=PredictionOut(label=ov.label, probabilities=ov.probabilities,
                                 class_name=ov.class_name),
        input=ov.input_image,
        layers=[LayerOut(name=la.name, type=la.type, output_shape=la.output_shape,
                         channels=la.channels, values=la.values,
                         range=Range(min=la.scale.minimum, max=la.scale.maximum),
                         explained=la.explained) for la in ov.layers])


@api.post("/api/models/{model_id}/explain", response_model=ExplainResponse, responses=ERRORS)
async def explain_overview(model_id: ModelPath, body: ExplainRequest, registry: RegistryDep,
                           models: ModelsDep, model_inputs: InputsDep) -> Any:
    """Every layer on one input, in order: 3-D outputs as channel images on one signed scale
    per layer, 1-D outputs as values, and the prediction."""
    ov = await run_in_threadpool(_on_input, model_id, body, registry, models, model_inputs,
                                 lambda ex, x: ex.overview(x))
    return overview_out(model_id, ov)


@api.post("/api/models/{model_id}/neuron", response_model=NeuronResponse,
             response_model_exclude_none=True, responses=ERRORS)
async def explain_neuron(model_id: ModelPath, body: NeuronRequest, registry: RegistryDep,
                         models: ModelsDep, model_inputs: InputsDep) -> Any:
    """How one number is computed. Conv2D (and depthwise, separable): per input channel the
    window ⊙ kernel slice summed, the bias, the pre-activation (Σ terms + bias), the
    activation, and the cell's receptive field in the layer's input and in the model's
    input. Pooling: the window. Dense: the largest input × weight products and the bias;
    a softmax output also its logits and the softmax filled in. `output` is Keras' own."""
    cell = (body.cell[0], body.cell[1]) if body.cell is not None else None
    neuron = await run_in_threadpool(_on_input, model_id, body, registry, models,
                                     model_inputs, lambda ex, x: ex.neuron(x, body.layer,
                                                                       body.channel, cell))
    return NeuronResponse.model_validate(asdict(neuron))


@api.post("/api/models/{model_id}/saliency", response_model=SaliencyResponse,
             responses=ERRORS)
async def explain_saliency(model_id: ModelPath, body: SaliencyRequest, registry: RegistryDep,
                           models: ModelsDep, model_inputs: InputsDep) -> Any:
    """What the network looked at, for the predicted class or `class`: Grad-CAM (the last
    convolution's maps weighted by the class score's mean gradient), the input gradient,
    or occlusion (a grey `patch` slid by `stride` pixels; the drop in the class score), as
    a heatmap at the input's size and an overlay."""
    s = await run_in_threadpool(_on_input, model_id, body, registry, models, model_inputs,
                                lambda ex, x: ex.saliency(x, body.method, body.class_,
                                                          patch=body.patch, stride=body.stride))
    patch = stride = None
    if body.method == "occlusion":
        patch, stride = occlusion.geometry(s.heatmap.shape, body.patch, body.stride)
    return SaliencyResponse(class_=s.cls, class_name=s.class_name, method=body.method,
                            layer=s.layer, heatmap=np.round(s.heatmap.astype(np.float64), 4).tolist(),
                            overlay=s.overlay, label=s.label, probability=s.probability,
                            patch=patch, stride=stride)


pages = APIRouter(include_in_schema=False)


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
    # The overview of a deep graph: the blocks open (comma-separated), one block to draw
    # alone, one layer to draw with every channel.
    opened: Annotated[str | None, Blank, Field(max_length=20_000)] = None
    block: Annotated[str | None, Blank, Field(max_length=128)] = None
    every: Annotated[str | None, Blank, Field(max_length=128)] = None


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


@pages.get("/explain", response_class=HTMLResponse)
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
            instead = "draw or upload an image" if drawable(info) else "upload an image"
            dataset_note = (f"The {info.dataset} dataset's files are not available on this "
                            f"server, so its test images cannot be picked: {instead} instead.")
    return templates.TemplateResponse(request, "explain.html", {
        "active": "explain", "models": registry.list_models(), "info": info,
        "draws": drawable(info), "dataset_note": dataset_note, "changes": changes,
        "state_query": urlencode(link.query()),
    })


def _overview(state: PageState, registry: Registry, models: LoadedModels,
              model_inputs: ModelInputs) -> tuple[str, dict[str, Any]]:
    """The overview (a deep graph's blocks closed but those opened), or one block's layers,
    or one layer with every channel."""
    r = resolve(state, registry, model_inputs)
    if r.x is None:
        return "partials/explain_overview.html", {"empty": True, "info": r.info, "state": state}
    ex = explain.explainer(models.get(r.info.id))
    rows = outline(ex)
    opened = {b for b in (state.opened or "").split(",") if b}
    if not collapsed(ex):
        opened |= {row.name for row in rows if row.block}
    if state.block:
        opened.add(state.block)
    if state.layer:  # the open neuron's block is shown open
        opened |= {row.name for row in rows if row.block and any(
            n.name == state.layer for n in row.nodes)}
    everything = {state.every} if state.every else set()
    ov = ex.overview(r.x, explain_view.shown_channels(rows, opened, everything))
    views = explain_view.overview_rows(ex, ov, rows, opened)
    if state.block or state.every:
        row = next((v for v in views if v.name == state.block), None)
        layers = row.block if row is not None and row.block else []
        if state.every:
            layers = [la for la in explain_view.overview_layers(ex, ov) if la.name == state.every]
        return "partials/explain_rows.html", {"layers": layers, "info": r.info}
    return "partials/explain_overview.html", {
        "info": r.info, "ov": ov, "rows": views, "px": encode_px(to_unit(r.x, r.info)),
        "index": r.index, "true_label": r.true_label, "state": state,
        "bars": list(zip(r.info.class_names, ov.probabilities, strict=False))}


@pages.post("/explain/overview", response_class=HTMLResponse)
async def overview_partial(request: Request, state: StateForm, registry: RegistryDep,
                           models: ModelsDep, model_inputs: InputsDep) -> Response:
    template, context = await run_in_threadpool(_overview, state, registry, models, model_inputs)
    return templates.TemplateResponse(request, template, context)


def _neuron(state: PageState, registry: Registry, models: LoadedModels,
            model_inputs: ModelInputs) -> dict[str, Any]:
    r = resolve(state, registry, model_inputs)
    if r.x is None or state.layer is None or state.channel is None:
        return {"empty": True}
    ex = explain.explainer(models.get(r.info.id))
    view = explain_view.neuron_view(ex, r.x, state.layer, state.channel, _cell(state.cell))
    return {"view": view, "info": r.info}


@pages.post("/explain/neuron", response_class=HTMLResponse)
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
            "has_conv": ex.cam is not None, "legend": heat_legend_url()}


@pages.post("/explain/saliency", response_class=HTMLResponse)
async def saliency_partial(request: Request, state: StateForm, registry: RegistryDep,
                           models: ModelsDep, model_inputs: InputsDep) -> Response:
    context = await run_in_threadpool(_saliency, state, registry, models, model_inputs)
    return templates.TemplateResponse(request, "partials/explain_saliency.html", context)


router = APIRouter()
router.include_router(api)
router.include_router(pages)
