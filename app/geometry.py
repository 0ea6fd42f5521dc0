"""Sliding windows, as Keras computes them: one place for the output size, the padding
before and after, the input positions under an output cell, and the formula a learner
reads. Keras' own rule is in `keras/src/ops/operation_utils.py`
(`compute_conv_output_shape`, `compute_pooling_output_shape`): "valid" keeps the positions
where the window fits, ⌊(n − span) / s⌋ + 1; "same" gives ⌈n / s⌉ outputs and pads with
zeros, the odd pixel at the end (TensorFlow's rule).

The Kernel Lab (app/lab), the architecture spec's shapes (app/networks/layers), Explain's
receptive fields and the browser's convolution (static/js/lab-engine.js, checked against
vectors this module writes: tests/test_geometry.py) all take their windows from here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

Padding = Literal["valid", "same"]

# How the Kernel Lab writes an output size, with the numbers filled in: the same for the
# height and the width (the page gets these too, and fills them in the browser).
FORMULAS: dict[str, str] = {
    "valid": "⌊(n + 2p − k) / s⌋ + 1 = ⌊({n} + 2·0 − {k}) / {s}⌋ + 1 = {out}",
    "same": "⌊(n + p₁ + p₂ − k) / s⌋ + 1 = ⌊({n} + {before} + {after} − {k}) / {s}⌋ + 1 = {out}",
    "pool": "⌊(n − size) / stride⌋ + 1 = ⌊({n} − {k}) / {s}⌋ + 1 = {out}",
}
# Said under the formulas where "same" padding is on, in the Kernel Lab and in its page.
SAME_PADDING_NOTE = ("p₁ and p₂ are the zeros added before (top, left) and after (bottom, "
                     "right); \"same\" puts the odd one after, as TensorFlow does. The band "
                     "along the feature map's border comes from those zeros, not from the "
                     "image: there the kernel reads zeros as if the picture were dark.")


def pair(v: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """A size as Keras takes it: 3 or (3, 3)."""
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


@dataclass(frozen=True)
class Axis:
    """One spatial axis of a sliding window: input size n, window k, stride s, dilation d,
    and the zeros padded before and after the input."""

    n: int
    k: int
    s: int = 1
    d: int = 1
    before: int = 0
    after: int = 0

    @property
    def span(self) -> int:
        """How many input positions one window covers (dilation spreads it)."""
        return (self.k - 1) * self.d + 1

    @property
    def out(self) -> int:
        return (self.n + self.before + self.after - self.span) // self.s + 1

    def first(self, i: int) -> int:
        """The input position of output i's window's first tap (negative: in the padding)."""
        return i * self.s - self.before

    def positions(self, i: int) -> np.ndarray:
        """The input positions of output i's taps."""
        return self.first(i) + self.d * np.arange(self.k)

    def covered(self, lo: int, hi: int) -> tuple[int, int]:
        """The input positions outputs lo…hi read, clipped to the input (lo > hi: none)."""
        return max(self.first(lo), 0), min(self.first(hi) + self.span - 1, self.n - 1)

    def formula(self, kind: str = "valid") -> str:
        """The output size written out (FORMULAS[kind]) with this axis' numbers."""
        return FORMULAS[kind].format(n=self.n, k=self.span, s=self.s, before=self.before,
                                     after=self.after, out=self.out)


def axis(n: int, k: int, s: int = 1, padding: str = "valid", d: int = 1) -> Axis:
    """The axis as Keras lays it out for this padding."""
    span = (k - 1) * d + 1
    if padding == "valid":
        return Axis(n, k, s, d)
    out = math.ceil(n / s)
    total = max((out - 1) * s + span - n, 0)
    return Axis(n, k, s, d, total // 2, total - total // 2)


def out_size(n: int, k: int, s: int = 1, padding: str = "valid", d: int = 1) -> int:
    """One spatial side after the window (≤ 0: the window does not fit)."""
    return axis(n, k, s, padding, d).out


def window_axes(shape: tuple[int, ...], kernel: tuple[int, int], strides: tuple[int, int],
                padding: str, dilation: tuple[int, int] = (1, 1)) -> tuple[Axis, Axis]:
    """The rows' and the columns' axes of a 2-D window over an (H, W, …) input."""
    return (axis(shape[0], kernel[0], strides[0], padding, dilation[0]),
            axis(shape[1], kernel[1], strides[1], padding, dilation[1]))
