"""TensorFlow in this process: its thread pools, one load or trace at a time, tracing
only when it pays, and the collector spared TensorFlow's objects.

Tracing a function of a deep model costs what six or seven eager passes do (EfficientNetB0
at 32×32: 2.9 s of CPU to trace, 0.44 s a pass eagerly, 0.012 s once traced), and many
models are asked once only (an upload tried, a heatmap looked at): `TracedLater` runs its
first call eagerly and traces at the second.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from typing import Any

# Keras and TensorFlow do not import, load and trace models safely in parallel threads: one
# at a time in the whole process (loads, uploads being checked, explainers being traced).
KERAS_LOCK = threading.RLock()


def traced(fn: Callable[..., Any], *specs: Any) -> Any:
    """`fn` traced for `specs` (tf.TensorSpec) as a graph, without AutoGraph: none of these
    functions branches or loops on a tensor's value, and Keras does not convert its own
    training step either. Converting cost a process 0.3-0.5 s of CPU the first time."""
    import tensorflow as tf

    return tf.function(fn, autograph=False).get_concrete_function(*specs)


class TracedLater:
    """`fn` eagerly on the first call, then traced for `specs` (tf.TensorSpec) under
    KERAS_LOCK, on the second call or at `trace()`."""

    def __init__(self, fn: Callable[..., Any], *specs: Any) -> None:
        self._fn = fn
        self._specs = specs
        self._traced: Any = None
        self._ran_eagerly = False

    def trace(self) -> Any:
        if self._traced is None:
            with KERAS_LOCK:
                if self._traced is None:
                    self._traced = traced(self._fn, *self._specs)
        return self._traced

    def __call__(self, *args: Any) -> Any:
        if self._traced is None and not self._ran_eagerly:
            self._ran_eagerly = True
            return self._fn(*args)
        return self.trace()(*args)


_threads_configured = False


def configure_tensorflow(threads: int) -> None:
    """TensorFlow's thread pools belong to the process and can only be sized before its
    runtime starts: the first application in a process sets them."""
    global _threads_configured
    if _threads_configured:
        return
    _threads_configured = True
    if threads:
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # already initialised by something else in this process
            pass


_frozen = False


def freeze_collected_objects() -> None:
    """Python's full garbage collection walks every object it tracks: with TensorFlow, Keras
    and a model loaded, about half a million, which took 1.1 s here under load, and every
    request waiting meanwhile paid it (the ~1 s p99 of /predict at 32 connections). What is
    alive once the first model has loaded (TensorFlow's modules, mostly) lives as long as
    the process: it is collected once, then frozen out of later collections (gc.freeze),
    once per process."""
    global _frozen
    if _frozen:
        return
    _frozen = True
    gc.collect()
    gc.freeze()
