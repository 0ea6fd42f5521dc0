"""Receiving a dataset zip and turning it into a dataset, in the background.

`DatasetUploads.receive` (in the web server) saves the zip under the data directory with its
size limit, runs the checks that need only its directory (`uploads.zip_checks.inspect_zip`: a refused
zip is a 4xx at once, and nothing is stored), records the dataset as processing and starts
its ingestion. The ingestion runs in its own process (`python -m app.datasets.ingestion`),
one at a time, so decoding thousands of photos takes no time from the web server's event
loop or threads; it writes its progress to the database, where the page that uploaded the
zip follows it, and stores the arrays or the reason it failed. The zip is deleted after.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from app.classroom import ownership
from app.config import ENV_PREFIX, Settings, load_settings
from app.datasets.builtin import DATASETS
from app.datasets.catalog import DatasetCatalog
from app.datasets.store import DatasetStore, Failure, options_of
from app.datasets.uploads.building import build
from app.datasets.uploads.options import DatasetOptions, UploadLimits
from app.datasets.uploads.refusals import DatasetRefused, ZipTooLarge
from app.datasets.uploads.zip_checks import inspect_zip
from app.errors import Conflict, Forbidden, InvalidInput, TooLarge
from app.storage.database import Database
from app.storage.tables import DatasetRow

log = logging.getLogger("cnn_playground.datasets")
PROGRESS_INTERVAL = 0.25  # seconds between progress writes
COPY_CHUNK = 1024 * 1024


class ReadOnlyDataset(Forbidden):
    """The built-in datasets belong to the application."""


class DatasetInUse(Conflict):
    """Jobs are waiting to train on it."""


class DatasetUploads:
    """The web server's side: receive zips, run their ingestion, wait for it, delete."""

    def __init__(self, settings: Settings, store: DatasetStore, catalog: DatasetCatalog) -> None:
        self.settings = settings
        self.store = store
        self.catalog = catalog
        self.limits = UploadLimits.of(settings)
        self.folder = settings.data_dir / "dataset-uploads"
        self._turn = threading.Semaphore(1)  # one ingestion at a time: a core for the rest
        self._done: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def save(self, source: BinaryIO) -> Path:
        """Copy an uploaded zip to the upload folder, refusing it past the size limit."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"incoming-{secrets.token_hex(8)}.zip"
        limit, copied = self.limits.zip_bytes, 0
        try:
            with path.open("wb") as out:
                while chunk := source.read(COPY_CHUNK):
                    copied += len(chunk)
                    if copied > limit:
                        raise ZipTooLarge(f"the zip is over the limit of {limit} bytes "
                                          "(CNNPG_MAX_DATASET_ZIP_BYTES)")
                    out.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path

    def receive(self, source: BinaryIO, *, name: str, options: DatasetOptions,
                owner: str | None, origin: str = "zip",
                storage: Callable[[int], bool] | None = None) -> DatasetRow:
        """Check the zip, record the dataset as processing and start its ingestion.
        `storage(zip bytes)` refuses a zip its owner has no room for (a quota,
        app/classroom/quotas.py), and says whether the owner is a visitor."""
        self.tidy()
        path = self.save(source)
        try:
            visitor = storage(path.stat().st_size) if storage is not None else False
            plan = inspect_zip(path, self.limits, options)
            row = self.store.create(name=name, owner=owner, source=origin, options=options,
                                    class_names=plan.class_names, counts=plan.counts(),
                                    visitor=visitor)
            final = path.with_name(f"{row.id}.zip")
            path.replace(final)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        done = threading.Event()
        with self._lock:
            self._done[row.id] = done
        threading.Thread(target=self._run, args=(row.id, final, done), daemon=True,
                         name=f"ingest-{row.id}").start()
        return row

    def _run(self, dataset_id: str, path: Path, done: threading.Event) -> None:
        try:
            # A dataset starts as "starting"; only one that must wait for another upload's
            # ingestion is "queued" (and says so), until its turn comes.
            if not self._turn.acquire(blocking=False):
                self.store.phase(dataset_id, "queued")
                while not self._turn.acquire(timeout=10):
                    self.store.touch(dataset_id)  # waiting behind another: not stale
                self.store.phase(dataset_id, "starting")
            try:
                env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
                env.update(self.settings.as_environment())
                proc = subprocess.run([sys.executable, "-m", "app.datasets.ingestion",
                                       dataset_id, str(path)], env=env, check=False)
                if proc.returncode != 0:
                    self.store.fail(dataset_id, Failure(
                        "invalid", "file", f"processing stopped unexpectedly (exit code "
                        f"{proc.returncode}); the server's log says why", []))
            finally:
                self._turn.release()
        except Exception:
            log.exception("ingestion of dataset %s failed", dataset_id)
            self.store.fail(dataset_id, Failure("invalid", "file", "processing failed; the "
                                                "server's log says why", []))
        finally:
            path.unlink(missing_ok=True)
            done.set()
            with self._lock:
                self._done.pop(dataset_id, None)

    def wait(self, dataset_id: str, timeout: float | None = None) -> DatasetRow | None:
        """Block until this server's ingestion of the dataset has ended; its record then
        (ready or failed), or None when it was deleted meanwhile."""
        with self._lock:
            done = self._done.get(dataset_id)
        if done is not None:
            done.wait(timeout)
        return self.store.row(dataset_id)

    def result(self, dataset_id: str, timeout: float | None = None) -> DatasetRow:
        """Wait for the ingestion; the ready dataset, or its failure raised as the domain
        error it was (and the failed record removed: nothing of it stays stored)."""
        row = self.wait(dataset_id, timeout)
        if row is None:
            raise InvalidInput("file", "the dataset was deleted while it was being processed")
        if row.status == "failed":
            self.store.delete(dataset_id)
            failure = Failure.of(row.error or {})
            if failure.kind == "too_large":
                raise TooLarge(failure.field, failure.message)
            raise DatasetRefused(failure.message, failure.files)
        return row

    def delete(self, dataset_id: str, token: str | None, admin_token: str | None, *,
               jobs_waiting: int = 0, field: str = "dataset_id") -> None:
        """Only the dataset's owner token, or the administrator's, may delete it; nobody the
        built-in ones; nobody while jobs wait to train on it (models trained on it stay, with
        its class names)."""
        if dataset_id in DATASETS:
            raise ReadOnlyDataset(f"{dataset_id} is built in and read-only: nobody can delete it")
        row = self.store.get(dataset_id, field)
        ownership.require(row.owner, token, admin_token, f"dataset {dataset_id}")
        if jobs_waiting:
            raise DatasetInUse(f"{jobs_waiting} job(s) queued or running will train on dataset "
                               f"{dataset_id}; cancel them, or wait for them to finish")
        self.store.delete(dataset_id)
        self.catalog.forget(dataset_id)

    def tidy(self) -> None:
        """Fail stale ingestions, drop old failures, and remove zips nobody is processing."""
        processing = set(self.store.tidy())
        if not self.folder.is_dir():
            return
        cutoff = time.time() - 600
        for path in self.folder.glob("*.zip"):
            try:
                if path.stem not in processing and path.stat().st_mtime < cutoff:
                    path.unlink(missing_ok=True)
            except FileNotFoundError:
                pass


class Throttled:
    """Progress written at most every PROGRESS_INTERVAL, and always at a phase's change."""

    def __init__(self, store: DatasetStore, dataset_id: str) -> None:
        self.store = store
        self.dataset_id = dataset_id
        self.last = 0.0
        self.phase = ""

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if phase == self.phase and now - self.last < PROGRESS_INTERVAL:
            return
        self.phase, self.last = phase, now
        self.store.progress(self.dataset_id, phase, done, total)


