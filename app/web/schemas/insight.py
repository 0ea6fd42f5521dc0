"""What each channel looks for, as the API takes and answers it: dataset examples, feature
visualization, the embedding map and adversarial examples."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from app.networks.insight.embedding import MAX_COUNT
from app.validation import NotNull
from app.web.model_input import ImageInput
from app.web.schemas.explain import LAYER_NAME, FieldOut, Index, PredictionOut

Pixel = Annotated[float, Field(ge=0, le=255)]
PixelRows = list[list[Pixel]] | list[list[list[Pixel]]]


class ExampleOut(BaseModel):
    index: int = Field(description="The test image's index in its dataset's test split.")
    label: int = Field(description="Its true class.")
    class_name: str
    activation: float = Field(description="The channel's largest activation on it (the Keras "
                              "layer's output maximum).")
    cell: list[int] = Field(description="[row, col] of that maximum in the layer's output.")
    input_field: FieldOut = Field(description="That cell's receptive field in the model's input.")
    patch: str = Field(description="The image with that field outlined, as a PNG data URL.")


class ExamplesResponse(BaseModel):
    layer: str
    channel: int
    dataset: str
    searched: int = Field(description="How many test images were searched.")
    examples: list[ExampleOut] = Field(description="Highest activation first.")


class VisualizationResponse(BaseModel):
    layer: str
    channel: int
    pixels: PixelRows = Field(description="H×W (or H×W×C) whole numbers 0–255, as a client "
                              "sends them.")
    image: str = Field(description="The same picture, enlarged, as a PNG data URL.")
    activation: float = Field(description="The channel's mean activation on it.")
    max_activation: float = Field(description="Its largest activation on it.")
    seed: int
    steps: int


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    layer: Annotated[str | SkipJsonSchema[None], NotNull] = Field(
        None, pattern=LAYER_NAME, description="Whose activations (default: the last hidden "
        "layer, what the output layer reads).")
    method: Literal["tsne", "pca"] = Field(
        "tsne", description="t-SNE (keeps neighbours together: classes as clusters) or PCA "
        "(the two directions of largest variance).")
    count: int = Field(MAX_COUNT, ge=1, le=MAX_COUNT, strict=True,
                       description="The first `count` test images.")


class PointOut(BaseModel):
    index: int
    label: int = Field(description="The true class.")
    prediction: int = Field(description="The network's class.")
    x: float = Field(description="0–1 (both axes on one scale).")
    y: float


class EmbeddingResponse(BaseModel):
    layer: str
    method: Literal["tsne", "pca"]
    features: Literal["values", "channel means"] = Field(
        description="What was placed: the layer's values, or (for large maps) each channel's "
        "mean over the map.")
    points: list[PointOut]


class AdversarialRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    input: ImageInput = Field(description='The input object: {"pixels": …}, {"image": '
                              '"data:…"} or {"test_index": N}.')
    epsilon: float = Field(ge=0, le=1, allow_inf_nan=False, description="The L∞ budget: how "
                           "far any pixel may move, as a fraction of the pixel range (8/255 ≈ "
                           "0.031 is the usual one for photos).")
    method: Literal["fgsm", "pgd"] = Field(
        "pgd", description="FGSM: one step of ε; PGD: 40 steps of 2.5ε/40, each kept within ε.")
    class_: Annotated[Index | SkipJsonSchema[None], NotNull] = Field(
        None, alias="class", description="A target class (default: untargeted, away from the "
        "predicted one).")


class AdversarialResponse(BaseModel):
    original: PredictionOut
    adversarial: PredictionOut = Field(description="The network's answer on exactly `pixels`.")
    pixels: PixelRows = Field(description="The adversarial image, H×W (or H×W×C) 0–255: whole "
                              "levels wherever they lie within ε.")
    image: str = Field(description="The adversarial image, enlarged, as a PNG data URL.")
    perturbation: str = Field(description="The change, amplified: mid-grey none, white +ε, "
                              "black −ε.")
    linf: float = Field(description="The largest change of any pixel, in 0–255 (at most "
                        "255·ε).")
    epsilon: float
    method: Literal["fgsm", "pgd"]
    target: int | None
    success: bool = Field(description="Whether the answer changed (or became the target).")
