"""The workers that train jobs, as the database knows them: each says every second that it
is alive, how many jobs it takes at once and the device it trains on.

Workers balance new jobs with it (the least loaded takes the next one first), and the
queue's estimates count the places live workers have (app/training/jobs.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update

from app.storage.database import Database
from app.storage.tables import JobRow, WorkerRow, utcnow


@dataclass(frozen=True)
class WorkerLoad:
    worker: str
    slots: int
    device: str
    active: int  # jobs it is training now

    @property
    def room(self) -> int:
        return self.slots - self.active


class WorkerRegistry:
    def __init__(self, database: Database) -> None:
        self.database = database

    def announce(self, worker: str, slots: int, device: str) -> None:
        """Alive now (the row is made on the first call)."""
        now = utcnow()
        with self.database.begin() as s:
            n = s.execute(update(WorkerRow).where(WorkerRow.id == worker)
                          .values(seen=now, slots=slots, device=device[:128])).rowcount
            if not n:
                s.add(WorkerRow(id=worker, slots=slots, device=device[:128], started=now,
                                seen=now))

    def depart(self, worker: str) -> None:
        with self.database.begin() as s:
            s.execute(delete(WorkerRow).where(WorkerRow.id == worker))

    def live(self, timeout: float) -> list[WorkerLoad]:
        """Workers heard from within `timeout` seconds, with the jobs each is training."""
        seen = utcnow() - dt.timedelta(seconds=timeout)
        with self.database.session() as s:
            workers = list(s.scalars(select(WorkerRow).where(WorkerRow.seen >= seen)))
            active = dict(s.execute(select(JobRow.worker, func.count())
                                    .where(JobRow.status == "running")
                                    .group_by(JobRow.worker)).tuples().all())
        return [WorkerLoad(w.id, w.slots, w.device, int(active.get(w.id, 0))) for w in workers]

    def oldest_wait(self) -> float:
        """Seconds the longest-waiting queued job has waited (0 when none waits)."""
        with self.database.session() as s:
            oldest = s.scalar(select(func.min(JobRow.created)).where(JobRow.status == "queued"))
        return 0.0 if oldest is None else max(0.0, (utcnow() - oldest).total_seconds())
