"""Convolution, activation and pooling exactly as Keras computes them.

Keras' `Conv2D` is a cross-correlation (the kernel is not flipped) with TensorFlow's
padding rules; `MaxPooling2D` / `AveragePooling2D` use "valid" windows. The filtering
itself runs through OpenCV's `filter2D` with a zero border, then the output grid Keras
would produce is sliced out of the stride-1 result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from app.errors import InvalidInput, LimitExceeded
from app.geometry import Axis, Padding, axis
from app.lab.kernels import get_kernel, kernel_names


class PoolSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["max", "average"]
    size: int = Field(2, ge=1, le=16, strict=True, description="Pooling window side (pool_size).")
    stride: Annotated[int, Field(ge=1, le=16, strict=True)] | None = Field(
        None, description="Window step; null: the size, as in Keras.")


class ConvolutionSettings(BaseModel):
    """Everything but the image and the kernel."""

    model_config = ConfigDict(extra="forbid")

    stride: int = Field(1, ge=1, le=16, strict=True,
                        description="Step of the kernel in both directions.")
    padding: Padding = "valid"
    activation: Literal["relu"] | None = None
    pool: PoolSettings | None = None


def as_image(value: object, field: str = "image") -> np.ndarray:
    """A 2-D (H, W) or 3-D (H, W, C) array of finite numbers, as float32."""
    try:
        arr = np.asarray(value)
    except ValueError as exc:  # ragged nesting
        raise InvalidInput(field, "rows must all have the same length (the array is ragged)") from exc
    if arr.dtype == object:
        raise InvalidInput(field, "rows must all have the same length (the array is ragged)")
    if arr.dtype.kind not in "iuf":
        raise InvalidInput(field, "must contain only numbers")
    if arr.ndim not in (2, 3):
        raise InvalidInput(field, f"must be a 2-D or 3-D array (height, width[, channels]), got {arr.ndim}-D")
    if arr.shape[0] == 0 or arr.shape[1] == 0 or (arr.ndim == 3 and arr.shape[2] == 0):
        raise InvalidInput(field, "must not be empty")
    if arr.ndim == 3 and arr.shape[2] > 4:
        raise InvalidInput(field, f"may have at most 4 channels, got {arr.shape[2]}")
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise InvalidInput(field, "must not contain NaN or infinite values")
    return arr


def resolve_kernel(value: object, max_size: int, field: str = "kernel") -> np.ndarray:
    """A catalog name or a 2-D matrix with odd sides no larger than `max_size`."""
    if isinstance(value, str):
        kernel = get_kernel(value)
        if kernel is None:
            raise InvalidInput(
                field, f"unknown kernel {value!r}; known kernels: {', '.join(kernel_names())}"
            )
        return np.asarray(kernel.matrix, dtype=np.float32)
    try:
        arr = np.asarray(value)
    except ValueError as exc:
        raise InvalidInput(field, "rows must all have the same length (the kernel is ragged)") from exc
    if arr.dtype == object:
        raise InvalidInput(field, "rows must all have the same length (the kernel is ragged)")
    if arr.dtype.kind not in "iuf" or arr.ndim != 2:
        raise InvalidInput(field, "must be a kernel name or a 2-D matrix of numbers")
    h, w = arr.shape
    if h == 0 or w == 0:
        raise InvalidInput(field, "must not be empty")
    if h % 2 == 0 or w % 2 == 0:
        raise InvalidInput(field, f"sides must be odd so the kernel has a centre, got {h}×{w}")
    if h > max_size or w > max_size:
        raise LimitExceeded(field, f"{h}×{w} is larger than the limit of {max_size}×{max_size}")
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise InvalidInput(field, "must not contain NaN or infinite values")
    return arr


def correlate(image: np.ndarray, kernel: np.ndarray, stride: int, padding: Padding) -> np.ndarray:
    """Keras `Conv2D` with this one kernel and no bias, applied to each channel on its own.

    A 2-D image gives a 2-D map; an (H, W, C) image gives (H', W', C), as Keras
    `DepthwiseConv2D` would. Raises `InvalidInput` when a "valid" kernel does not fit.
    """
    kh, kw = kernel.shape
    gy = axis(image.shape[0], kh, stride, padding)
    gx = axis(image.shape[1], kw, stride, padding)
    if gy.out < 1 or gx.out < 1:
        raise InvalidInput(
            "kernel",
            f"a {kh}×{kw} kernel does not fit a {image.shape[0]}×{image.shape[1]} image "
            'without padding; use padding "same" or a smaller kernel',
        )
    src: np.ndarray = np.ascontiguousarray(image, dtype=np.float32)
    cy, cx = kh // 2, kw // 2
    if kh > src.shape[0] or kw > src.shape[1]:
        # filter2D wants the kernel to fit; the extra zeros change nothing.
        src = cv2.copyMakeBorder(src, cy, cy, cx, cx, cv2.BORDER_CONSTANT, value=0)
        cy_off, cx_off = cy, cx
    else:
        cy_off = cx_off = 0
    full = cv2.filter2D(src, cv2.CV_32F, kernel, borderType=cv2.BORDER_CONSTANT)
    if full.ndim == 2 and image.ndim == 3:  # OpenCV drops a single channel axis
        full = full[:, :, None]
    # Output i starts its window at i*s - pad_before; filter2D centres window j at j.
    y0 = cy - gy.before + cy_off
    x0 = cx - gx.before + cx_off
    # A view, not a copy: the crop costs nothing, whatever the stride.
    return full[y0 : y0 + (gy.out - 1) * stride + 1 : stride, x0 : x0 + (gx.out - 1) * stride + 1 : stride]


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0, dtype=np.float32)


def pool(x: np.ndarray, kind: Literal["max", "average"], size: int, stride: int) -> np.ndarray:
    """Keras `MaxPooling2D` / `AveragePooling2D` with padding "valid"."""
    h, w = x.shape[:2]
    if size > h or size > w:
        raise InvalidInput(
            "pool.size", f"a {size}×{size} window does not fit the {h}×{w} map it pools"
        )
    gy, gx = axis(h, size, stride), axis(w, size, stride)
    # Reduce over the size² offsets of strided views: no window copies, one pass each.
    span_y, span_x = (gy.out - 1) * stride + 1, (gx.out - 1) * stride + 1
    out: np.ndarray | None = None
    for i in range(size):
        for j in range(size):
            view = x[i : i + span_y : stride, j : j + span_x : stride]
            if out is None:
                out = view.astype(np.float32, copy=True)
            elif kind == "max":
                np.maximum(out, view, out=out)
            else:
                out += view
    assert out is not None
    if kind == "average":
        out /= size * size
    return out


@dataclass
class ConvolutionResult:
    image: np.ndarray
    kernel: np.ndarray
    settings: ConvolutionSettings
    feature_map: np.ndarray
    activated: np.ndarray
    pooled: np.ndarray | None

    @property
    def geometry(self) -> tuple[Axis, Axis]:
        kh, kw = self.kernel.shape
        s, p = self.settings.stride, self.settings.padding
        return (axis(self.image.shape[0], kh, s, p),
                axis(self.image.shape[1], kw, s, p))

    @property
    def pool_stride(self) -> int | None:
        pool_settings = self.settings.pool
        if pool_settings is None:
            return None
        return pool_settings.stride or pool_settings.size

    def shapes(self) -> dict[str, list[int] | None]:
        return {
            "input": list(self.image.shape),
            "kernel": list(self.kernel.shape),
            "feature_map": list(self.feature_map.shape),
            "activated": list(self.activated.shape),
            "pooled": None if self.pooled is None else list(self.pooled.shape),
        }


def run(
    image: np.ndarray,
    kernel: np.ndarray,
    settings: ConvolutionSettings,
    *,
    max_stride: int = 16,
    max_pool_size: int = 16,
) -> ConvolutionResult:
    """Convolve, activate and pool: the three stages the Kernel Lab shows side by side."""
    if settings.stride > max_stride:
        raise LimitExceeded("stride", f"{settings.stride} is over the limit of {max_stride}")
    feature_map = correlate(image, kernel, settings.stride, settings.padding)
    activated = relu(feature_map) if settings.activation == "relu" else feature_map
    pooled = None
    if settings.pool is not None:
        size = settings.pool.size
        stride = settings.pool.stride or size
        if size > max_pool_size:
            raise LimitExceeded("pool.size", f"{size} is over the limit of {max_pool_size}")
        if stride > max_pool_size:
            raise LimitExceeded("pool.stride", f"{stride} is over the limit of {max_pool_size}")
        pooled = pool(activated, settings.pool.type, size, stride)
    return ConvolutionResult(image, kernel, settings, feature_map, activated, pooled)
