"""The training function: one architecture on one dataset, with progress and a result.

Shared by the job worker, the CLI (`cnn-playground train`) and bench/train.py, so they
train exactly alike.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from app.datasets.builtin import Dataset, DatasetInfo
from app.imaging.rendering import data_url, gray_image, png_bytes
from app.networks.architecture import ArchitectureSpec, build_model, check
from app.networks.registry import Registry
from app.training import timelapse
from app.training.timelapse import Frame

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MISCLASSIFIED_SHOWN = 24
PROGRESS_INTERVAL = 0.5  # seconds between progress writes: negligible next to a batch
MAX_STEPS = 300  # points in progress.steps, however long the job


class JobCancelled(Exception):
    """Raised inside fit() when a cancel was asked for."""


# progress dict → True when the job should stop
ProgressSink = Callable[[dict[str, Any]], bool]
# a timelapse frame → stored (the worker writes it to the database)
FrameSink = Callable[[Frame], None]


@dataclass
class Outcome:
    model: Any
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
                 batch_size: int = 32, frames_recorded: Callable[[], int] | None = None) -> None:
        self.sink, self.should_stop, self.batch_size = sink, should_stop, batch_size
        self.frames_recorded = frames_recorded
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
        if self.sink({**self.state, **self._timing(), "history": self.history,
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
        now = time.monotonic()
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
            self.validation_seconds = time.monotonic() - self.last_batch_end
        self.state["phase"] = "training"
        self.epoch_done = True
        entry: dict[str, float] = {"epoch": epoch + 1}
        entry.update({k: round(float(v), 5) for k, v in (logs or {}).items()
                      if k in ("loss", "accuracy", "val_loss", "val_accuracy")})
        self.history.append(entry)
        self.emit(force=True)


def make_progress_callback(sink: ProgressSink | None, should_stop: Callable[[], bool],
                           batch_size: int = 32,
                           frames_recorded: Callable[[], int] | None = None) -> Any:
    """Keras' callback for a ProgressReport (its `report`)."""
    import keras

    report = ProgressReport(sink, should_stop, batch_size, frames_recorded)

    class Progress(keras.callbacks.Callback):
        def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
            report.on_train_begin(self.params)

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            report.on_epoch_begin(epoch, logs)

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            report.on_train_batch_end(batch, logs)

        def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
            report.on_test_begin(logs)

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            report.on_epoch_end(epoch, logs)

    callback = Progress()
    callback.report = report
    return callback


def validation_part(x: np.ndarray, y: np.ndarray, validation_split: float
                    ) -> tuple[np.ndarray, np.ndarray] | None:
    """The images Keras' `validation_split` holds out: the last fraction, unshuffled."""
    if not validation_split:
        return None
    split_at = math.floor(len(x) * (1.0 - validation_split))
    if split_at in (0, len(x)):
        return None
    return x[split_at:], y[split_at:]


def make_timelapse_callback(record: FrameSink, probe: np.ndarray, probe_label: int,
                            validation: tuple[np.ndarray, np.ndarray] | None) -> Any:
    import keras

    class TimelapseRecorder(keras.callbacks.Callback):
        """Frame 0 before the first step, then one frame as each epoch ends."""

        def __init__(self) -> None:
            super().__init__()
            self.recorded = 0
            self.conv: Any = None
            self.maps_model: Any = None

        def _frame(self, epoch: int, val_accuracy: float | None, **extra: Any) -> None:
            kernels = maps = None
            if self.conv is not None:
                kernels = np.asarray(self.conv.get_weights()[0])
                maps = np.asarray(self.maps_model(probe[None], training=False))[0]
            record(timelapse.capture(epoch, kernels, maps, val_accuracy, **extra))
            self.recorded += 1

        def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
            model = self.model
            self.conv = next((layer for layer in model.layers
                              if isinstance(layer, keras.layers.Conv2D)), None)
            if self.conv is not None:
                self.maps_model = keras.Model(model.inputs[0], self.conv.output)
            accuracy = None
            if validation is not None:  # the untrained model's, for the replay's first frame
                x, y = validation
                right = sum(int((np.argmax(np.asarray(model(x[i:i + 1024], training=False)),
                                           axis=1) == y[i:i + 1024]).sum())
                            for i in range(0, len(x), 1024))
                accuracy = round(right / len(x), 5)
            self._frame(0, accuracy, probe=probe, probe_label=probe_label)

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            val = (logs or {}).get("val_accuracy")
            self._frame(epoch + 1, round(float(val), 5) if val is not None else None)

    return TimelapseRecorder()


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
    """Train `spec` on `dataset`; `seed` (None: unseeded) makes the run reproducible."""
    if seed is not None:
        seed_everything(seed)
    summary = check(spec, max_layers=10_000, max_params=10**12)
    data = first_samples(dataset, training.get("train_samples"))
    model = build_model(spec, summary)
    compile_model(model, spec, training.get("optimizer", "adam"), training.get("learning_rate", 1e-3))
    batch_size = training.get("batch_size", 32)
    validation_split = training.get("validation_split", 0.0)
    callbacks = []
    recorder = None
    if frames is not None:
        recorder = make_timelapse_callback(
            frames, data.x_test[timelapse.PROBE_INDEX], int(data.y_test[timelapse.PROBE_INDEX]),
            validation_part(data.x_train, data.y_train, validation_split))
        callbacks.append(recorder)  # before progress, which reports the frames recorded
    progress = make_progress_callback(sink, should_stop, batch_size,
                                      (lambda: recorder.recorded) if recorder else None)
    callbacks.append(progress)
    start = time.monotonic()
    model.fit(data.x_train, data.y_train, batch_size=batch_size,
              epochs=training.get("epochs", 1), validation_split=validation_split,
              callbacks=callbacks, verbose=verbose)
    seconds = time.monotonic() - start
    if sink is not None:
        progress.report.state["phase"] = "evaluating"
        progress.report.emit(force=True)
    test_loss, test_accuracy = model.evaluate(data.x_test, data.y_test, verbose=0,
                                              batch_size=256)
    predicted = np.argmax(model.predict(data.x_test, verbose=0, batch_size=256), axis=1)
    n = len(data.class_names)
    confusion = np.bincount(data.y_test * n + predicted, minlength=n * n).reshape(n, n)
    wrong = np.flatnonzero(predicted != data.y_test)[:MISCLASSIFIED_SHOWN]
    misclassified = [
        {"index": int(i), "true": int(data.y_test[i]), "predicted": int(predicted[i]),
         "true_name": data.class_names[data.y_test[i]],
         "predicted_name": data.class_names[predicted[i]],
         "image": data_url(png_bytes(gray_image(data.x_test[i][..., 0] * 255)
                                     if data.x_test.shape[-1] == 1
                                     else gray_image(data.x_test[i] * 255)))}
        for i in wrong
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)
        keras_bytes = path.read_bytes()
    return Outcome(model, keras_bytes, float(test_loss), float(test_accuracy), confusion.tolist(),
                   misclassified, progress.report.history, seconds, summary.total_params, data.info,
                   seed)


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
