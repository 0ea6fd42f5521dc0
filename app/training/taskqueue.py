"""The job queue (Huey): a SQLite file by default, Redis when CNNPG_REDIS_URL is set.

With SQLite the queue lives next to the database in CNNPG_DATA_DIR, so queued jobs
survive a restart; with Redis, `cnn-playground worker` on any machine takes jobs. The
web server only enqueues; a worker builds the same queue with the function that takes a
job, and takes messages one at a time while it has room (app/training/worker.py), so this
module knows nothing of workers.
"""

from __future__ import annotations

from collections.abc import Callable

from huey import Huey, RedisHuey, SqliteHuey

from app.config import Settings

TASK_NAME = "run_job"
JobRunner = Callable[[str], None]


def make_huey(settings: Settings) -> Huey:
    if settings.redis_url:
        return RedisHuey("cnn-playground", url=settings.redis_url, results=False)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("cnn-playground", filename=str(settings.data_dir / "queue.db"),
                      results=False, timeout=30)


def _not_here(job_id: str) -> None:
    raise RuntimeError(f"job {job_id} reached a process that only enqueues; run it in a worker")


class JobQueue:
    """Enqueue job ids; in a worker, `consumer()` takes them and calls `runner(job_id)`."""

    def __init__(self, settings: Settings, runner: JobRunner | None = None) -> None:
        self.huey = make_huey(settings)
        run = runner or _not_here

        def run_job(job_id: str) -> None:  # Huey names a task by its module: the same everywhere
            run(job_id)

        self._task = self.huey.task(retries=0, name=TASK_NAME)(run_job)

    def enqueue(self, job_id: str) -> None:
        self._task(job_id)

    def take_one(self) -> bool:
        """In a worker: run the next queued task, if there is one (True when there was).
        The worker calls it only while it has room for another job, so a message stays in
        the queue, for any worker, until some worker can train its job."""
        task = self.huey.dequeue()
        if task is None:
            return False
        self.huey.execute(task)
        return True
