"""One job's training, advanced a turn at a time: the steps, each epoch's validation and
timelapse frame, the test evaluation and the saved model.

Training is a sequence of small units (a batch, a validation batch, a frame, the save),
written as one generator (`_work`); `advance(seconds)` runs units until its turn is over,
so a worker can train many jobs in turn (app/training/scheduler.py) or one to its end
(`run`). Everything random is the job's own: its initial weights and dropout seeds come
from a model built with its seed (`Compiled.fresh_state`), the order of its images from its
own NumPy generator, so the job gives the same model whatever trains beside it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.datasets.builtin import Dataset
from app.imaging.rendering import data_url, gray_image, png_bytes
from app.networks.architecture import ArchitectureSpec
from app.training import timelapse
from app.training.compiled import Compiled, CompiledModels
from app.training.timelapse import Frame
from app.training.trainer import (
    MISCLASSIFIED_SHOWN,
    FrameSink,
    Outcome,
    ProgressReport,
    ProgressSink,
    first_samples,
    validation_part,
)

EVAL_BATCH = 256


@dataclass
class Tally:
    """Running sums over an epoch or an evaluation: loss (per image), right answers."""

    loss: float = 0.0
    right: int = 0
    seen: int = 0

    def add(self, loss_sum: float, right: int, n: int) -> None:
        self.loss += loss_sum
        self.right += right
        self.seen += n

    def means(self) -> tuple[float, float]:
        return (self.loss / self.seen, self.right / self.seen) if self.seen else (math.nan, math.nan)


def misclassified(data: Dataset, predicted: np.ndarray) -> list[dict[str, Any]]:
    wrong = np.flatnonzero(predicted != data.y_test)[:MISCLASSIFIED_SHOWN]
    gray = data.x_test.shape[-1] == 1
    return [
        {"index": int(i), "true": int(data.y_test[i]), "predicted": int(predicted[i]),
         "true_name": data.class_names[data.y_test[i]],
         "predicted_name": data.class_names[predicted[i]],
         "image": data_url(png_bytes(gray_image(data.x_test[i][..., 0] * 255) if gray
                                     else gray_image(data.x_test[i] * 255)))}
        for i in wrong
    ]


class TrainingSession:
    """A job being trained. `state` holds its tensors while another job holds the compiled
    model; `busy` counts the seconds it has trained (its turns only)."""

    def __init__(self, spec: ArchitectureSpec, dataset: Dataset, training: dict[str, Any], *,
                 compiled_models: CompiledModels, seed: int | None = None,
                 sink: ProgressSink | None = None, frames: FrameSink | None = None,
                 should_stop: Callable[[], bool] = lambda: False, verbose: bool = False) -> None:
        self.spec, self.training, self.seed = spec, training, seed
        self.data = first_samples(dataset, training.get("train_samples"))
        self.compiled_models = compiled_models
        self.compiled: Compiled | None = None
        self.state: list[Any] | None = None
        self.frames, self.verbose = frames, verbose
        self.batch_size = int(training.get("batch_size", 32))
        self.epochs = int(training.get("epochs", 1))
        split = validation_part(self.data.x_train, self.data.y_train,
                                training.get("validation_split", 0.0))
        self.validation = split
        self.n_train = len(self.data.x_train) - (len(split[0]) if split else 0)
        self.batches = math.ceil(self.n_train / self.batch_size)
        self.busy = 0.0
        self._turn_started: float | None = None
        self.frames_recorded = 0
        self.report = ProgressReport(sink, should_stop, self.batch_size,
                                     lambda: self.frames_recorded, clock=self.clock)
        self.outcome: Outcome | None = None
        self.fit_seconds = 0.0
        self._work: Iterator[None] | None = None
        self._pause = False

    # ------------------------------------------------------------ turns

    def clock(self) -> float:
        """Seconds this job has trained, counting its own turns only."""
        turn = time.monotonic() - self._turn_started if self._turn_started is not None else 0.0
        return self.busy + turn

    @property
    def started(self) -> bool:
        return self.report.step > 0

    def work_left(self) -> float:
        """Seconds of training this job still needs, from its speed so far (0 until known):
        its steps, its validations, and the test set (a forward pass, about a third of a
        training step's work per image)."""
        rate = self.report.rate
        if not rate:
            return 0.0
        steps = self.epochs * self.batches - self.report.step
        validations = self.epochs - len(self.report.history)
        testing = len(self.data.x_test) / (rate * self.batch_size) / 3
        return steps / rate + validations * self.report.validation_seconds + testing

    def advance(self, seconds: float, until_first_point: bool = False) -> bool:
        """Train for about `seconds` (at least one unit); True once the job has ended
        (its `outcome` set). `until_first_point`: stop as soon as its curve has a point."""
        self._turn_started = time.monotonic()
        deadline = self._turn_started + seconds
        done = False
        try:
            if self._work is None:
                self._begin()
            assert self.compiled is not None and self._work is not None
            self.compiled.hold(self)
            self._pause = False
            while True:
                next(self._work)
                if time.monotonic() >= deadline or self._pause or (
                        until_first_point and self.report.steps.points):
                    break
        except StopIteration:
            done = True
        finally:
            self.busy += time.monotonic() - self._turn_started
            self._turn_started = None
        if not done:
            self.report.emit(force=True)  # each turn shows its points
        return done

    def run(self) -> Outcome:
        """Train to the end in one go (nothing else in turn)."""
        try:
            while not self.advance(3600.0):
                pass
        finally:
            self.close()
        assert self.outcome is not None
        return self.outcome

    def close(self) -> None:
        """Give the compiled model back (the job ended, or was stopped)."""
        if self.compiled is not None:
            self.compiled_models.release(self.compiled, self)
            self.compiled = None
        self.state = None

    def _begin(self) -> None:
        self.compiled = self.compiled_models.acquire(self.spec,
                                                     self.training.get("optimizer", "adam"))
        self.state = self.compiled.fresh_state(self.seed,
                                               self.training.get("learning_rate", 1e-3))
        self._work = self._units()

    def _progress_bar(self, epoch: int) -> Any:
        """Keras' own progress bar for a job trained at a terminal (`cnn-playground train`)."""
        if not self.verbose:
            return None
        import keras

        print(f"Epoch {epoch + 1}/{self.epochs}", flush=True)
        return keras.utils.Progbar(self.batches, stateful_metrics=["loss", "accuracy"])

    # ------------------------------------------------------------ the units of work

    def _units(self) -> Iterator[None]:
        assert self.compiled is not None
        compiled, report, data = self.compiled, self.report, self.data
        report.on_train_begin({"epochs": self.epochs, "steps": self.batches})
        yield from self._frame(0, train_start=True)
        rng = np.random.default_rng(self.seed)
        x, y = data.x_train[:self.n_train], data.y_train[:self.n_train]
        for epoch in range(self.epochs):
            report.on_epoch_begin(epoch)
            order = rng.permutation(self.n_train)
            tally = Tally()
            bar = self._progress_bar(epoch)
            for batch in range(self.batches):
                picked = np.sort(order[batch * self.batch_size:(batch + 1) * self.batch_size])
                loss, right = compiled.step(x[picked], y[picked])
                tally.add(loss * len(picked), right, len(picked))
                mean_loss, accuracy = tally.means()
                report.on_train_batch_end(batch, {"loss": mean_loss, "accuracy": accuracy})
                if bar is not None and batch + 1 < self.batches:
                    bar.update(batch + 1, [("loss", mean_loss), ("accuracy", accuracy)],
                               finalize=False)
                yield
            logs = dict(zip(("loss", "accuracy"), tally.means(), strict=True))
            if self.validation is not None:
                report.on_test_begin()
                checked = yield from self._evaluate(*self.validation)
                logs.update(zip(("val_loss", "val_accuracy"), checked.means(), strict=True))
            self.fit_seconds = self.clock()
            report.on_epoch_end(epoch, logs)
            yield from self._frame(epoch + 1, logs.get("val_accuracy"))
            if bar is not None:
                bar.update(self.batches, list(logs.items()), finalize=True)
        report.state["phase"] = "evaluating"
        report.emit(force=True)
        predicted: list[np.ndarray] = []
        tested = yield from self._evaluate(data.x_test, data.y_test, predicted)
        yield
        keras_bytes = compiled.keras_bytes()
        self._finish(tested, np.concatenate(predicted), keras_bytes)

    def _evaluate(self, x: np.ndarray, y: np.ndarray, predicted: list[np.ndarray] | None = None
                  ) -> Generator[None, None, Tally]:
        assert self.compiled is not None
        tally = Tally()
        for i in range(0, len(x), EVAL_BATCH):
            loss_sum, classes = self.compiled.evaluate(x[i:i + EVAL_BATCH], y[i:i + EVAL_BATCH])
            tally.add(loss_sum, int((classes == y[i:i + EVAL_BATCH]).sum()), len(classes))
            if predicted is not None:
                predicted.append(classes)
            yield
        return tally

    def _frame(self, epoch: int, val_accuracy: float | None = None,
               train_start: bool = False) -> Iterator[None]:
        """A timelapse frame: before training (with the untrained model's validation
        accuracy), then after each epoch."""
        if self.frames is None:
            return
        assert self.compiled is not None
        extra: dict[str, Any] = {}
        if train_start:
            probe = self.data.x_test[timelapse.PROBE_INDEX]
            extra = {"probe": probe, "probe_label": int(self.data.y_test[timelapse.PROBE_INDEX])}
            if self.validation is not None:
                checked = yield from self._evaluate(*self.validation)
                val_accuracy = checked.means()[1]
        kernels, maps = self.compiled.kernels_and_maps(self.data.x_test[timelapse.PROBE_INDEX])
        accuracy = round(float(val_accuracy), 5) if val_accuracy is not None else None
        frame: Frame = timelapse.capture(epoch, kernels, maps, accuracy, **extra)
        self.frames(frame)
        self.frames_recorded += 1
        yield

    def _finish(self, tested: Tally, predicted: np.ndarray, keras_bytes: bytes) -> None:
        assert self.compiled is not None
        data = self.data
        n = len(data.class_names)
        confusion = np.bincount(data.y_test * n + predicted, minlength=n * n).reshape(n, n)
        test_loss, test_accuracy = tested.means()
        self.outcome = Outcome(keras_bytes, float(test_loss), float(test_accuracy),
                               confusion.tolist(), misclassified(data, predicted),
                               self.report.history, self.fit_seconds,
                               self.compiled.summary.total_params, data.info, self.seed)
