"""A worker's writes to the database, off its training thread.

The training thread only hands over what its jobs report; this thread writes it: every
job's latest progress in one transaction a few times a second, each timelapse frame as it
comes, each ended job's model and result, and once a second one heartbeat for all the
jobs of the worker (which also brings back the cancels asked for) and the worker's own
"alive" (app/training/worker_registry.py). Thirty jobs cost the database what one did.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from app.classroom.quotas import Standing
from app.networks.architecture import ArchitectureSpec
from app.services import Services
from app.training import trainer
from app.training.scheduler import Scheduler, Ticket
from app.training.timelapse import Frame
from app.training.trainer import Outcome
from app.training.worker_registry import WorkerRegistry

log = logging.getLogger("cnn_playground.worker")
FLUSH_SECONDS = 0.2
HEARTBEAT_SECONDS = 1.0


@dataclass
class Ended:
    ticket: Ticket
    status: str
    outcome: Outcome | None
    error: str | None


class Bookkeeper(threading.Thread):
    def __init__(self, services: Services, worker: str, slots: int, device: str) -> None:
        super().__init__(daemon=True, name="bookkeeper")
        self.services, self.worker, self.slots, self.device = services, worker, slots, device
        self.registry = WorkerRegistry(services.database)
        self.scheduler: Scheduler | None = None
        self._progress: dict[str, dict[str, Any]] = {}
        self._frames: deque[tuple[str, Frame]] = deque()
        self._ended: deque[Ended] = deque()
        self._lock = threading.Condition()
        self.stopping = threading.Event()
        self._beaten = 0.0

    # ------------------------------------------------------------ from the training thread

    def progress(self, job_id: str, progress: dict[str, Any]) -> None:
        with self._lock:
            self._progress[job_id] = progress

    def frame(self, job_id: str, frame: Frame) -> None:
        with self._lock:
            self._frames.append((job_id, frame))

    def ended(self, ticket: Ticket, status: str, outcome: Outcome | None,
              error: str | None) -> None:
        with self._lock:
            self._ended.append(Ended(ticket, status, outcome, error))
            self._lock.notify()

    # ------------------------------------------------------------ this thread

    def run(self) -> None:
        while not self.stopping.is_set():
            with self._lock:
                self._lock.wait(FLUSH_SECONDS)
            try:
                self.flush()
                if time.monotonic() - self._beaten >= HEARTBEAT_SECONDS:
                    self.beat()
            except Exception:  # a busy or unreachable database must not stop the worker
                log.warning("could not write to the database; trying again", exc_info=True)
                time.sleep(1.0)

    def beat(self) -> None:
        self._beaten = time.monotonic()
        self.registry.announce(self.worker, self.slots, self.device)
        if self.scheduler is not None:
            cancelled = self.services.jobs.beat_many(self.scheduler.job_ids())
            if cancelled:
                self.scheduler.cancel(cancelled)

    def flush(self) -> None:
        with self._lock:
            progress, self._progress = self._progress, {}
        self.services.jobs.write_progress(progress)
        while True:
            with self._lock:
                if not self._frames:
                    break
                job_id, frame = self._frames[0]
            self._record(job_id, frame)
            with self._lock:
                self._frames.popleft()
        while True:
            with self._lock:
                if not self._ended:
                    break
                ended = self._ended[0]
                # Its last progress (the last epoch's history) may have come after this
                # flush took the others: written first, since only a running job's is.
                last = self._progress.pop(ended.ticket.job_id, None)
            if last is not None:
                self.services.jobs.write_progress({ended.ticket.job_id: last})
            self._finish(ended)
            with self._lock:
                self._ended.popleft()

    def _record(self, job_id: str, frame: Frame) -> None:
        """A frame that cannot be stored is lost, not the job."""
        try:
            self.services.timelapses.record(job_id, frame)
        except Exception:
            log.warning("could not store frame %d of job %s", frame.epoch, job_id, exc_info=True)

    def _finish(self, ended: Ended) -> None:
        jobs, ticket = self.services.jobs, ended.ticket
        job_id, row = ticket.job_id, ticket.record
        outcome = ended.outcome
        if ended.status != "succeeded" or outcome is None:
            jobs.finish(job_id, ended.status, error=ended.error)  # type: ignore[arg-type]
            log.info("job %s %s: %s", job_id, ended.status, ended.error)
            return
        try:
            spec = ArchitectureSpec.model_validate(row.architecture)
            model_id = trainer.save_to_registry(
                self.services.registry, outcome, spec, row.training, name=row.name,
                job_id=job_id, owner=row.owner, nickname=row.nickname, class_code=row.class_code)
            self.services.quotas.mark("model", model_id, Standing(
                row.owner, "visitor" if row.visitor else "learner"))
        except Exception as exc:
            log.error("job %s: its model could not be stored", job_id, exc_info=True)
            jobs.finish(job_id, "failed", error=f"the model could not be stored: "
                        f"{type(exc).__name__}: {exc}")
            return
        jobs.finish(job_id, "succeeded", result={
            "test_loss": outcome.test_loss, "test_accuracy": outcome.test_accuracy,
            "model_id": model_id, "confusion_matrix": outcome.confusion_matrix,
            "misclassified": outcome.misclassified, "train_seconds": round(outcome.seconds, 2),
            "per_class_accuracy": outcome.per_class_accuracy,
        })
        log.info("job %s succeeded: accuracy %.4f, model %s", job_id, outcome.test_accuracy,
                 model_id)
