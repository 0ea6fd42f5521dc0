"""The queue as workers take it and as the pages show it: the order waiting jobs are taken
in, each one's place, and when it should start.

Workers train many jobs at once, in turn (app/training/scheduler.py), so a job waits only
while every worker's places are taken. It then starts when a running job ends: the running
jobs' own estimates say when (their time left already counts the jobs they share their
worker with), and each waiting job, once started, holds its place for about its own
length at the speed the running jobs train, shared as they share it.
"""

from __future__ import annotations

import heapq
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from app.storage.tables import JobRow
from app.training.fairshare import Waiting, waiting_order


@dataclass(frozen=True)
class QueueSpot:
    position: int  # 1: the next job a worker takes
    start_in_seconds: float | None  # estimated; None while no worker is there to tell


def account(row: JobRow) -> str:
    return row.owner or f"job:{row.id}"


def taking_order(queued: Sequence[JobRow], running: Sequence[JobRow]) -> list[JobRow]:
    """Queued jobs in the order workers take them (app/training/fairshare.py's rule)."""
    active = Counter(account(r) for r in running)
    by_id = {r.id: r for r in queued}
    waiting = [Waiting(r.id, r.owner, bool(r.visitor), r.created.timestamp()) for r in queued]
    return [by_id[j] for j in waiting_order(waiting, dict(active))]


def time_left(row: JobRow, now: float) -> float | None:
    """A running job's estimate of its time left, as of now (it was written at `updated`)."""
    p: dict[str, Any] = row.progress or {}
    eta = p.get("eta_seconds")
    if eta is None:
        return None
    return max(0.0, float(eta) - max(0.0, now - float(p.get("updated") or now)))


def job_images(row: JobRow) -> float:
    t = row.training or {}
    return (t.get("train_samples") or 60_000) * (1 - (t.get("validation_split") or 0.0)) * (
        t.get("epochs") or 1)


def queue_spots(rows: Sequence[JobRow], places: int | None, now: float | None = None
                ) -> dict[str, QueueSpot]:
    """Each queued job's place and estimated start. `places`: how many jobs the live workers
    take at once (None: no worker is there, so no estimate)."""
    now = time.time() if now is None else now
    running = [r for r in rows if r.status == "running"]
    queued = taking_order([r for r in rows if r.status == "queued"], running)
    lefts = [time_left(r, now) for r in running]
    speeds = [v for r in running if (v := (r.progress or {}).get("images_per_second"))]
    known = places is not None and all(v is not None for v in lefts) and (
        bool(speeds) or len(queued) <= places - len(running))
    free = (places or 0) - len(running)
    workers = len({r.worker for r in running}) or 1
    sharing = max(1.0, len(running) / workers)
    speed = sum(speeds) / len(speeds) if speeds else 0.0
    ends = sorted(v for v in lefts if v is not None)
    spots: dict[str, QueueSpot] = {}
    for i, row in enumerate(queued):
        start: float | None = None
        if known and i < free:
            start = 0.0
        elif known and ends:
            start = heapq.heappop(ends)
            heapq.heappush(ends, start + job_images(row) / speed * sharing)
        spots[row.id] = QueueSpot(i + 1, None if start is None else round(start, 1))
    return spots


def with_spots(read: Callable[[], Sequence[JobRow]], queue: Callable[[], dict[str, QueueSpot]],
               tries: int = 5) -> tuple[list[JobRow], dict[str, QueueSpot]]:
    """Rows from `read`, and each queued one's place from `queue`, as of one moment.

    They are two reads: a job a worker takes between them would show as queued with no
    place. So the rows are read again until every queued one has its place: only a job
    leaving the queue (started or cancelled) makes them differ, and that is rare."""
    rows: list[JobRow] = []
    spots: dict[str, QueueSpot] = {}
    for _ in range(tries):
        rows = list(read())
        if not any(r.status == "queued" for r in rows):
            return rows, {}
        spots = queue()
        if all(r.id in spots for r in rows if r.status == "queued"):
            break
    return rows, spots
