"""The training function: one architecture on one dataset, with progress and a result.

Shared by the job worker, the CLI (`cnn-playground train`) and bench/train.py, so they
train exactly alike.
"""

from __future__ import annotations

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

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MISCLASSIFIED_SHOWN = 24
PROGRESS_INTERVAL = 0.5  # seconds between progress writes: negligible next to a batch


class JobCancelled(Exception):
    """Raised inside fit() when a cancel was asked for."""


# progress dict → True when the job should stop
ProgressSink = Callable[[dict[str, Any]], bool]


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


def make_progress_callback(sink: ProgressSink | None, should_stop: Callable[[], bool]) -> Any:
    import keras

    class Progress(keras.callbacks.Callback):
        """Epoch, batch and per-epoch metrics, written at most every PROGRESS_INTERVAL."""

        def __init__(self) -> None:
            super().__init__()
            self.history: list[dict[str, float]] = []
            self.state: dict[str, Any] = {}
            self.last = 0.0

        def _emit(self, force: bool = False) -> None:
            now = time.monotonic()
            if should_stop():
                raise JobCancelled
            if sink is None or (not force and now - self.last < PROGRESS_INTERVAL):
                return
            self.last = now
            if sink({**self.state, "history": self.history, "updated": time.time()}):
                raise JobCancelled

        def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
            self.state = {"epoch": 0, "epochs": self.params.get("epochs"), "batch": 0,
                          "batches": self.params.get("steps"), "phase": "training"}
            self._emit(force=True)

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.state.update(epoch=epoch + 1, batch=0)

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            self.state.update(batch=batch + 1, loss=float((logs or {}).get("loss", np.nan)),
                              accuracy=float((logs or {}).get("accuracy", np.nan)))
            self._emit()

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            entry: dict[str, float] = {"epoch": epoch + 1}
            entry.update({k: round(float(v), 5) for k, v in (logs or {}).items()
                          if k in ("loss", "accuracy", "val_loss", "val_accuracy")})
            self.history.append(entry)
            self._emit(force=True)

    return Progress()


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
    seed: int | None = 0,
    verbose: int = 0,
) -> Outcome:
    import keras

    if seed is not None:
        keras.utils.set_random_seed(seed)
    summary = check(spec, max_layers=10_000, max_params=10**12)
    data = first_samples(dataset, training.get("train_samples"))
    model = build_model(spec, summary)
    compile_model(model, spec, training.get("optimizer", "adam"), training.get("learning_rate", 1e-3))
    progress = make_progress_callback(sink, should_stop)
    start = time.monotonic()
    model.fit(data.x_train, data.y_train, batch_size=training.get("batch_size", 32),
              epochs=training.get("epochs", 1), validation_split=training.get("validation_split", 0.0),
              callbacks=[progress], verbose=verbose)
    seconds = time.monotonic() - start
    if sink is not None:
        progress.state["phase"] = "evaluating"
        progress._emit(force=True)
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
                   misclassified, progress.history, seconds, summary.total_params, data.info)


def save_to_registry(registry: Registry, outcome: Outcome, spec: ArchitectureSpec,
                     training: dict[str, Any], *, name: str, job_id: str | None = None,
                     owner: str | None = None, nickname: str | None = None,
                     class_code: str | None = None) -> str:
    """Store a trained model with its training record; the new model's id."""
    return registry.save_trained(
        name=name, dataset=outcome.dataset.id, input_shape=list(spec.input_shape),
        class_names=list(outcome.dataset.class_names), test_accuracy=outcome.test_accuracy,
        test_loss=outcome.test_loss, total_params=outcome.total_params,
        architecture=spec.model_dump(mode="json", exclude_none=True),
        training={**training, "seconds": round(outcome.seconds, 2), "history": outcome.history},
        keras_bytes=outcome.keras_bytes, job_id=job_id, owner=owner,
        nickname=nickname, class_code=class_code,
    )
