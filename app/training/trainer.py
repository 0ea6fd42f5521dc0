"""The training function: one architecture on one dataset, with progress and a result.

The pieces every way of training shares (the progress report and its step curve, the
outcome, the registry record); `train()` trains one job alone, as the CLI
(`cnn-playground train`) and the benchmarks do, with the same session a worker runs
(app/training/session.py), so they train exactly alike.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from app.datasets.builtin import Dataset, DatasetInfo
from app.networks.architecture import ArchitectureSpec
from app.networks.registry import Registry
from app.training.timelapse import Frame

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MISCLASSIFIED_SHOWN = 24
PROGRESS_INTERVAL = 0.5  # seconds between progress writes: negligible next to a batch
MAX_STEPS = 300  # points in progress.steps, however long the job


class JobCancelled(Exception):
    """Raised while a job trains when a cancel was asked for."""


# progress dict → True when the job should stop
ProgressSink = Callable[[dict[str, Any]], bool]
# a timelapse frame → stored (the worker writes it to the database)
FrameSink = Callable[[Frame], None]


@dataclass
class Outcome:
    keras_bytes: bytes
    test_loss: float
    test_accuracy: float
    confusion_matrix: list[list[int]]
    misclassified: list[dict[str, Any]]
    history: list[dict[str, float]]
    seconds: float
    total_params: int
    dataset: DatasetInfo
    seed: int | None = None

    @property
    def per_class_accuracy(self) -> list[float | None]:
        return per_class_accuracy(self.confusion_matrix)


def per_class_accuracy(confusion: list[list[int]]) -> list[float | None]:
    """Each class's share of test images classified right (None for a class with none)."""
    return [round(row[i] / sum(row), 5) if sum(row) else None for i, row in enumerate(confusion)]


def seed_everything(seed: int) -> None:
    """The same seed, settings and data give the same model on the same machine: Python's,
    NumPy's, TensorFlow's and Keras' generators seeded, and TensorFlow's ops deterministic
    (for the rest of this process: a worker only trains)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


class StepLog:
    """The loss and accuracy curve per training step, at most `limit` points however long the
    job: every `stride`-th step, the stride fixed from the job's total steps when it starts,
    so the curve only grows while a learner watches (it never loses points it has shown).

    Keras' logs give the running mean over the epoch so far, which restarts at each epoch
    and jumps there; each batch's own value is recovered from two running means (the n-th
    batch's value is n·mean_n − (n−1)·mean_(n−1)), and the curve is their exponential moving
    average over about a fiftieth of an epoch, carried across epoch boundaries."""

    def __init__(self, total_steps: int | None = None, steps_per_epoch: int | None = None,
                 limit: int = MAX_STEPS) -> None:
        self.limit = limit
        self.stride = max(1, math.ceil((total_steps or 0) / limit))
        span = max(1, (steps_per_epoch or 50) // 50)
        self.alpha = 2.0 / (span + 1)
        self.points: list[dict[str, float]] = []
        self._mean: np.ndarray | None = None  # the running means (loss, accuracy) at the last batch
        self._smooth: np.ndarray | None = None

    def add(self, step: int, batch: int, loss: float, accuracy: float) -> None:
        """`batch`: 1 for an epoch's first batch (its running means start afresh)."""
        means = np.array([loss, accuracy], dtype=np.float64)
        values = means if batch <= 1 or self._mean is None else batch * means - (batch - 1) * self._mean
        self._mean = means
        if self._smooth is None or not np.isfinite(self._smooth).all():
            self._smooth = values
        else:
            self._smooth = self._smooth + self.alpha * (values - self._smooth)
        if step % self.stride:
            return
        smooth_loss, smooth_accuracy = (float(v) for v in self._smooth)
        self.points.append({"step": step, "loss": _finite(max(smooth_loss, 0.0)),
                            "accuracy": _finite(min(max(smooth_accuracy, 0.0), 1.0))})
        if len(self.points) > self.limit:  # only when the total was not known at the start
            self.points = self.points[1::2]
            self.stride *= 2


def _finite(v: float) -> Any:
    return round(v, 5) if np.isfinite(v) else None


