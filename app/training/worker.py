"""Worker processes: they take jobs from the queue and train many at once, in turn.

A worker imports TensorFlow once and keeps it. Three threads: the main one takes jobs
(`Intake`: a Huey task says a job was submitted; the worker then claims the next job in
the fair order, while it has room, and the least loaded of the live workers goes first);
the training thread trains them in turn (app/training/scheduler.py); the bookkeeper
writes what they report (app/training/bookkeeper.py). The web server fails jobs whose
heartbeat stops (a killed worker), so none stays `running` forever.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from multiprocessing.connection import Connection
from types import FrameType
from typing import Any

from app.config import Settings
from app.networks.runtime import configure_tensorflow
from app.services import Services
from app.storage.tables import JobRow
from app.training.bookkeeper import Bookkeeper
from app.training.scheduler import Scheduler, Ticket
from app.training.session import TrainingSession
from app.training.worker_registry import WorkerRegistry

log = logging.getLogger("cnn_playground.worker")
POLL_MIN, POLL_MAX = 0.05, 0.25  # seconds between looks at an empty queue
DB_POLL = 2.0  # seconds between looks at the database itself (a queue message lost)
GRACE = 1.0  # seconds a lighter worker has to take a job before a busier one does
BALANCE_EVERY = 0.25


def worker_id(pid: int | None = None) -> str:
    return f"{socket.gethostname()}:{pid or os.getpid()}"


def training_device(threads: int = 0) -> str:
    """What TensorFlow trains on here: the first GPU if there is one, else the CPU (and the
    threads it trains with, where CNNPG_TRAINING_THREADS sets them)."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return f"GPU ({details.get('device_name') or gpus[0].name})"
    if not tf.test.is_built_with_cuda() and _installed("nvidia-cudnn-cu12"):
        log.warning("the gpu extra is installed, but the CPU-only TensorFlow build is the one "
                    "loaded: pip uninstall -y tensorflow-cpu && pip install --force-reinstall "
                    "--no-deps tensorflow (README, Training on a GPU)")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if threads:
        return f"CPU ({cores} cores, {threads} thread{'s' if threads > 1 else ''})"
    return f"CPU ({cores} cores)"


def _installed(distribution: str) -> bool:
    from importlib.metadata import PackageNotFoundError, version

    try:
        version(distribution)
    except PackageNotFoundError:
        return False
    return True


class Intake:
    """Claims queued jobs for this worker's scheduler and hands them over."""

    def __init__(self, services: Services, scheduler: Scheduler, books: Bookkeeper,
                 worker: str) -> None:
        self.services, self.scheduler, self.books, self.worker = services, scheduler, books, worker
        self.registry = WorkerRegistry(services.database)
        self._balanced: tuple[float, bool] = (0.0, True)

    def take(self, job_id: str) -> None:
        """A Huey task: a job was submitted (which one the fair order decides)."""
        self.admit()

    def admit(self) -> bool:
        """Claim the next job and hand it to the scheduler; False when none waits."""
        jobs = self.services.jobs
        row = jobs.claim_next(self.worker)
        if row is None:
            return False
        try:
            ticket = self.ticket(row)
        except Exception as exc:  # its dataset cannot be read, say
            log.error("job %s failed before training: %s", row.id, exc, exc_info=True)
            jobs.finish(row.id, "failed", error=f"{type(exc).__name__}: {exc}")
            return True
        self.scheduler.add(ticket)
        log.info("job %s taken (%d training here)", row.id, self.scheduler.load())
        return True

    def ticket(self, row: JobRow) -> Ticket:
        from app.networks.architecture import ArchitectureSpec

        job_id, scheduler, books = row.id, self.scheduler, self.books

        def sink(progress: dict[str, Any]) -> bool:
            books.progress(job_id, progress)
            return scheduler.is_cancelled(job_id)

        session = TrainingSession(
            ArchitectureSpec.model_validate(row.architecture),
            self.services.datasets.load(row.dataset), row.training,
            compiled_models=scheduler.compiled_models, seed=row.training.get("seed"),
            sink=sink, frames=lambda frame: books.frame(job_id, frame),
            should_stop=lambda: scheduler.is_cancelled(job_id))
        return Ticket(job_id, row.owner, bool(row.visitor), session, row)

    def my_turn(self) -> bool:
        """Whether this worker should take the next job now: it has room, and no live worker
        with fewer jobs has room (unless a job has waited GRACE seconds for one of them)."""
        if self.scheduler.room() <= 0:
            return False
        checked, answer = self._balanced
        if time.monotonic() - checked < BALANCE_EVERY:
            return answer
        mine = self.scheduler.load()
        timeout = self.services.settings.heartbeat_timeout
        lighter = [w for w in self.registry.live(timeout)
                   if w.worker != self.worker and w.room > 0 and w.active < mine]
        answer = not lighter or self.registry.oldest_wait() > GRACE
        self._balanced = (time.monotonic(), answer)
        return answer

    def loop(self, stopping: threading.Event) -> None:
        delay, polled = POLL_MIN, 0.0
        while not stopping.is_set():
            if not self.my_turn():
                time.sleep(0.1)
                continue
            if self.services.queue.take_one():
                delay = POLL_MIN
                continue
            if time.monotonic() - polled > DB_POLL:
                polled = time.monotonic()
                if self.admit():
                    continue
            time.sleep(delay)
            delay = min(delay * 1.5, POLL_MAX)


