"""Explanations over HTTP (JSON): every layer on one input, one neuron broken down, and
what the network looked at (Grad-CAM, input gradient)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any, Literal, TypeVar

import numpy as np
from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from app.networks import explain
from app.networks.inference import LoadedModels
from app.networks.inputs import ModelInputs
from app.networks.registry import Registry
from app.validation import NotNull
from app.web.dependencies import ModelsDep, RegistryDep
from app.web.model_input import ImageInput, InputsDep, ModelPath
from app.web.routes.predict import Range
from app.web.schemas import BODY_ERRORS, responses

router = APIRouter(tags=["explain"], responses=BODY_ERRORS)
ERRORS = responses(e404="No such model",
                   e422="Bad input: the image, or a layer, channel, cell or class that the model "
                   "does not have (named field by field)",
                   e503="The model's file cannot be loaded")
Index = Annotated[int, Field(ge=0, le=1_000_000, strict=True)]
T = TypeVar("T")
LAYER_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}$"


class ExplainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: ImageInput = Field(description='The input object: {"pixels": …}, {"image": '
                              '"data:…"} or {"test_index": N}.')


class NeuronRequest(ExplainRequest):
    layer: str = Field(pattern=LAYER_NAME, description="A layer's name, as the overview lists it.")
    channel: Index = Field(description="The channel of a 3-D output, or the unit of a 1-D one.")
    cell: Annotated[tuple[Index, Index] | SkipJsonSchema[None], NotNull] = Field(
        None, description="[row, col] in a 3-D output; left out for a vector (Dense) unit.")


class SaliencyRequest(ExplainRequest):
    method: Literal["gradcam", "gradient"] = Field(
        "gradcam", description="Grad-CAM on the last convolution, or the input gradient.")
    class_: Annotated[Index | SkipJsonSchema[None], NotNull] = Field(
        None, alias="class", description="The class to explain (default: the predicted one).")


class PredictionOut(BaseModel):
    label: int
    probabilities: list[float]
    class_name: str


class LayerOut(BaseModel):
    name: str
    type: str
    output_shape: list[int | None]
    channels: list[str] | None = Field(description="3-D outputs: one PNG data URL per channel, "
                                       "all on one signed scale (blue < 0 < red), see range.")
    values: list[float] | None = Field(description="1-D outputs: the values.")
    range: Range
    explained: bool = Field(description="Whether POST …/neuron breaks this layer down.")


class ExplainResponse(BaseModel):
    model: str
    prediction: PredictionOut
    input: str = Field(description="The image the network sees, as a PNG data URL.")
    layers: list[LayerOut] = Field(description="Every layer in order, the input first.")


class FieldOut(BaseModel):
    rows: list[int] = Field(description="[first, last]")
    cols: list[int] = Field(description="[first, last]")


class TermOut(BaseModel):
    channel: int = Field(description="The input channel.")
    sum: float = Field(description="Σ window ⊙ kernel slice for this input channel.")
    window: list[list[float]] = Field(description="The input under the kernel (zero padding "
                                      "included).")
    kernel: list[list[float]] = Field(description="The kernel slice for this input channel.")
    depthwise: float | None = None
    pointwise_weight: float | None = None


class WindowOut(BaseModel):
    rows: list[int]
    cols: list[int]
    values: list[list[float | None]] = Field(description="null where the window is in padding.")
    operation: Literal["max", "average"]
    count: int | None = None
    argmax: list[int] | None = None


class TopTermOut(BaseModel):
    index: int
    input: float
    weight: float
    product: float
    position: list[int] | None = Field(None, description="[row, col, channel] before Flatten.")


class OtherTermsOut(BaseModel):
    count: int
    sum: float


class SoftmaxOut(BaseModel):
    max_logit: float
    exp: float = Field(description="e^(z_unit − max z)")
    exp_sum: float = Field(description="Σ e^(z − max z)")
    probability: float


class BatchNormOut(BaseModel):
    mean: float
    variance: float
    gamma: float
    beta: float
    epsilon: float


class SourceOut(BaseModel):
    layer: str
    channel: int


class NeuronResponse(BaseModel):
    layer: str
    type: str
    channel: int
    cell: list[int] | None
    output: float = Field(description="The Keras layer's output at this place.")
    bias: float | None = None
    terms: list[TermOut] | None = None
    pre_activation: float | None = Field(None, description="Σ terms + bias.")
    activation: str | None = None
    activated: float | None = Field(None, description="The activation of pre_activation.")
    receptive_field: FieldOut | None = Field(None, description="In the layer's input.")
    input_field: FieldOut | None = Field(None, description="In the model's input.")
    window: WindowOut | None = None
    top_terms: list[TopTermOut] | None = None
    other_terms: OtherTermsOut | None = None
    logits: list[float] | None = None
    probabilities: list[float] | None = None
    softmax: SoftmaxOut | None = None
    inputs: list[float] | None = None
    position: list[int] | None = None
    batch_norm: BatchNormOut | None = None
    source: SourceOut | None = None
    note: str | None = None


class SaliencyResponse(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    class_: int = Field(alias="class")
    class_name: str
    method: Literal["gradcam", "gradient"]
    layer: str | None = Field(description="The convolution Grad-CAM used.")
    heatmap: list[list[float]] = Field(description="H×W numbers in [0, 1], the input's size.")
    overlay: str = Field(description="The heatmap over the input, as a PNG data URL.")
    label: int = Field(description="The predicted class.")
    probability: float = Field(description="The probability of `class`.")


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


@router.post("/api/models/{model_id}/explain", response_model=ExplainResponse, responses=ERRORS)
async def explain_overview(model_id: ModelPath, body: ExplainRequest, registry: RegistryDep,
                           models: ModelsDep, model_inputs: InputsDep) -> Any:
    """Every layer on one input, in order: 3-D outputs as channel images on one signed scale
    per layer, 1-D outputs as values, and the prediction."""
    ov = await run_in_threadpool(_on_input, model_id, body, registry, models, model_inputs,
                                 lambda ex, x: ex.overview(x))
    return overview_out(model_id, ov)


@router.post("/api/models/{model_id}/neuron", response_model=NeuronResponse,
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


@router.post("/api/models/{model_id}/saliency", response_model=SaliencyResponse,
             responses=ERRORS)
async def explain_saliency(model_id: ModelPath, body: SaliencyRequest, registry: RegistryDep,
                           models: ModelsDep, model_inputs: InputsDep) -> Any:
    """What the network looked at, for the predicted class or `class`: Grad-CAM (the last
    convolution's maps weighted by the class score's mean gradient) or the input gradient,
    as a heatmap at the input's size and an overlay."""
    s = await run_in_threadpool(_on_input, model_id, body, registry, models, model_inputs,
                                lambda ex, x: ex.saliency(x, body.method, body.class_))
    return SaliencyResponse(class_=s.cls, class_name=s.class_name, method=body.method,
                            layer=s.layer, heatmap=np.round(s.heatmap.astype(np.float64), 4).tolist(),
                            overlay=s.overlay, label=s.label, probability=s.probability)
