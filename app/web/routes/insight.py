"""What each channel looks for: a channel's dataset examples and feature visualization, a
layer's atlas, the embedding map, and adversarial examples (the JSON API, and the pages
and partials that show them: Explain's "What it looks for" and "Attack" panels among
them). The computing and its caching are in app/networks/insight; the pages' links in
app/networks/insight/link.py."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import numpy as np
from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from pydantic import Field

from app.datasets.catalog import DatasetCatalog
from app.networks.inference import LoadedModels
from app.networks.inputs import ModelInputs, encode_px
from app.networks.insight import pictures
from app.networks.insight import view as iv
from app.networks.insight.adversarial import Adversarial
from app.networks.insight.link import AtlasLink, ChannelLink, EmbeddingLink, InsightContext
from app.networks.insight.model_insight import ModelInsight, Pending, insight
from app.networks.ranges import to_unit
from app.networks.registry import MODEL_ID_PATTERN, ModelInfo, Registry
from app.validation import Blank
from app.web.dependencies import DatasetsDep, ModelsDep, RegistryDep
from app.web.model_input import InputsDep, ModelPath
from app.web.routes.explain import PageState, resolve
from app.web.schemas import BODY_ERRORS, responses
from app.web.schemas.explain import LAYER_NAME, FieldOut, PredictionOut
from app.web.schemas.insight import (
    AdversarialRequest,
    AdversarialResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    ExampleOut,
    ExamplesResponse,
    PointOut,
    VisualizationResponse,
)
from app.web.templating import templates

api = APIRouter(tags=["insight"], responses=BODY_ERRORS)
ERRORS = responses(e404="No such model, layer or channel (named)",
                   e409="The model has no dataset to search: attach one (the message says how)",
                   e422="Bad input, or a layer without spatial maps (the message names those "
                   "that have them)",
                   e503="The model's file, or its dataset's files, cannot be read here")
LayerPath = Annotated[str, Path(pattern=LAYER_NAME, description="A layer's name (Keras').")]
ChannelPath = Annotated[int, Path(ge=0, le=1_000_000, description="A channel, from 0.")]


def _insight(model_id: str, registry: Registry, models: LoadedModels,
             datasets: DatasetCatalog, field: str = "path.model_id") -> ModelInsight:
    info = registry.get(model_id, field)
    return insight(models.get(info.id, field), datasets)


def _pixels(x255: np.ndarray) -> list[Any]:
    """H×W for one channel, else H×W×C: as a client sends pixels."""
    return (x255[:, :, 0] if x255.shape[2] == 1 else x255).tolist()


def _prediction(info: ModelInfo, probs: np.ndarray) -> PredictionOut:
    label = int(np.argmax(probs))
    names = info.class_names
    return PredictionOut(label=label, probabilities=[round(float(p), 6) for p in probs],
                         class_name=names[label] if label < len(names) else str(label))


@api.get("/api/models/{model_id}/layers/{layer}/channels/{channel}/examples",
         response_model=ExamplesResponse, responses=ERRORS)
async def channel_examples(model_id: ModelPath, layer: LayerPath, channel: ChannelPath,
                           registry: RegistryDep, models: ModelsDep, datasets: DatasetsDep,
                           k: Annotated[int, Query(ge=1, le=100)] = 9) -> Any:
    """The k test images of the model's dataset on which the channel's largest activation
    is highest, highest first, each with where that maximum is and its receptive field.
    The first request for a layer runs the whole test split through the network once."""
    def work() -> Any:
        mi = _insight(model_id, registry, models, datasets)
        return mi, mi.examples(layer, channel, k)

    mi, found = await run_in_threadpool(work)
    names = mi.info.class_names
    return ExamplesResponse(layer=found.node.name, channel=found.channel,
                            dataset=mi.info.dataset, searched=len(found.maxima), examples=[
        ExampleOut(index=e.index, label=e.label, activation=e.activation, cell=list(e.cell),
                   class_name=names[e.label] if e.label < len(names) else str(e.label),
                   input_field=FieldOut(rows=e.rows, cols=e.cols), patch=e.patch)
        for e in found.examples])


@api.get("/api/models/{model_id}/layers/{layer}/channels/{channel}/visualization",
         response_model=VisualizationResponse, responses=ERRORS)
async def channel_visualization(model_id: ModelPath, layer: LayerPath, channel: ChannelPath,
                                registry: RegistryDep, models: ModelsDep,
                                datasets: DatasetsDep) -> Any:
    """An input made by gradient ascent on the channel's mean activation (seeded; a
    1/frequency Fourier parameterisation and jitter keep it readable)."""
    from app.networks.insight.visualization import SEED, STEPS

    vis = await run_in_threadpool(lambda: _insight(model_id, registry, models, datasets)
                                  .visualization(layer, channel))
    return VisualizationResponse(layer=layer, channel=vis.channel,
                                 pixels=_pixels(vis.pixels.astype(np.int64)),
                                 image=iv.visualization_url(vis), activation=vis.activation,
                                 max_activation=vis.peak, seed=SEED, steps=STEPS)


@api.post("/api/models/{model_id}/embedding", response_model=EmbeddingResponse,
          responses=ERRORS)
async def model_embedding(model_id: ModelPath, body: EmbeddingRequest, registry: RegistryDep,
                          models: ModelsDep, datasets: DatasetsDep) -> Any:
    """The first `count` test images placed in 2-D from a layer's activations (t-SNE by
    default), with their true and predicted classes."""
    emb = await run_in_threadpool(lambda: _insight(model_id, registry, models, datasets)
                                  .embedding(body.layer, body.method, body.count))
    return EmbeddingResponse(layer=emb.layer, method=emb.method, features=emb.features,
                             points=[PointOut(index=i, label=int(t), prediction=int(p),
                                              x=round(float(x), 5), y=round(float(y), 5))
                                     for i, (x, y, t, p) in enumerate(zip(
                                         emb.x, emb.y, emb.labels, emb.predictions, strict=True))])


def _attack(mi: ModelInsight, x_model: np.ndarray, epsilon: float, method: Literal["fgsm", "pgd"],
            target: int | None) -> Adversarial:
    return mi.attack(to_unit(x_model, mi.info), epsilon, method, target)


@api.post("/api/models/{model_id}/adversarial", response_model=AdversarialResponse,
          responses=ERRORS)
async def model_adversarial(model_id: ModelPath, body: AdversarialRequest,
                            registry: RegistryDep, models: ModelsDep, datasets: DatasetsDep,
                            model_inputs: InputsDep) -> Any:
    """FGSM or PGD under an L∞ budget ε, untargeted or towards `class`: the adversarial
    image (within ε of the input, predicted as said), the change, both answers."""
    def work() -> tuple[ModelInsight, Adversarial]:
        mi = _insight(model_id, registry, models, datasets)
        x = model_inputs.prepare(body.input.source(), mi.info).x
        return mi, _attack(mi, x, body.epsilon, body.method, body.class_)

    mi, adv = await run_in_threadpool(work)
    return AdversarialResponse(
        original=_prediction(mi.info, adv.original_probabilities),
        adversarial=_prediction(mi.info, adv.adversarial_probabilities),
        pixels=_pixels(adv.adversarial), image=pictures.image_url(adv.adversarial / 255),
        perturbation=pictures.perturbation_url(adv.adversarial / 255 - adv.original,
                                               adv.epsilon),
        linf=round(adv.linf, 4), epsilon=adv.epsilon, method=adv.method, target=adv.target,
        success=adv.success)


# ---------------------------------------------------------------------------- pages

pages = APIRouter(include_in_schema=False)
ModelQuery = Annotated[str, Query(pattern=MODEL_ID_PATTERN, max_length=64)]
LayerQuery = Annotated[str, Query(pattern=LAYER_NAME)]


def _progress(request: Request, pending: Pending, what: str) -> Response:
    """A progress bar that asks for the same partial again in half a second."""
    poll = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return templates.TemplateResponse(request, "partials/insight_progress.html", {
        "p": pending.progress, "poll": poll, "what": what})


def _page(request: Request, template: str, link: Any, changes: list[str], mi: ModelInsight,
          **context: Any) -> Response:
    return templates.TemplateResponse(request, template, {
        "active": "models", "info": link.info, "link": link, "changes": changes,
        "layers": iv.layer_choices(mi), "iv": iv, **context})


def _read(request: Request, cls: Any, registry: Registry, models: LoadedModels,
          datasets: DatasetCatalog) -> tuple[Any, list[str], ModelInsight]:
    link, changes = cls.read(request.query_params.multi_items(), InsightContext(registry, models))
    return link, changes, insight(models.get(link.info.id), datasets)


@pages.get("/insight/channel", response_class=HTMLResponse)
def channel_page(request: Request, registry: RegistryDep, models: ModelsDep,
                 datasets: DatasetsDep) -> Response:
    """A channel: its examples with their fields outlined, its visualization, its figures."""
    link, changes, mi = _read(request, ChannelLink, registry, models, datasets)
    panel = iv.panel_url(link.info.id, link.layer, link.channel) if link.layer else None
    return _page(request, "insight_channel.html", link, changes, mi, panel=panel,
                 atlas=iv.atlas_url(link.info.id, link.layer) if link.layer else None)


@pages.get("/insight/channel/panel", response_class=HTMLResponse)
def channel_panel(request: Request, model: ModelQuery, layer: LayerQuery,
                  channel: Annotated[int, Query(ge=0, le=1_000_000)], registry: RegistryDep,
                  models: ModelsDep, datasets: DatasetsDep,
                  examples: Literal["yes", "no"] = "yes") -> Response:
    """"What it looks for" (partials/insight_channel.html): the channel's examples and its
    visualization; while they are computed, a progress bar that asks again."""
    mi = _insight(model, registry, models, datasets, "model")
    no_data = mi.has_test_images() if examples == "yes" else None
    pending = mi.channel_pending(layer, channel, examples == "yes" and no_data is None)
    if pending is not None:
        return _progress(request, pending, f"channel {channel} of {layer}")
    found = mi.examples(layer, channel) if examples == "yes" and no_data is None else None
    vis = mi.visualization(layer, channel)
    return templates.TemplateResponse(request, "partials/insight_channel.html", {
        "info": mi.info, "layer": layer, "channel": channel, "found": found, "vis": vis,
        "vis_url": iv.visualization_url(vis), "no_data": no_data, "iv": iv,
        "page": iv.channel_url(mi.info.id, layer, channel),
        "atlas": iv.atlas_url(mi.info.id, layer),
        "stats": iv.channel_stats(found) if found else None})


@pages.get("/insight/atlas", response_class=HTMLResponse)
def atlas_page(request: Request, registry: RegistryDep, models: ModelsDep,
               datasets: DatasetsDep) -> Response:
    """Every channel of a layer as its visualization, each opening its channel."""
    link, changes, mi = _read(request, AtlasLink, registry, models, datasets)
    grid = ("/insight/atlas/grid?" + urlencode({"model": link.info.id, "layer": link.layer})
            if link.layer else None)
    return _page(request, "insight_atlas.html", link, changes, mi, grid=grid)


@pages.get("/insight/atlas/grid", response_class=HTMLResponse)
def atlas_grid(request: Request, model: ModelQuery, layer: LayerQuery, registry: RegistryDep,
               models: ModelsDep, datasets: DatasetsDep) -> Response:
    mi = _insight(model, registry, models, datasets, "model")
    pending = mi.atlas_pending(layer)
    if pending is not None:
        return _progress(request, pending, f"every channel of {layer}")
    tiles = [(v.channel, iv.visualization_url(v), v.activation) for v in mi.atlas(layer)]
    return templates.TemplateResponse(request, "partials/insight_atlas_grid.html", {
        "info": mi.info, "layer": layer, "tiles": tiles, "iv": iv,
        "total": mi.map_layer(layer).shape[-1]})


@pages.get("/insight/embedding", response_class=HTMLResponse)
def embedding_page(request: Request, registry: RegistryDep, models: ModelsDep,
                   datasets: DatasetsDep) -> Response:
    """The model's test images placed by a layer's activations."""
    link, changes, mi = _read(request, EmbeddingLink, registry, models, datasets)
    query = urlencode([("model", link.info.id), *(q for q in link.query() if q[0] != "model")])
    return _page(request, "insight_embedding.html", link, changes, mi,
                 no_data=mi.has_test_images(), map_url=f"/insight/embedding/map?{query}",
                 hidden=mi.embedding_layer(None).name, all_layers=[
                     n.name for n in mi.graph.nodes[1:] if n.index != mi.graph.output_index])


@pages.get("/insight/embedding/map", response_class=HTMLResponse)
def embedding_map(request: Request, model: ModelQuery, registry: RegistryDep,
                  models: ModelsDep, datasets: DatasetsDep,
                  layer: Annotated[str | None, Query(pattern=LAYER_NAME)] = None,
                  method: Literal["tsne", "pca"] = "tsne",
                  count: Annotated[int, Query(ge=1, le=2000)] = 2000) -> Response:
    mi = _insight(model, registry, models, datasets, "model")
    pending = mi.embedding_pending(layer, method, count)
    if pending is not None:
        return _progress(request, pending, "the embedding map")
    emb = mi.embedding(layer, method, count)
    return templates.TemplateResponse(request, "partials/insight_embedding_map.html", {
        "info": mi.info, "emb": emb, "points": iv.points_json(emb, mi.info.id),
        "summary": iv.map_summary(emb), "colours": iv.CLASS_COLOURS, "iv": iv,
        "sprite": f"/insight/embedding/sprite.png?model={mi.info.id}&count={len(emb.x)}"})


@pages.get("/insight/embedding/sprite.png")
def embedding_sprite(model: ModelQuery, registry: RegistryDep, models: ModelsDep,
                     datasets: DatasetsDep,
                     count: Annotated[int, Query(ge=1, le=2000)] = 2000) -> Response:
    """The map's images in one picture (rows of ⌈√count⌉), for its hover previews."""
    png = _insight(model, registry, models, datasets, "model").sprite(count)
    return Response(png, media_type="image/png", headers={"Cache-Control": "max-age=3600"})


