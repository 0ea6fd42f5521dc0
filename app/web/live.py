"""Live job pages: updates pushed to every page watching a job, read once for all of them.

A page watching a job holds one server-sent-events stream. For each job that at least one
page watches there is one reader: a task that reads the job from the database every
`interval` seconds (in a thread), renders what changed once, and hands the same bytes to
every watcher. Forty pages on one job cost one query every half second, not forty; when
the last page goes (a closed tab ends its stream at once), the reader stops, so nobody
watching costs nothing.

A live stream never ends by itself while its job runs, and uvicorn waits for open
responses before it shuts down: on SIGINT or SIGTERM every stream is ended first
(`end_streams_on_exit_signals`), then the server's own handler runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable, Hashable
from dataclasses import dataclass, field
from types import FrameType

import anyio

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Update:
    """What the pages watching a job are sent: events (name, data), in order."""

    key: Hashable  # equal keys: nothing changed, nothing is sent
    events: tuple[tuple[str, str], ...]
    done: bool = False  # the job has finished: this is its last update


Reader = Callable[[str], Update]


@dataclass
class _Feed:
    watchers: int = 0
    version: int = 0
    update: Update | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class LiveJobs:
    def __init__(self, read: Reader, interval: float = 0.5) -> None:
        self.read = read
        self.interval = interval
        self._feeds: dict[str, _Feed] = {}
        self.reads = 0  # database reads so far, for tests and benchmarks
        self.closed = False
        self._routes: dict[str, Reader] = {}

    def route(self, prefix: str, read: Reader) -> None:
        """Feeds whose key starts with `prefix` (`sweep:`) are read by `read`, given the
        rest of the key: other live pages share the one reader per feed."""
        self._routes[prefix] = read

    def _read(self, key: str) -> Update:
        for prefix, read in self._routes.items():
            if key.startswith(prefix):
                return read(key.removeprefix(prefix))
        return self.read(key)

    def watchers(self, job_id: str) -> int:
        feed = self._feeds.get(job_id)
        return feed.watchers if feed else 0

    @property
    def readers(self) -> int:
        return sum(1 for f in self._feeds.values() if f.task and not f.task.done())

    async def follow(self, job_id: str) -> AsyncIterator[Update]:
        """Each change of the job, as it happens, ending with its `done` update (or when
        the server shuts down)."""
        if self.closed:
            return
        feed = self._feeds.get(job_id)
        if feed is None:
            feed = self._feeds[job_id] = _Feed()
            feed.task = asyncio.create_task(self._poll(job_id, feed), name=f"live-{job_id}")
        feed.watchers += 1
        seen = 0
        try:
            while True:
                if feed.version == seen:
                    await feed.changed.wait()
                    continue
                seen = feed.version
                update = feed.update
                if update is None:
                    return
                yield update
                if update.done:
                    return
        finally:
            feed.watchers -= 1
            if feed.watchers == 0 and self._feeds.get(job_id) is feed:
                del self._feeds[job_id]
                if feed.task is not None:
                    feed.task.cancel()

    def close(self) -> None:
        """End every stream: the server is shutting down."""
        self.closed = True
        for feed in list(self._feeds.values()):
            if feed.task is not None:
                feed.task.cancel()  # its reader publishes the end as it stops

    def close_from_thread(self) -> None:
        """`close`, from a thread other than the event loop's (a server run in a thread)."""
        loops = {feed.task.get_loop() for feed in self._feeds.values() if feed.task is not None}
        if not loops:
            self.closed = True
        for loop in loops:
            loop.call_soon_threadsafe(self.close)

    def end_streams_on_exit_signals(self) -> None:
        """Chain SIGINT and SIGTERM (in the main thread, where the server's handlers are):
        end the streams, then let the server's handler shut it down."""
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(sig)
            if not callable(previous):
                continue

            def handler(signum: int, frame: FrameType | None, previous: Callable[..., object] = previous
                        ) -> None:
                loop.call_soon_threadsafe(self.close)
                previous(signum, frame)

            signal.signal(sig, handler)

    def _publish(self, feed: _Feed, update: Update | None) -> None:
        feed.update = update
        feed.version += 1
        changed, feed.changed = feed.changed, asyncio.Event()
        changed.set()

    async def _poll(self, job_id: str, feed: _Feed) -> None:
        last: Hashable = object()
        try:
            while True:
                try:
                    update = await anyio.to_thread.run_sync(self._read, job_id)
                    self.reads += 1
                except Exception:  # a busy database: try again, the pages keep what they have
                    log.warning("could not read job %s for its watchers", job_id, exc_info=True)
                    await asyncio.sleep(self.interval * 4)
                    continue
                if update.key != last:
                    last = update.key
                    self._publish(feed, update)
                if update.done:
                    return
                await asyncio.sleep(self.interval)
        except asyncio.CancelledError:
            raise
        finally:
            if feed.update is None or not feed.update.done:
                with contextlib.suppress(RuntimeError):  # the loop may be closing
                    self._publish(feed, None)
