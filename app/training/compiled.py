"""One traced Keras model per architecture, shared by every job that trains it.

Jobs that train the same architecture with the same optimizer and loss share one Keras
model, one optimizer and their traced functions (a training step, an evaluation batch):
tracing costs about a second, a job's turn a fraction of that. Each job keeps its own
state as tensors: weights, optimizer slots, step count and learning rate, dropout and
augmentation seeds, batch-norm statistics. When a job's turn comes, its state is loaded
into the shared variables (`hold`), and read back only when another job needs them, so a
job training alone never swaps. A job's numbers depend on its own state and data alone:
it trains exactly alike alone or in turn with twenty-nine others.
"""

from __future__ import annotations

import json
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from app.networks.architecture import ArchitectureSpec, Summary, build_model, check

KEPT_IDLE = 8  # compiled models kept while no job uses them


class Holder(Protocol):
    """A job whose state a compiled model can hold."""

    state: list[Any] | None


def make_optimizer(name: str, learning_rate: float) -> Any:
    import keras

    return keras.optimizers.get({"class_name": name, "config": {"learning_rate": learning_rate}})


def ends_in_softmax(spec: ArchitectureSpec) -> bool:
    return getattr(spec.layers[-1], "activation", None) == "softmax"


def signature(spec: ArchitectureSpec, optimizer: str) -> str:
    """What two jobs must share to share a compiled model (the learning rate is state)."""
    return json.dumps({"spec": spec.model_dump(mode="json", exclude_none=True),
                       "optimizer": optimizer}, sort_keys=True)


class Compiled:
    """The shared model, optimizer and traced functions of one signature."""

    def __init__(self, spec: ArchitectureSpec, optimizer: str, summary: Summary | None = None
                 ) -> None:
        import keras
        import tensorflow as tf

        self.spec = spec
        self.summary = summary or check(spec, max_layers=10_000, max_params=10**12)
        self.optimizer_name = optimizer
        self.model = build_model(spec, self.summary)
        self.optimizer = make_optimizer(optimizer, 1e-3)
        self.optimizer.build(self.model.trainable_variables)
        from_logits = not ends_in_softmax(spec)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
        # Compiled, so that a saved model carries its loss, metric and optimizer as before.
        self.model.compile(optimizer=self.optimizer, loss=loss, metrics=["accuracy"])
        self.variables = [v.value for v in self.model.variables + self.optimizer.variables]
        self.holder: Holder | None = None
        self.users = 0
        self.conv = next((layer for layer in self.model.layers
                          if isinstance(layer, keras.layers.Conv2D)), None)
        self.maps_model = (keras.Model(self.model.inputs[0], self.conv.output)
                           if self.conv is not None else None)
        model, opt, variables = self.model, self.optimizer, self.variables
        h, w, c = spec.input_shape
        images = tf.TensorSpec([None, h, w, c], tf.float32)
        labels = tf.TensorSpec([None], tf.int64)

        def right(y: Any, predicted: Any) -> Any:
            return tf.reduce_sum(tf.cast(tf.equal(tf.argmax(predicted, axis=1), y), tf.int32))

        @tf.function(input_signature=[images, labels], autograph=False)
        def step(x: Any, y: Any) -> Any:
            with tf.GradientTape() as tape:
                predicted = model(x, training=True)
                value = loss(y, predicted)
                if model.losses:
                    value = value + tf.add_n(model.losses)
            grads = tape.gradient(value, model.trainable_variables)
            opt.apply(grads, model.trainable_variables)
            return value, right(y, predicted)

        @tf.function(input_signature=[images, labels], autograph=False)
        def evaluate(x: Any, y: Any) -> Any:
            predicted = model(x, training=False)
            each = keras.losses.sparse_categorical_crossentropy(y, predicted,
                                                                from_logits=from_logits)
            return tf.reduce_sum(each), tf.argmax(predicted, axis=1)

        @tf.function(autograph=False)
        def load(values: list[Any]) -> None:
            for variable, value in zip(variables, values, strict=True):
                variable.assign(value)

        @tf.function(autograph=False)
        def read() -> list[Any]:
            return [tf.identity(v) for v in variables]

        self._step, self._evaluate, self._load, self._read = step, evaluate, load, read

    # ------------------------------------------------------------ a job's state

    def fresh_state(self, seed: int | None, learning_rate: float) -> list[Any]:
        """A new job's state: the weights a model built with this seed starts from (and its
        dropout and augmentation seeds), and a new optimizer at this learning rate."""
        import keras
        import tensorflow as tf

        if seed is not None:
            keras.utils.set_random_seed(seed)
        model = build_model(self.spec, self.summary)
        optimizer = make_optimizer(self.optimizer_name, learning_rate)
        optimizer.build(model.trainable_variables)
        fresh = model.variables + optimizer.variables
        if [tuple(v.shape) for v in fresh] != [tuple(v.shape) for v in self.variables]:
            raise RuntimeError(f"model {self.spec.name}: a new build does not match the shared one")
        return [tf.identity(v.value) for v in fresh]

    def hold(self, job: Holder) -> None:
        """Make the shared variables this job's (keeping the previous holder's state)."""
        if self.holder is job:
            return
        if self.holder is not None:
            self.holder.state = self._read()
        assert job.state is not None
        self._load(job.state)
        job.state = None  # the variables hold it now
        self.holder = job

    def release(self, job: Holder) -> None:
        """The job ends: nobody holds the variables (its state is dropped)."""
        if self.holder is job:
            self.holder = None

    # ------------------------------------------------------------ work (the holder's)

    def step(self, x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
        """One training step on a batch: its loss and how many it got right."""
        loss, right = self._step(x, y)
        return float(loss), int(right)

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """The summed loss over a batch, and the predicted classes."""
        total, predicted = self._evaluate(x, y)
        return float(total), predicted.numpy()

    def kernels_and_maps(self, probe: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The first Conv2D layer's kernels and its feature maps of one image (a frame)."""
        if self.conv is None or self.maps_model is None:
            return None, None
        kernels = np.asarray(self.conv.get_weights()[0])
        return kernels, np.asarray(self.maps_model(probe[None], training=False))[0]

    def keras_bytes(self) -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.keras"
            self.model.save(path)
            return path.read_bytes()


class CompiledModels:
    """Compiled models by signature; unused ones are dropped beyond KEPT_IDLE."""

    def __init__(self, kept_idle: int = KEPT_IDLE) -> None:
        self.kept_idle = kept_idle
        self._by_key: OrderedDict[str, Compiled] = OrderedDict()
        self._lock = threading.Lock()

    def acquire(self, spec: ArchitectureSpec, optimizer: str) -> Compiled:
        key = signature(spec, optimizer)
        with self._lock:
            compiled = self._by_key.get(key)
            if compiled is None:
                compiled = self._by_key[key] = Compiled(spec, optimizer)
            self._by_key.move_to_end(key)
            compiled.users += 1
            return compiled

    def release(self, compiled: Compiled, job: Holder) -> None:
        with self._lock:
            compiled.release(job)
            compiled.users -= 1
            idle = [k for k, c in self._by_key.items() if c.users == 0]
            for key in idle[:max(0, len(idle) - self.kept_idle)]:
                del self._by_key[key]

    def __len__(self) -> int:
        return len(self._by_key)
