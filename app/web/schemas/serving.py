"""TensorFlow Serving's REST API as this server answers it (its own field names and shapes),
and the `{"error": …}` body both serving protocols answer errors with."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from app.networks.tensors import MAX_BATCH
from app.validation import NotNull


class ServingError(BaseModel):
    """What TF Serving and Open Inference Protocol clients read: `error`, in words. `detail`
    keeps this API's own field-by-field shape beside it."""

    error: str
    detail: Any = None


def serving_errors(**described: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses in the serving protocols' shape: `serving_errors(e404="No such model")`."""
    return {int(key.removeprefix("e")): {"model": ServingError, "description": description}
            for key, description in described.items()}


class Status(BaseModel):
    error_code: str
    error_message: str


class VersionStatus(BaseModel):
    version: str
    state: str
    status: Status


class StatusResponse(BaseModel):
    model_version_status: list[VersionStatus]


class Dim(BaseModel):
    size: str = Field(description="An int64, written as a string as TF Serving writes it; "
                      "-1 for any size.")
    name: str = ""


class TensorShape(BaseModel):
    dim: list[Dim]
    unknown_rank: bool = False


class TensorInfo(BaseModel):
    dtype: str
    tensor_shape: TensorShape
    name: str


class SignatureDef(BaseModel):
    inputs: dict[str, TensorInfo]
    outputs: dict[str, TensorInfo]
    method_name: str
    defaults: dict[str, Any] = Field(default_factory=dict)


class SignatureDefMap(BaseModel):
    signature_def: dict[str, SignatureDef]


class Metadata(BaseModel):
    signature_def: SignatureDefMap
    class_names: list[str] = Field(description="Beside TF Serving's own fields: the class each "
                                   "probability is for.")


class ModelSpec(BaseModel):
    name: str
    signature_name: str
    version: str


class MetadataResponse(BaseModel):
    model_spec: ModelSpec
    metadata: Metadata


class ServingRequest(BaseModel):
    """Row format, `instances`: one entry per instance, each the model's input (H×W×C floats
    as Keras receives them) or an object whose only key is the input's name, "image".
    Columnar format, `inputs`: the whole batch, or `{"image": batch}`. Exactly one of the two."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "oneOf": [{"required": ["instances"]}, {"required": ["inputs"]}]})

    signature_name: Annotated[str, Field(max_length=64, description='"serving_default" (or '
                                         "leave it out): the one signature")] | None = None
    instances: Annotated[Annotated[list[Any], Field(min_length=1, max_length=MAX_BATCH)]
                         | SkipJsonSchema[None], NotNull] = None
    inputs: Annotated[list[Any] | dict[str, Any] | SkipJsonSchema[None], NotNull] = None

    @model_validator(mode="after")
    def _one_format(self) -> ServingRequest:
        if (self.instances is None) == (self.inputs is None):
            raise ValueError('JSON object must have exactly one of "instances" or "inputs"')
        return self


class PredictResponse(BaseModel):
    """The answer to a row (`instances`) request: one list of probabilities per instance."""

    predictions: list[list[float]]


class ColumnarResponse(BaseModel):
    """The answer to a columnar (`inputs`) request: the output tensor, the batch first."""

    outputs: list[list[float]]