def _exit_with_server(server_alive: Connection) -> None:
    """An embedded worker ends when the server that started it is gone (even SIGKILLed), so
    no orphan keeps training; the restarted server fails the jobs it left. The server holds
    the pipe's other end, which only its end closes."""
    with contextlib.suppress(EOFError, OSError):
        server_alive.recv()
    log.warning("the server is gone; worker %s exits", worker_id())
    os._exit(0)


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def run_embedded(environment: dict[str, str], server_alive: Connection) -> None:
    """A worker forked for a web server (app/training/supervisor.py): its environment is the
    one `cnn-playground worker` would have been started with, and it starts the same way."""
    from app.cli import main

    os.environ.clear()
    os.environ.update(environment)
    threading.Thread(target=_exit_with_server, args=(server_alive,), daemon=True,
                     name="server-watch").start()
    raise SystemExit(main(["worker"]))


def run(settings: Settings) -> None:
    """The worker's main loop: TensorFlow imported once, up front; jobs trained in turn."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    supervisor = os.environ.get("CNNPG_SUPERVISOR_PID")
    import tensorflow as tf

    configure_tensorflow(settings.training_threads)  # before anything starts the runtime
    tf.config.experimental.enable_op_determinism()  # the same seed gives the same model
    wid, device = worker_id(), training_device(settings.training_threads)
    holder: dict[str, Intake] = {}
    services = Services.build(settings, runner=lambda job_id: holder["intake"].take(job_id))
    books = Bookkeeper(services, wid, settings.worker_jobs, device)
    scheduler = Scheduler(books, settings.worker_jobs, settings.time_slice, device)
    books.scheduler = scheduler
    intake = holder["intake"] = Intake(services, scheduler, books, wid)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    books.beat()  # known as alive before taking anything
    books.start()
    threading.Thread(target=scheduler.run_forever, daemon=True, name="training").start()
    log.info("worker %s ready: trains on %s, up to %d jobs at once in turns of %.2f s", wid,
             device, settings.worker_jobs, settings.time_slice)
    try:
        intake.loop(stopping)
    except (SystemExit, KeyboardInterrupt):
        log.info("worker %s stops", wid)
    finally:
        stopping.set()
        scheduler.stop()
        try:
            WorkerRegistry(services.database).depart(wid)
            if not supervisor:  # under a server, the server says why its jobs ended
                services.jobs.fail_running("the worker was stopped while this job was "
                                           "training", worker=wid)
        except Exception:
            log.warning("could not sign off", exc_info=True)
