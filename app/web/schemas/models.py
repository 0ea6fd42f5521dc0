"""Models as the API answers them (an item of the list, a model with its record) and the
fields of an upload."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from app.networks.registry import ModelInfo
from app.validation import Blank
from app.web.schemas.architectures import SummaryOut


class ModelItem(BaseModel):
    id: str
    name: str
    dataset: str
    input_shape: list[int]
    shipped: bool
    test_accuracy: float | None
    created: str
    class_names: list[str]
    source: Literal["shipped", "trained", "uploaded"] = "trained"
    input_range: Literal["0-1", "0-255", "-1-1"] = Field(
        "0-1", description="The pixel values the model reads, black to white.")


class ModelDetail(ModelItem):
    architecture: dict[str, Any] | None = None
    training: dict[str, Any] | None = None
    total_params: int | None = None
    test_loss: float | None = None
    job_id: str | None = None
    sha256: str | None = None
    summary: SummaryOut | None = None


def item(info: ModelInfo) -> ModelItem:
    return ModelItem(id=info.id, name=info.name, dataset=info.dataset,
                     input_shape=list(info.input_shape), shipped=info.shipped,
                     test_accuracy=info.test_accuracy, created=info.created,
                     class_names=info.class_names,
                     source="shipped" if info.shipped else info.meta.get("source", "trained"),
                     input_range=info.input_range)


class ModelUpload(BaseModel):
    """The fields beside the file in `POST /api/models`."""

    name: Annotated[Annotated[str, Field(max_length=64)] | None, Blank] = Field(
        None, description="Shown in the model lists (empty or left out: the file's name).")
    class_names: Annotated[Annotated[str, Field(max_length=70_000)] | None, Blank] = Field(
        None, description="Comma-separated, one per output (default: the dataset's, or 0, 1, …).")
    dataset: Annotated[Annotated[str, Field(pattern=r"^([A-Za-z0-9][A-Za-z0-9_.-]{0,31})?$")]
                       | None, Blank] = Field(
        None, description="The dataset it was trained on (GET /api/datasets), if any: its test "
        "images can then be explained, and a 28×28×1 MNIST model reads drawings the MNIST way.")
    input_range: Annotated[Literal["0-255", "0-1", "-1-1"] | None, Blank] = Field(
        None, description="The pixel values the model reads, black to white (default: what "
        "its first layers say — a Rescaling or Normalization — else 0-1; MobileNet and "
        "MobileNetV2 read -1-1).")
    insist: Annotated[bool, Blank] = Field(
        False, description="Keep input_range even where the model's first layers say another.")
