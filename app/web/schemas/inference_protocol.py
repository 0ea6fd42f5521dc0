"""The Open Inference Protocol (KServe v2) over REST, as kserve/open-inference-protocol's
`inference_rest.md` states it, with the binary tensor data extension's parameters."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from app.networks.tensors import MAX_RANK

Datatype = Literal["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32",
                   "INT64", "FP16", "FP32", "FP64", "BYTES"]
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Size = Annotated[int, Field(strict=True, ge=0, le=2**31 - 1)]


def _depth(value: Any) -> str:
    """How deeply the data is nested: 1 when flat, the tensor's rank when nested as its shape."""
    depth = 0
    while isinstance(value, list) and depth < 4:
        depth += 1
        value = value[0] if value else None
    return f"{max(depth, 1)}-D"


TensorData = Annotated[
    Annotated[list[Number], Tag("1-D")]
    | Annotated[list[list[Number]], Tag("2-D")]
    | Annotated[list[list[list[Number]]], Tag("3-D")]
    | Annotated[list[list[list[list[Number]]]], Tag("4-D")],
    Discriminator(_depth),
    Field(description="The elements in row-major order, flat or nested as the shape (this "
          "server's models take FP32 numbers)."),
]


class InputParameters(BaseModel):
    model_config = ConfigDict(extra="allow")

    binary_data_size: Size | None = Field(
        None, description="Binary tensor data extension: the input's bytes follow the JSON "
        "(little-endian, row-major), this many; then there is no `data`.")


class RequestInput(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=256)]
    shape: Annotated[list[Size], Field(max_length=MAX_RANK)]
    datatype: Datatype
    parameters: InputParameters | None = None
    data: TensorData | None = None


class OutputParameters(BaseModel):
    model_config = ConfigDict(extra="allow")

    binary_data: Annotated[bool, Field(strict=True)] | None = Field(
        None, description="Binary tensor data extension: this output as bytes after the JSON.")


class RequestOutput(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=256)]
    parameters: OutputParameters | None = None


class RequestParameters(BaseModel):
    model_config = ConfigDict(extra="allow")

    binary_data_output: Annotated[bool, Field(strict=True)] | None = Field(
        None, description="Binary tensor data extension: every output as bytes after the JSON "
        "(an output's own `binary_data` wins).")


class InferenceRequest(BaseModel):
    """An inference request: the model's one input, "image" (FP32, `[N, H, W, C]` as Keras
    receives it), as JSON `data` or, with the binary tensor data extension, as bytes after
    the JSON (`Inference-Header-Content-Length` gives the JSON's length)."""

    id: Annotated[str, Field(max_length=256)] | None = None
    parameters: RequestParameters | None = None
    inputs: Annotated[list[RequestInput], Field(min_length=1, max_length=64)]
    outputs: Annotated[list[RequestOutput], Field(max_length=64)] | None = None


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, int] | None = None
    data: list[float] | None = None


class InferenceResponse(BaseModel):
    """The outputs; a binary output has `parameters.binary_data_size` and its bytes follow
    the JSON (the body is then `application/octet-stream`, with `Inference-Header-Content-Length`)."""

    model_name: str
    id: str | None = None
    outputs: list[ResponseOutput]


class ServerLive(BaseModel):
    live: bool


class ServerReady(BaseModel):
    ready: bool


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class MetadataTensor(BaseModel):
    name: str
    datatype: str
    shape: list[int] = Field(description="-1 where any size goes (the batch).")


class ModelMetadata(BaseModel):
    name: str
    platform: str
    inputs: list[MetadataTensor]
    outputs: list[MetadataTensor]


class ModelReady(BaseModel):
    name: str
    ready: bool
