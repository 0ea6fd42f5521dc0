"""A worker's jobs, trained in turn on one thread.

A worker takes up to CNNPG_WORKER_JOBS jobs at once and trains them a turn each
(CNNPG_TIME_SLICE seconds of training, a few batches), in the order the fair-share
policy gives (app/training/fairshare.py): a new job first, just long enough for the first
point of its curve, then the owner who has had least. Only one job computes at a time,
so TensorFlow keeps every core for that job's batch, and the jobs' own state is all that
changes hands (app/training/compiled.py): thirty learners see their networks learning
within seconds, and the thirty together take no longer than one after another.

The scheduler knows nothing of the database: what it reports goes to `Reports`
(progress, frames, the end), which the worker writes (app/training/bookkeeper.py).
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from app.training.compiled import CompiledModels
from app.training.fairshare import FairShare
from app.training.session import TrainingSession
from app.training.timelapse import Frame
from app.training.trainer import JobCancelled, Outcome

log = logging.getLogger("cnn_playground.scheduler")
IDLE_WAIT = 0.5  # seconds the thread sleeps with nothing to train (a new job wakes it)


class Reports(Protocol):
    """Where a scheduler sends what its jobs report."""

    def progress(self, job_id: str, progress: dict[str, Any]) -> None: ...

    def frame(self, job_id: str, frame: Frame) -> None: ...

    def ended(self, ticket: Ticket, status: str, outcome: Outcome | None,
              error: str | None) -> None: ...


@dataclass
class Ticket:
    """A job handed to the scheduler: its id, who it is for, and its session."""

    job_id: str
    owner: str | None
    visitor: bool
    session: TrainingSession
    record: Any = None  # what the worker needs when it ends (its database row)


class Scheduler:
    def __init__(self, reports: Reports, slots: int, time_slice: float,
                 device: str = "CPU", compiled_models: CompiledModels | None = None) -> None:
        self.reports, self.slots, self.time_slice, self.device = reports, slots, time_slice, device
        self.compiled_models = compiled_models or CompiledModels()
        self.fair = FairShare()
        self.active: dict[str, Ticket] = {}
        self._inbox: deque[Ticket] = deque()
        self._cancelled: set[str] = set()
        self._lock = threading.Condition()
        self.stopping = threading.Event()

    # ------------------------------------------------------------ from other threads

    def room(self) -> int:
        with self._lock:
            return self.slots - len(self.active) - len(self._inbox)

    def load(self) -> int:
        with self._lock:
            return len(self.active) + len(self._inbox)

    def add(self, ticket: Ticket) -> None:
        with self._lock:
            self._inbox.append(ticket)
            self._lock.notify()

    def job_ids(self) -> list[str]:
        with self._lock:
            return [*self.active, *(t.job_id for t in self._inbox)]

    def cancel(self, job_ids: set[str]) -> None:
        with self._lock:
            self._cancelled |= job_ids

    def is_cancelled(self, job_id: str) -> bool:
        return job_id in self._cancelled

    def stop(self) -> None:
        self.stopping.set()
        with self._lock:
            self._lock.notify()

    # ------------------------------------------------------------ the training thread

    def run_forever(self) -> None:
        while not self.stopping.is_set():
            if not self.run_once():
                with self._lock:
                    if not self._inbox:
                        self._lock.wait(IDLE_WAIT)

    def run_once(self) -> bool:
        """Admit new jobs, then give one job its turn; False when there was nothing to do."""
        self._admit()
        for cancelled in [j for j in self.active if self.is_cancelled(j)]:  # even if not next
            self._end(self.active[cancelled], "cancelled", None, "cancelled while training")
        job_id = self.fair.pick()
        if job_id is None:
            return False
        ticket = self.active[job_id]
        session = ticket.session
        started, before = session.started, session.busy
        self._describe(ticket)
        try:
            done = session.advance(self.time_slice, until_first_point=not started)
        except JobCancelled:
            self._end(ticket, "cancelled", None, "cancelled while training")
            return True
        except Exception as exc:
            log.error("job %s failed:\n%s", job_id, traceback.format_exc())
            self._end(ticket, "failed", None, f"{type(exc).__name__}: {exc}")
            return True
        self.fair.charge(job_id, session.busy - before, session.started, session.work_left())
        if done:
            self._end(ticket, "succeeded", session.outcome, None)
        return True

    def _admit(self) -> None:
        with self._lock:
            new = list(self._inbox)
            self._inbox.clear()
        for ticket in new:
            self.active[ticket.job_id] = ticket
            self.fair.join(ticket.job_id, ticket.owner, ticket.visitor)
            # Taken, not yet trained: a visitor's job may wait while members' jobs train.
            self.reports.progress(ticket.job_id, {"phase": "waiting", "device": self.device,
                                                  "sharing": len(self.active),
                                                  "updated": time.time()})

    def _describe(self, ticket: Ticket) -> None:
        """What the job's progress says about where it trains: the device, how many jobs
        share the worker, and when it should end (with them sharing it)."""
        eta = self.fair.forecast().get(ticket.job_id)
        extra: dict[str, Any] = {"device": self.device, "sharing": len(self.active)}
        if ticket.session.report.rate is not None and eta is not None:
            extra["eta_seconds"] = round(eta, 1)
        ticket.session.report.extra = extra

    def _end(self, ticket: Ticket, status: str, outcome: Outcome | None, error: str | None
             ) -> None:
        ticket.session.close()
        self.active.pop(ticket.job_id, None)
        self.fair.leave(ticket.job_id)
        with self._lock:
            self._cancelled.discard(ticket.job_id)
        self.reports.ended(ticket, status, outcome, error)


def wait_idle(scheduler: Scheduler, timeout: float) -> bool:
    """For tests and benchmarks: wait until the scheduler has nothing left."""
    deadline = time.monotonic() + timeout
    while scheduler.load():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
