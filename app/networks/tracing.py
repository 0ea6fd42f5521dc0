"""Tracing TensorFlow functions only when it pays, and one trace at a time.

Tracing a function of a deep model costs what six or seven eager passes do (EfficientNetB0
at 32×32: 2.9 s of CPU to trace, 0.44 s a pass eagerly, 0.012 s once traced), and many
models are asked once only (an upload tried, a heatmap looked at): `TracedLater` runs its
first call eagerly and traces at the second.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

# Keras and TensorFlow do not import, load and trace models safely in parallel threads: one
# at a time in the whole process (loads, uploads being checked, explainers being traced).
KERAS_LOCK = threading.RLock()


class TracedLater:
    """`fn` eagerly on the first call, then traced for `specs` (tf.TensorSpec) under
    KERAS_LOCK, on the second call or at `trace()`."""

    def __init__(self, fn: Callable[..., Any], *specs: Any) -> None:
        self._fn = fn
        self._specs = specs
        self._traced: Any = None
        self._eager_calls = 0

    def trace(self) -> Any:
        if self._traced is None:
            import tensorflow as tf

            with KERAS_LOCK:
                if self._traced is None:
                    self._traced = tf.function(self._fn).get_concrete_function(*self._specs)
        return self._traced

    def __call__(self, *args: Any) -> Any:
        if self._traced is None and self._eager_calls == 0:
            self._eager_calls += 1
            return self._fn(*args)
        return self.trace()(*args)