# ------------------------------------------------------------------ Explain's Attack panel


class AttackForm(PageState):
    """Explain's form (its input fields: model, source, image, px, index, class, pick) and
    the attack's own: ε, the method, and a target class (blank: untargeted)."""

    epsilon: float = Field(0.1, ge=0, le=1, allow_inf_nan=False)
    attack: Literal["fgsm", "pgd"] = "pgd"
    towards: Annotated[int | None, Blank, Field(ge=0, le=100_000)] = None
    # The page's saliency fields come along with its form, and are not the attack's.
    method: str = ""  # type: ignore[assignment]
    target: str = ""  # type: ignore[assignment]


@pages.get("/insight/attack", response_class=HTMLResponse)
def attack_panel(request: Request, model: ModelQuery, registry: RegistryDep,
                 form: Annotated[str, Query(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")]
                 = "explain-form") -> Response:
    """The Attack panel's controls (partials/insight_attack.html); they post with the
    fields of the page's form `form`."""
    return templates.TemplateResponse(request, "partials/insight_attack.html", {
        "info": registry.get(model, "model"), "form_id": form})


def _attack_view(state: AttackForm, registry: Registry, models: LoadedModels,
                 datasets: DatasetCatalog, model_inputs: ModelInputs) -> dict[str, Any]:
    r = resolve(state, registry, model_inputs)
    if r.x is None:
        return {"empty": True}
    mi = insight(models.get(r.info.id), datasets)
    adv = _attack(mi, r.x, state.epsilon, state.attack, state.towards)
    unit = adv.adversarial / 255
    return {"info": r.info, "adv": adv, "original": pictures.image_url(adv.original),
            "image": pictures.image_url(unit),
            "perturbation": pictures.perturbation_url(unit - adv.original, adv.epsilon),
            "before": _prediction(r.info, adv.original_probabilities),
            "after": _prediction(r.info, adv.adversarial_probabilities),
            "explain": f"/explain?model={r.info.id}&source=upload&px={encode_px(unit)}"}


@pages.post("/insight/attack", response_class=HTMLResponse)
async def attack_result(request: Request, state: Annotated[AttackForm, Form()],
                        registry: RegistryDep, models: ModelsDep, datasets: DatasetsDep,
                        model_inputs: InputsDep) -> Response:
    context = await run_in_threadpool(_attack_view, state, registry, models, datasets,
                                      model_inputs)
    return templates.TemplateResponse(request, "partials/insight_attack_result.html", context)


router = APIRouter()
router.include_router(api)
router.include_router(pages)
