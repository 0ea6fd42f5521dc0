"""The job queue (Huey): SQLite file by default, Redis when CNNPG_REDIS_URL is set.

With SQLite the queue lives next to the database in CNNPG_DATA_DIR, so queued jobs
survive a restart; with Redis, `cnn-playground worker` on any machine takes jobs.
"""

from __future__ import annotations

from huey import Huey, RedisHuey, SqliteHuey

from app.config import Settings, get_settings


def make_huey(settings: Settings) -> Huey:
    if settings.redis_url:
        return RedisHuey("cnn-playground", url=settings.redis_url, results=False)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("cnn-playground", filename=str(settings.data_dir / "queue.db"),
                      results=False, timeout=30)


huey = make_huey(get_settings())


@huey.task(retries=0)
def run_job(job_id: str) -> None:
    from app.worker import execute

    execute(job_id)


def enqueue(job_id: str) -> None:
    run_job(job_id)


def pending() -> int:
    return huey.pending_count()
