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

from app.config import Settings
from app.services import Services
from app.training.jobs import JobStore
from app.training.timelapse import Frame

log = logging.getLogger("cnn_playground.worker")
HEARTBEAT_SECONDS = 1.0


def worker_id(pid: int | None = None) -> str:
    return f"{socket.gethostname()}:{pid or os.getpid()}"


class Heartbeat(threading.Thread):
    def __init__(self, jobs: JobStore, job_id: str) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{job_id}")
        self.jobs = jobs
        self.job_id = job_id
        self.stop = threading.Event()
        self.cancel = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(HEARTBEAT_SECONDS):
            try:
                if self.jobs.beat(self.job_id):
                    self.cancel.set()
            except Exception:  # a busy database must not kill the job
                log.warning("heartbeat failed for %s", self.job_id, exc_info=True)


def record_frame(services: Services, job_id: str, frame: Frame) -> None:
    """Store a timelapse frame at once, so a job cut short keeps what it recorded; a frame
    that cannot be stored is lost, not the job."""
    try:
        services.timelapses.record(job_id, frame)
    except Exception:
        log.warning("could not store frame %d of job %s", frame.epoch, job_id, exc_info=True)


def execute(services: Services, job_id: str) -> None:
    """Run one job to its end: succeeded (model in the registry), failed or cancelled."""
    from app.networks.architecture import ArchitectureSpec
    from app.training import trainer

    jobs = services.jobs
    row = jobs.claim(job_id, worker_id())
    if row is None:
        log.info("job %s was cancelled or taken before it started", job_id)
        return
    beat = Heartbeat(jobs, job_id)
    beat.start()
    try:
        spec = ArchitectureSpec.model_validate(row.architecture)
        outcome = trainer.train(
            spec, services.datasets.load(row.dataset), row.training,
            sink=lambda progress: jobs.beat(job_id, progress),
            should_stop=beat.cancel.is_set,
            frames=lambda frame: record_frame(services, job_id, frame),
            seed=row.training.get("seed"),
        )
        model_id = trainer.save_to_registry(services.registry, outcome, spec, row.training,
                                            name=row.name, job_id=job_id, owner=row.owner,
                                            nickname=row.nickname, class_code=row.class_code)
        jobs.finish(job_id, "succeeded", result={
            "test_loss": outcome.test_loss, "test_accuracy": outcome.test_accuracy,
            "model_id": model_id, "confusion_matrix": outcome.confusion_matrix,
            "misclassified": outcome.misclassified, "train_seconds": round(outcome.seconds, 2),
            "per_class_accuracy": outcome.per_class_accuracy,
        })
        log.info("job %s succeeded: accuracy %.4f, model %s", job_id, outcome.test_accuracy,
                 model_id)
    except trainer.JobCancelled:
        jobs.finish(job_id, "cancelled", error="cancelled while training")
        log.info("job %s cancelled", job_id)
    except Exception as exc:
        log.error("job %s failed:\n%s", job_id, traceback.format_exc())
        jobs.finish(job_id, "failed", error=f"{type(exc).__name__}: {exc}")
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


def run(settings: Settings) -> None:
    """The worker's main loop: one job at a time, TensorFlow imported once, up front."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    supervisor = os.environ.get("CNNPG_SUPERVISOR_PID")
    if supervisor and supervisor.isdigit():
        threading.Thread(target=_exit_with_supervisor, args=(int(supervisor),), daemon=True,
                         name="supervisor-watch").start()
    import tensorflow  # noqa: F401  (once, here, rather than in the first job)

    services = Services.build(settings, runner=lambda job_id: execute(services, job_id))
    log.info("worker %s ready", worker_id())
    services.queue.consumer().run()
