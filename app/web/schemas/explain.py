"""Explanations as the API takes and answers them: the overview, one neuron, saliency."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from app.validation import NotNull
from app.web.model_input import ImageInput
from app.web.schemas.predictions import Range

Index = Annotated[int, Field(ge=0, le=1_000_000, strict=True)]
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


SaliencyMethod = Literal["gradcam", "gradient", "occlusion"]
Pixels = Annotated[int, Field(ge=1, le=4096, strict=True)]


class SaliencyRequest(ExplainRequest):
    method: SaliencyMethod = Field(
        "gradcam", description="Grad-CAM on the last convolution, the input gradient, or "
        "occlusion (a grey patch slid over the input: the drop in the class score).")
    class_: Annotated[Index | SkipJsonSchema[None], NotNull] = Field(
        None, alias="class", description="The class to explain (default: the predicted one).")
    patch: Annotated[Pixels | SkipJsonSchema[None], NotNull] = Field(
        None, description="Occlusion: the grey square's side in pixels (default: a quarter of "
        "the input's shorter side).")
    stride: Annotated[Pixels | SkipJsonSchema[None], NotNull] = Field(
        None, description="Occlusion: how far the square moves each time, in pixels (default: "
        "a third of the patch).")


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
    cell: list[int] | None = None
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
    method: SaliencyMethod
    layer: str | None = Field(description="The convolution Grad-CAM used.")
    heatmap: list[list[float]] = Field(description="H×W numbers in [0, 1], the input's size.")
    overlay: str = Field(description="The heatmap over the input, as a PNG data URL.")
    label: int = Field(description="The predicted class.")
    probability: float = Field(description="The probability of `class`.")
    patch: int | None = Field(None, description="Occlusion: the patch's side, in pixels.")
    stride: int | None = Field(None, description="Occlusion: its stride, in pixels.")
