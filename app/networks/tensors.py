"""Tensors as serving protocols carry them, read and written without HTTP.

The Open Inference Protocol (KServe v2) sends a tensor as `{"name", "datatype", "shape",
"data"}`, its data in JSON (nested or flat, row-major), or, with the binary tensor data
extension, as raw little-endian bytes after the JSON, whose length a header gives
(`Inference-Header-Content-Length`). TensorFlow Serving sends the batch as nested lists.
Both reach a model here as the one tensor Keras receives: FP32, `[-1, H, W, C]`.

Every refusal is an `InvalidInput` naming the input, what was sent and what was expected
(or `TooLarge` for a body that expands past its limit); the web layer turns them into each
protocol's `{"error": …}`.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from app.errors import InvalidInput, TooLarge
from app.networks.registry import ModelInfo

# The Open Inference Protocol's datatypes and their element sizes in bytes (BYTES: variable).
DATATYPES: dict[str, int] = {
    "BOOL": 1, "UINT8": 1, "UINT16": 2, "UINT32": 4, "UINT64": 8, "INT8": 1, "INT16": 2,
    "INT32": 4, "INT64": 8, "FP16": 2, "FP32": 4, "FP64": 8, "BYTES": 0,
}
INPUT_NAME = "image"  # both protocols name the model's one input and output alike
OUTPUT_NAME = "probabilities"
MAX_BATCH = 256  # instances in one request
MAX_RANK = 8
BINARY_HEADER = "Inference-Header-Content-Length"
ASCII_DIGITS = re.compile(r"[0-9]{1,15}\Z")  # str.isdigit() also takes "²", which int() refuses


@dataclass(frozen=True)
class TensorSpec:
    """A tensor a model takes or gives: -1 where any size goes (the batch)."""

    name: str
    datatype: str
    shape: tuple[int, ...]


def signature(info: ModelInfo) -> tuple[TensorSpec, TensorSpec]:
    """The model's input (its input tensor, as Keras receives it) and its output (the class
    probabilities), with the batch as -1."""
    return (TensorSpec(INPUT_NAME, "FP32", (-1, *info.input_shape)),
            TensorSpec(OUTPUT_NAME, "FP32", (-1, len(info.class_names))))


@dataclass(frozen=True)
class SentTensor:
    """One input as a request sent it: JSON `data`, or `binary_size` bytes of the body's tail."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: Any = None
    binary_size: int | None = None


@dataclass(frozen=True)
class WantedOutput:
    name: str
    binary: bool | None = None  # None: as the request's `binary_data_output` says


@dataclass
class OutputTensor:
    name: str
    datatype: str
    array: np.ndarray
    binary: bool


class Predictor(Protocol):
    def predict(self, x: np.ndarray) -> np.ndarray: ...


# ------------------------------------------------------------------ the body


def json_length(value: str, body_length: int) -> int:
    """The binary extension's header: how many bytes of the body are its JSON part."""
    if not ASCII_DIGITS.match(value.strip()):
        raise InvalidInput(f"header.{BINARY_HEADER}", f"must be a whole number of bytes, got "
                           f"{value[:40]!r}")
    n = int(value)
    if n > body_length:
        raise InvalidInput(f"header.{BINARY_HEADER}", f"says the JSON part is {n} bytes, but the "
                           f"whole body is {body_length} bytes")
    return n


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """A body sent with `Content-Encoding: gzip` or `deflate` (as tritonclient compresses
    requests), expanded to at most `limit` bytes."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise InvalidInput("header.Content-Encoding", f"{encoding[:40]!r} is not supported; send "
                           "gzip, deflate or identity")
    inflater = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InvalidInput("header.Content-Encoding", f"the body is not valid {encoding} "
                           f"data ({exc})") from None
    if len(out) > limit:
        raise TooLarge("body", f"expands past the limit of {limit} bytes "
                       "(CNNPG_MAX_REQUEST_BYTES)")
    return out


def binary_parts(inputs: Sequence[SentTensor], tail: bytes) -> list[bytes | None]:
    """Each input's bytes from the binary part, in the order of the inputs (None for an
    input sent as JSON); the sizes must add up to the binary part exactly."""
    parts: list[bytes | None] = []
    offset = 0
    for t in inputs:
        if t.binary_size is None:
            parts.append(None)
            continue
        if offset + t.binary_size > len(tail):
            raise InvalidInput("inputs", f"input {t.name!r} declares binary_data_size "
                               f"{t.binary_size}, but only {len(tail) - offset} bytes of binary "
                               "data are left after the JSON part")
        parts.append(tail[offset:offset + t.binary_size])
        offset += t.binary_size
    if offset != len(tail):
        raise InvalidInput("inputs", f"{len(tail)} bytes of binary data follow the JSON part, but "
                           f"the inputs' binary_data_size add up to {offset}")
    return parts


# ------------------------------------------------------------------ one input


def _shape_text(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _check_shape(t: SentTensor, spec: TensorSpec, field: str) -> None:
    fits = len(t.shape) == len(spec.shape) and all(
        want in (-1, got) for got, want in zip(t.shape, spec.shape, strict=True))
    if not fits:
        raise InvalidInput(field, f"input {t.name!r} has shape {_shape_text(t.shape)}; the model "
                           f"takes {_shape_text(spec.shape)} (-1: any batch size)")
    if not 1 <= t.shape[0] <= MAX_BATCH:
        raise InvalidInput(field, f"input {t.name!r} has a batch of {t.shape[0]}; send 1 to "
                           f"{MAX_BATCH} instances")


def _from_binary(t: SentTensor, raw: bytes, field: str) -> np.ndarray:
    expected = math.prod(t.shape) * DATATYPES[t.datatype]
    if len(raw) != expected:
        raise InvalidInput(field, f"input {t.name!r} has {len(raw)} bytes of binary data; shape "
                           f"{_shape_text(t.shape)} of {t.datatype} takes {expected}")
    return np.frombuffer(raw, dtype="<f4").reshape(t.shape)


def _from_json(t: SentTensor, field: str) -> np.ndarray:
    try:
        arr = np.asarray(t.data, dtype=np.float32)
    except (ValueError, TypeError):
        raise InvalidInput(field, f"input {t.name!r}: data must be numbers, nested in equal rows "
                           "or flat") from None
    if arr.size != math.prod(t.shape):
        raise InvalidInput(field, f"input {t.name!r} has {arr.size} values in data; shape "
                           f"{_shape_text(t.shape)} takes {math.prod(t.shape)}")
    if arr.ndim != 1 and arr.shape != t.shape:
        raise InvalidInput(field, f"input {t.name!r}: data is nested as {_shape_text(arr.shape)} "
                           f"but the shape says {_shape_text(t.shape)}; nest it as the shape "
                           "or send it flat")
    return arr.reshape(t.shape)


def model_input(t: SentTensor, raw: bytes | None, spec: TensorSpec, field: str) -> np.ndarray:
    """One sent tensor as the model's input: its datatype, shape and size checked."""
    if t.datatype != spec.datatype:
        raise InvalidInput(field, f"input {t.name!r} has datatype {t.datatype}; the model takes "
                           f"{spec.datatype}")
    _check_shape(t, spec, field)
    if (t.data is None) == (raw is None):
        raise InvalidInput(field, f"input {t.name!r}: send either data or the binary_data_size "
                           "parameter with the bytes after the JSON, not both or neither")
    x = _from_binary(t, raw, field) if raw is not None else _from_json(t, field)
    if not np.isfinite(x).all():
        raise InvalidInput(field, f"input {t.name!r} holds NaN or infinite values")
    return x


