"""What insight computes, kept per loaded model: a channel's examples need every test image
through the network once per layer (seconds), the answers after that only a sort (well
under 50 ms). Each model has its own bounded cache (least recently used first out), held
weakly by the model: when LoadedModels drops the model (deleted, or evicted for another),
its caches go with it, with no bookkeeping by id.

A slow computation runs once per key: a second request for it waits for the first, and a
page can start it in the background (one at a time: this machine has two cores) and poll
its `Progress` meanwhile.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:
    from app.networks.inference import LoadedModel

T = TypeVar("T")
CACHE_BYTES = 128 * 1024 * 1024  # per loaded model (CNNPG_MAX_LOADED_MODELS of them)
MAX_FUNCTIONS = 24  # traced functions kept per model (one or two per layer used)
_BACKGROUND = ThreadPoolExecutor(max_workers=1, thread_name_prefix="insight")


@dataclass
class Progress:
    """How far a computation has come, for a page to show."""

    stage: str = "starting"
    done: int = 0
    total: int = 0
    started: float = field(default_factory=time.monotonic)
    error: BaseException | None = None

    def step(self, stage: str, done: int, total: int) -> None:
        self.stage, self.done, self.total = stage, done, total

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    @property
    def fraction(self) -> float | None:
        return self.done / self.total if self.total else None


def size_of(value: Any) -> int:
    """About how many bytes a cached value holds (its arrays)."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, dict):
        return sum(size_of(v) for v in value.values()) + 64
    if isinstance(value, list | tuple):
        return sum(size_of(v) for v in value) + 64
    if hasattr(value, "__dict__"):
        return sum(size_of(v) for v in vars(value).values()) + 64
    if isinstance(value, str | bytes):
        return len(value)
    return 32


class InsightCache:
    """One model's computed results and traced functions, bounded."""

    def __init__(self, budget: int = CACHE_BYTES) -> None:
        self.budget = budget
        self._values: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._functions: OrderedDict[Hashable, Any] = OrderedDict()
        self._running: dict[Hashable, tuple[threading.Event, Progress]] = {}
        self._failed: dict[Hashable, BaseException] = {}
        self._lock = threading.Lock()

    @property
    def bytes(self) -> int:
        with self._lock:
            return sum(size for _, size in self._values.values())

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            found = self._values.get(key)
            if found is None:
                return None
            self._values.move_to_end(key)
            return found[0]

    def progress(self, key: Hashable) -> Progress | None:
        """The progress of a computation under way (None when none is)."""
        with self._lock:
            running = self._running.get(key)
        return running[1] if running is not None else None

    def compute(self, key: Hashable, work: Callable[[Progress], T]) -> T:
        """The value for `key`: cached, or computed now (once, however many ask at once)."""
        while True:
            with self._lock:
                if key in self._values:
                    self._values.move_to_end(key)
                    return self._values[key][0]
                running = self._running.get(key)
                if running is None:
                    done, progress = threading.Event(), Progress()
                    self._running[key] = (done, progress)
                    break
            running[0].wait()
            if running[1].error is not None:
                raise running[1].error
        try:
            value = work(progress)
        except BaseException as exc:
            progress.error = exc
            with self._lock:
                self._failed[key] = exc
            raise
        else:
            self._store(key, value)
            return value
        finally:
            with self._lock:
                self._running.pop(key, None)
            done.set()

    def failure(self, key: Hashable) -> BaseException | None:
        """Why the last computation of `key` failed, once (the next asks again)."""
        with self._lock:
            return self._failed.pop(key, None)

    def start(self, key: Hashable, work: Callable[[Progress], Any]) -> Future[Any] | None:
        """Run `work` in the background under `key` (its progress is `progress(key)` until
        it ends, its failure `failure(key)` after), unless it is under way already. What it
        computes, it keeps under its own keys (with `compute`)."""
        with self._lock:
            if key in self._running:
                return None
            done, progress = threading.Event(), Progress()
            self._running[key] = (done, progress)
        return _BACKGROUND.submit(self._background, key, work, done, progress)

    def _background(self, key: Hashable, work: Callable[[Progress], Any], done: threading.Event,
                    progress: Progress) -> None:
        try:
            work(progress)
        except Exception as exc:  # the page's next poll shows it
            progress.error = exc
            with self._lock:
                self._failed[key] = exc
        finally:
            with self._lock:
                self._running.pop(key, None)
            done.set()

    def _store(self, key: Hashable, value: Any) -> None:
        size = size_of(value)
        with self._lock:
            self._failed.pop(key, None)
            self._values[key] = (value, size)
            total = sum(s for _, s in self._values.values())
            while total > self.budget and len(self._values) > 1:
                _, (_, dropped) = self._values.popitem(last=False)
                total -= dropped

    def function(self, key: Hashable, make: Callable[[], T]) -> T:
        """A traced function kept for this model (made under KERAS_LOCK: tracing is not
        safe in parallel threads)."""
        from app.networks.inference import KERAS_LOCK

        with self._lock:
            found = self._functions.get(key)
            if found is not None:
                self._functions.move_to_end(key)
                return found
        with KERAS_LOCK:
            with self._lock:
                found = self._functions.get(key)
            if found is None:
                found = make()
                with self._lock:
                    self._functions[key] = found
                    while len(self._functions) > MAX_FUNCTIONS:
                        self._functions.popitem(last=False)
        return found


_CACHES: weakref.WeakKeyDictionary[LoadedModel, InsightCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def cache_for(loaded: LoadedModel) -> InsightCache:
    """The loaded model's insight cache (made on first use, gone with the model)."""
    with _CACHES_LOCK:
        found = _CACHES.get(loaded)
        if found is None:
            found = _CACHES[loaded] = InsightCache()
        return found


def cached_models() -> list[str]:
    """The ids of the models that have an insight cache now (for tests and the bench)."""
    with _CACHES_LOCK:
        return sorted(loaded.info.id for loaded in _CACHES)
