"""Worker processes: they take jobs from the queue and train them.

TensorFlow is imported once when a worker starts and kept. While a job runs, a
heartbeat thread stamps it every second and notices a cancel; the web server fails
jobs whose heartbeat stops (a killed worker), so none stays `running` forever.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from pathlib import Path

from app import jobs
from app.config import get_settings

log = logging.getLogger("cnn_playground.worker")
HEARTBEAT_SECONDS = 1.0


def worker_id(pid: int | None = None) -> str:
    return f"{socket.gethostname()}:{pid or os.getpid()}"


class Heartbeat(threading.Thread):
    def __init__(self, job_id: str) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{job_id}")
        self.job_id = job_id
        self.stop = threading.Event()
        self.cancel = threading.Event()

    def run(self) -> None:
        settings = get_settings()
        while not self.stop.wait(HEARTBEAT_SECONDS):
            try:
                if jobs.beat(settings, self.job_id):
                    self.cancel.set()
            except Exception:  # a busy database must not kill the job
                log.warning("heartbeat failed for %s", self.job_id, exc_info=True)


def execute(job_id: str) -> None:
    """Run one job to its end: succeeded (model in the registry), failed or cancelled."""
    from app import training
    from app.architecture import ArchitectureSpec

    settings = get_settings()
    row = jobs.claim(settings, job_id, worker_id())
    if row is None:
        log.info("job %s was cancelled or taken before it started", job_id)
        return
    beat = Heartbeat(job_id)
    beat.start()
    try:
        spec = ArchitectureSpec.model_validate(row.architecture)
        outcome = training.train(
            spec, row.dataset, row.training,
            datasets_dir=Path(settings.datasets_dir) if settings.datasets_dir else None,
            sink=lambda progress: jobs.beat(settings, job_id, progress),
            should_stop=beat.cancel.is_set,
        )
        model_id = training.save_to_registry(outcome, spec, row.dataset, row.training,
                                             name=row.name, job_id=job_id, owner=row.owner)
        jobs.finish(settings, job_id, "succeeded", result={
            "test_loss": outcome.test_loss, "test_accuracy": outcome.test_accuracy,
            "model_id": model_id, "confusion_matrix": outcome.confusion_matrix,
            "misclassified": outcome.misclassified, "train_seconds": round(outcome.seconds, 2),
        })
        log.info("job %s succeeded: accuracy %.4f, model %s", job_id, outcome.test_accuracy,
                 model_id)
    except training.JobCancelled:
        jobs.finish(settings, job_id, "cancelled", error="cancelled while training")
        log.info("job %s cancelled", job_id)
    except Exception as exc:
        log.error("job %s failed:\n%s", job_id, traceback.format_exc())
        jobs.finish(settings, job_id, "failed", error=f"{type(exc).__name__}: {exc}")
    finally:
        beat.stop.set()


def _exit_with_supervisor(pid: int) -> None:
    """An embedded worker ends when the server that started it is gone (even SIGKILLed), so
    no orphan keeps training; the restarted server fails the job it left."""
    while True:
        time.sleep(1.0)
        if os.getppid() != pid:
            log.warning("the server (pid %d) is gone; worker %s exits", pid, worker_id())
            os._exit(0)


def run() -> None:
    """The worker's main loop: one job at a time, TensorFlow imported once, up front."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    supervisor = os.environ.get("CNNPG_SUPERVISOR_PID")
    if supervisor and supervisor.isdigit():
        threading.Thread(target=_exit_with_supervisor, args=(int(supervisor),), daemon=True,
                         name="supervisor-watch").start()
    import tensorflow  # noqa: F401  (once, here, rather than in the first job)

    from app.queue import get_huey

    log.info("worker %s ready", worker_id())
    get_huey().create_consumer(workers=1, worker_type="thread", periodic=False,
                         check_worker_health=True, initial_delay=0.05, backoff=1.5,
                         max_delay=0.25).run()