# ------------------------------------------------------------------ a request


def infer(model: Predictor, info: ModelInfo, inputs: Sequence[SentTensor], tail: bytes,
          wanted: Sequence[WantedOutput], binary_default: bool) -> list[OutputTensor]:
    """An inference request on one model: its one input read (from JSON or the binary
    part), the model run, and the outputs asked for (all of them when none are named)."""
    spec_in, spec_out = signature(info)
    names = [t.name for t in inputs]
    if names != [spec_in.name]:
        raise InvalidInput("inputs", f"the model takes one input, {spec_in.name!r}; got "
                           f"{names[:5]!r}")
    unknown = [w.name for w in wanted if w.name != spec_out.name]
    if unknown:
        raise InvalidInput("outputs", f"the model has one output, {spec_out.name!r}; no output "
                           f"{unknown[0][:64]!r}")
    parts = binary_parts(inputs, tail)
    x = model_input(inputs[0], parts[0], spec_in, "inputs.0")
    probs = np.asarray(model.predict(x), dtype=np.float32)
    binary = next((w.binary for w in wanted if w.binary is not None), binary_default)
    return [OutputTensor(spec_out.name, spec_out.datatype, probs, binary)]


def encode_outputs(outputs: Sequence[OutputTensor]) -> tuple[list[dict[str, Any]], bytes]:
    """The outputs' JSON objects and the binary part that follows them: a binary output
    gives its little-endian bytes and `binary_data_size`, a JSON one its flat `data`."""
    objects: list[dict[str, Any]] = []
    tail: list[bytes] = []
    for o in outputs:
        item: dict[str, Any] = {"name": o.name, "datatype": o.datatype, "shape": list(o.array.shape)}
        if o.binary:
            raw = np.ascontiguousarray(o.array, dtype="<f4").tobytes()
            item["parameters"] = {"binary_data_size": len(raw)}
            tail.append(raw)
        else:
            item["data"] = o.array.ravel().tolist()
        objects.append(item)
    return objects, b"".join(tail)


def batch_from_instances(value: Any, info: ModelInfo, field: str) -> np.ndarray:
    """TensorFlow Serving's batch (nested lists) as the model's input: `[N, H, W, C]`, or
    `[N, H, W]` for a one-channel model."""
    try:
        x = np.asarray(value, dtype=np.float32)
    except (ValueError, TypeError):
        raise InvalidInput(field, "instances must be equally shaped arrays of numbers") from None
    shape = info.input_shape
    if x.ndim == 3 and shape[2] == 1:
        x = x[..., None]
    if x.ndim != 4 or tuple(x.shape[1:]) != shape:
        raise InvalidInput(field, f"each instance must have shape {list(shape)} (or "
                           f"{list(shape[:2])} for one channel); got a batch of shape "
                           f"{list(x.shape)}")
    if not 1 <= len(x) <= MAX_BATCH:
        raise InvalidInput(field, f"send 1 to {MAX_BATCH} instances, got {len(x)}")
    if not np.isfinite(x).all():
        raise InvalidInput(field, "instances must not contain NaN or infinite values")
    return x