class ProgressReport:
    """Epoch, batch, per-step and per-epoch metrics, throughput and time left, written
    to `sink` at most every PROGRESS_INTERVAL (and at each epoch's end). Keras' callback
    (make_progress_callback) forwards its events here."""

    def __init__(self, sink: ProgressSink | None, should_stop: Callable[[], bool],
                 batch_size: int = 32, frames_recorded: Callable[[], int] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.sink, self.should_stop, self.batch_size = sink, should_stop, batch_size
        self.frames_recorded = frames_recorded
        # The job's own training time: in turn with other jobs, the wall clock would count
        # their turns too.
        self.clock = clock
        self.extra: dict[str, Any] = {}  # set by whoever runs the job (device, sharing, eta)
        self.history: list[dict[str, float]] = []
        self.state: dict[str, Any] = {}
        self.steps = StepLog()
        self.last = 0.0
        self.step = 0
        self.rate: float | None = None  # training steps per second
        self.rate_from: tuple[float, int] | None = None
        self.last_batch_end = 0.0
        self.validation_seconds = 0.0
        self.epoch_done = False

    def _timing(self) -> dict[str, Any]:
        if self.rate is None:
            return {"images_per_second": None, "eta_seconds": None}
        s = self.state
        epochs, batches = s.get("epochs") or 1, s.get("batches") or 0
        epoch, batch = s.get("epoch") or 1, s.get("batch") or 0
        steps_left = (epochs - epoch) * batches + (batches - batch)
        validations_left = epochs - epoch + (0 if self.epoch_done else 1)
        eta = steps_left / self.rate + validations_left * self.validation_seconds
        return {"images_per_second": round(self.rate * self.batch_size, 1),
                "eta_seconds": round(eta, 1)}

    def emit(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.should_stop():
            raise JobCancelled
        if self.sink is None or (not force and now - self.last < PROGRESS_INTERVAL):
            return
        self.last = now
        if self.frames_recorded is not None:
            self.state["frames"] = self.frames_recorded()
        if self.sink({**self.state, **self._timing(), **self.extra, "history": self.history,
                      "steps": self.steps.points, "updated": time.time()}):
            raise JobCancelled

    def on_train_begin(self, params: dict[str, Any]) -> None:
        self.state = {"epoch": 0, "epochs": params.get("epochs"), "batch": 0,
                      "batches": params.get("steps"), "step": 0, "phase": "training"}
        per_epoch = params.get("steps")
        self.steps = StepLog((params.get("epochs") or 1) * per_epoch if per_epoch else None,
                             per_epoch)
        self.emit(force=True)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.state.update(epoch=epoch + 1, batch=0, phase="training")
        self.rate_from = None
        self.epoch_done = False

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        now = self.clock()
        self.step += 1
        loss = float((logs or {}).get("loss", np.nan))
        accuracy = float((logs or {}).get("accuracy", np.nan))
        self.steps.add(self.step, batch + 1, loss, accuracy)
        # The rate from the end of each epoch's first batch: a job's first batch traces
        # the model, and each epoch starts its data pipeline afresh.
        if self.rate_from is None:
            self.rate_from = (now, batch + 1)
        elif now > self.rate_from[0]:
            self.rate = (batch + 1 - self.rate_from[1]) / (now - self.rate_from[0])
        self.last_batch_end = now
        self.state.update(batch=batch + 1, step=self.step, loss=_finite(loss),
                          accuracy=_finite(accuracy))
        self.emit()

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.state.get("phase") == "training":  # validation inside fit
            self.state["phase"] = "validating"

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.state.get("phase") == "validating":
            self.validation_seconds = self.clock() - self.last_batch_end
        self.state["phase"] = "training"
        self.epoch_done = True
        entry: dict[str, float] = {"epoch": epoch + 1}
        entry.update({k: round(float(v), 5) for k, v in (logs or {}).items()
                      if k in ("loss", "accuracy", "val_loss", "val_accuracy")})
        self.history.append(entry)
        self.emit(force=True)


def validation_part(x: np.ndarray, y: np.ndarray, validation_split: float
                    ) -> tuple[np.ndarray, np.ndarray] | None:
    """The images Keras' `validation_split` holds out: the last fraction, unshuffled."""
    if not validation_split:
        return None
    split_at = math.floor(len(x) * (1.0 - validation_split))
    if split_at in (0, len(x)):
        return None
    return x[split_at:], y[split_at:]


def compile_model(model: Any, spec: ArchitectureSpec, optimizer: str, learning_rate: float) -> None:
    import keras

    opt = keras.optimizers.get({"class_name": optimizer, "config": {"learning_rate": learning_rate}})
    softmax_out = getattr(spec.layers[-1], "activation", None) == "softmax"
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=not softmax_out)
    model.compile(optimizer=opt, loss=loss, metrics=["accuracy"])


def first_samples(data: Dataset, train_samples: int | None) -> Dataset:
    """The dataset with only its first `train_samples` training images (views, not copies)."""
    if not train_samples:
        return data
    return replace(data, x_train=data.x_train[:train_samples], y_train=data.y_train[:train_samples])


def train(
    spec: ArchitectureSpec,
    dataset: Dataset,
    training: dict[str, Any],
    *,
    sink: ProgressSink | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    frames: FrameSink | None = None,
    seed: int | None = 0,
    verbose: int = 0,
) -> Outcome:
    """Train `spec` on `dataset` to the end, alone, exactly as a worker trains a job (the
    same session, app/training/session.py); `seed` (None: unseeded) makes it reproducible."""
    from app.training.compiled import CompiledModels
    from app.training.session import TrainingSession

    if seed is not None:
        seed_everything(seed)
    session = TrainingSession(spec, dataset, training, compiled_models=CompiledModels(0),
                              seed=seed, sink=sink, frames=frames, should_stop=should_stop,
                              verbose=bool(verbose))
    return session.run()


def save_to_registry(registry: Registry, outcome: Outcome, spec: ArchitectureSpec,
                     training: dict[str, Any], *, name: str, job_id: str | None = None,
                     owner: str | None = None, nickname: str | None = None,
                     class_code: str | None = None) -> str:
    """Store a trained model with its training record; the new model's id."""
    # A dataset made from photos says how photos were fitted to its size: predictions on
    # the model fit a new photo the same way (app/networks/inference.py).
    fit = {"input_fit": outcome.dataset.fit} if outcome.dataset.fit else {}
    return registry.save_trained(
        name=name, dataset=outcome.dataset.id, input_shape=list(spec.input_shape),
        class_names=list(outcome.dataset.class_names), test_accuracy=outcome.test_accuracy,
        test_loss=outcome.test_loss, total_params=outcome.total_params,
        architecture=spec.model_dump(mode="json", exclude_none=True),
        training={**training, "seconds": round(outcome.seconds, 2), "history": outcome.history,
                  "per_class_accuracy": outcome.per_class_accuracy, **fit},
        keras_bytes=outcome.keras_bytes, job_id=job_id, owner=owner,
        nickname=nickname, class_code=class_code,
    )