def ingest(store: DatasetStore, dataset_id: str, path: Path, limits: UploadLimits) -> None:
    """Build the dataset from its zip and store it, or store why it failed."""
    row = store.row(dataset_id)
    if row is None or row.status != "processing":
        return  # deleted, or given up as stale, before its turn came
    progress = Throttled(store, dataset_id)
    try:
        built = build(path, options_of(row), limits, progress)
        progress("storing", built.report["images"], built.report["images"])
        if store.finish(dataset_id, built):
            log.info("dataset %s ready: %d images in %d classes", dataset_id,
                     built.report["images"], len(built.class_names))
    except DatasetRefused as exc:
        store.fail(dataset_id, Failure("invalid", exc.field, exc.message, exc.files))
    except TooLarge as exc:
        store.fail(dataset_id, Failure("too_large", exc.field, exc.message, []))
    except InvalidInput as exc:
        store.fail(dataset_id, Failure("invalid", exc.field, exc.message, []))


def main(argv: list[str]) -> int:
    """`python -m app.datasets.ingestion DATASET_ID ZIP_PATH`, with the server's settings in
    the environment (CNNPG_*)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    dataset_id, path = argv
    settings = load_settings()
    database = Database(settings)
    try:
        ingest(DatasetStore(database), dataset_id, Path(path), UploadLimits.of(settings))
    finally:
        database.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

