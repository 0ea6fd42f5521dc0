"""LiteRT (TensorFlow Lite) for single predictions of small models, and the flatbuffer a
download gives.

Converting takes about 0.5 s of CPU even for the digit model, and the result depends only
on the model's file: flatbuffers are kept by the file's SHA-256, so a model loaded again
(after CNNPG_MAX_LOADED_MODELS dropped it, or by another application in the same process)
is not converted again.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)
LITE_MAX_PARAMS = 1_000_000  # LiteRT for single predictions of models up to this size
LITE_MAX_OPS = 100
KEPT_FLATBUFFERS = 16  # the most recently converted; a small model's is at most a few MB

_converted: OrderedDict[str, bytes] = OrderedDict()
_converted_lock = threading.Lock()


def file_key(path: Path | None) -> str | None:
    """What a conversion is kept under: the SHA-256 of the model's file."""
    if path is None:
        return None
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def tflite_flatbuffer(model: Any, key: str | None = None) -> bytes:
    """The Keras model as a LiteRT (TensorFlow Lite) flatbuffer; `key`: its file's
    SHA-256, under which an earlier conversion of the same file is reused."""
    import tensorflow as tf

    if key is not None:
        with _converted_lock:
            if key in _converted:
                _converted.move_to_end(key)
                return _converted[key]
    with contextlib.redirect_stdout(io.StringIO()):
        content = bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    if key is not None:
        with _converted_lock:
            _converted[key] = content
            while len(_converted) > KEPT_FLATBUFFERS:
                _converted.popitem(last=False)
    return content


class LiteRunner:
    """One LiteRT interpreter for batch-size-1 calls; interpreters are not thread-safe."""

    def __init__(self, content: bytes) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.content = content  # the .tflite flatbuffer, also what a download gives
        self._interpreter = Interpreter(model_content=content, num_threads=1)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._lock = threading.Lock()

    @classmethod
    def convert(cls, model: Any, key: str | None = None) -> LiteRunner | None:
        """None where LiteRT or the conversion is unavailable: TensorFlow then serves alone."""
        try:
            return cls(tflite_flatbuffer(model, key))
        except Exception:
            log.warning("LiteRT unavailable for %s; using TensorFlow", model.name, exc_info=True)
            return None

    def run(self, x: np.ndarray) -> np.ndarray:
        with self._lock:
            self._interpreter.set_tensor(self._input, np.ascontiguousarray(x, dtype=np.float32))
            self._interpreter.invoke()
            return self._interpreter.get_tensor(self._output)
