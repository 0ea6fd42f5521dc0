"""Inside the web server: start the embedded workers, restart dead ones, fail lost jobs.

It runs even with no embedded workers (CNNPG_WORKERS=0), to fail the jobs of workers on
other machines whose heartbeat stopped.

`cnn-playground serve` (or `uvicorn app.main:app`) starts CNNPG_WORKERS worker processes.
When one dies its running job is failed at once with the reason, and a new worker starts;
jobs whose heartbeat stops (a worker on another machine) are failed after
CNNPG_HEARTBEAT_TIMEOUT seconds.

Workers are forked from a fork server that has imported TensorFlow and the worker's code
once (multiprocessing's "forkserver", which never runs TensorFlow itself, so each fork
starts its runtime afresh): a new or restarted worker is ready in a fraction of a second
instead of importing TensorFlow again (about 5 s of CPU), and the workers share those pages.
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import os
import threading
from multiprocessing.process import BaseProcess

from app.config import ENV_PREFIX, Settings
from app.training.jobs import JobStore
from app.training.worker import run_embedded, worker_id
from app.training.worker_registry import WorkerRegistry

log = logging.getLogger("cnn_playground.supervisor")
FORKS = multiprocessing.get_context("forkserver")
# What the fork server imports before it forks anything (set before it starts, on first use).
FORKS.set_forkserver_preload([
    "app.cli", "app.startup", "app.training.worker", "app.training.session", "keras"])


class Supervisor(threading.Thread):
    def __init__(self, settings: Settings, jobs: JobStore) -> None:
        super().__init__(daemon=True, name="supervisor")
        self.settings = settings
        self.jobs = jobs
        self.stopping = threading.Event()
        self.procs: list[BaseProcess] = []
        self.registry = WorkerRegistry(jobs.database)
        # Each worker reads this pipe, which nothing writes to: it ends when this process has.
        self._alive_r, self._alive_w = FORKS.Pipe(duplex=False)

    def _spawn(self) -> BaseProcess:
        # The worker gets this application's settings, not whatever the environment says.
        env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
        env.update(self.settings.as_environment())
        env["CNNPG_SUPERVISOR_PID"] = str(os.getpid())
        # Daemonic: should this process end without stop(), multiprocessing ends them too.
        proc = FORKS.Process(target=run_embedded, args=(env, self._alive_r), name="worker",
                             daemon=True)
        proc.start()
        log.info("started worker %s", worker_id(proc.pid))
        return proc

    def start(self) -> None:
        # Jobs left running by workers of an earlier server are not coming back.
        n = self.jobs.fail_running("the server restarted while this job was training",
                              older_than=dt.timedelta(seconds=self.settings.heartbeat_timeout))
        if n:
            log.warning("marked %d abandoned job(s) failed", n)
        self.procs = [self._spawn() for _ in range(self.settings.workers)]
        super().start()

    def run(self) -> None:
        timeout = dt.timedelta(seconds=self.settings.heartbeat_timeout)
        while not self.stopping.wait(1.0):
            for i, proc in enumerate(self.procs):
                if proc.exitcode is not None and not self.stopping.is_set():
                    wid = worker_id(proc.pid)
                    n = self.jobs.fail_running(f"the worker process stopped (exit code "
                                          f"{proc.exitcode}) while this job was training",
                                          worker=wid)
                    log.warning("worker %s exited with %s; %d job(s) failed; restarting", wid,
                                proc.exitcode, n)
                    self.registry.depart(wid)  # its places are gone: nobody waits for them
                    self.procs[i] = self._spawn()
            try:
                self.jobs.fail_running("the worker stopped sending heartbeats (killed "
                                  "or cut off) while this job was training", older_than=timeout)
            except Exception:
                log.warning("could not check heartbeats", exc_info=True)

    def stop(self) -> None:
        self.stopping.set()
        for proc in self.procs:
            if proc.exitcode is None:
                proc.terminate()  # SIGTERM: the worker signs off
        for proc in self.procs:
            proc.join(10)
            if proc.exitcode is None:
                proc.kill()
                proc.join()
        for proc in self.procs:
            self.jobs.fail_running("the server stopped while this job was training",
                              worker=worker_id(proc.pid))
