"""The job queue (Huey): SQLite file by default, Redis when CNNPG_REDIS_URL is set.

With SQLite the queue lives next to the database in CNNPG_DATA_DIR, so queued jobs
survive a restart; with Redis, `cnn-playground worker` on any machine takes jobs.
"""

from __future__ import annotations

import threading

from huey import Huey, RedisHuey, SqliteHuey

from app.config import Settings, get_settings


def make_huey(settings: Settings) -> Huey:
    if settings.redis_url:
        return RedisHuey("cnn-playground", url=settings.redis_url, results=False)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("cnn-playground", filename=str(settings.data_dir / "queue.db"),
                      results=False, timeout=30)


_huey: Huey | None = None
_run_job = None
_lock = threading.Lock()


def _execute(job_id: str) -> None:
    from app.worker import execute

    execute(job_id)


def get_huey() -> Huey:
    """The queue, opened on first use (so importing the app touches no disk), with its task."""
    global _huey, _run_job
    with _lock:
        if _huey is None:
            huey = make_huey(get_settings())
            _run_job = huey.task(retries=0, name="run_job")(_execute)
            _huey = huey
    return _huey


def enqueue(job_id: str) -> None:
    get_huey()
    _run_job(job_id)
