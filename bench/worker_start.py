"""How soon a worker is ready: forked by the server's supervisor, against a new process.

An application with CNNPG_WORKERS=2 starts in this process; its supervisor forks both
workers from its fork server, which imports TensorFlow first (once). One worker is then
killed (SIGKILL) and the supervisor starts another. Then, for comparison, a worker started
as its own process (`python -m app.cli worker`, which imports TensorFlow itself), as every
embedded worker was started before 0.3.

Prints, for each: seconds from the start (or the kill) until the worker says it is alive
in the database, and the worker's own CPU seconds by then.

Run: .venv/bin/python bench/worker_start.py
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app.training.worker_registry import WorkerRegistry


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for(registry: WorkerRegistry, known: set[str], count: int, since: float) -> list[str]:
    """Until `count` live workers not in `known` have announced themselves."""
    while True:
        fresh = [w.worker for w in registry.live(30) if w.worker not in known]
        if len(fresh) >= count:
            return fresh
        if time.monotonic() - since > 120:
            raise SystemExit("no worker announced itself within 120 s")
        time.sleep(0.02)


def report(label: str, since: float, workers: list[str]) -> None:
    for w in workers:
        pid = int(w.rsplit(":", 1)[1])
        print(f"{label:<44} ready after {time.monotonic() - since:5.2f} s, "
              f"its CPU {cpu_seconds(pid):5.2f} s")


def main() -> None:
    # Imported here: a forked worker imports this script again as its __mp_main__ (as it
    # would `cnn-playground`'s), and should not pay for the application's imports.
    from fastapi.testclient import TestClient

    from app.config import Settings
    from app.web.application import create_app

    data = Path(tempfile.mkdtemp(prefix="cnnpg-bench-"))
    settings = Settings(data_dir=data, workers=2)
    start = time.monotonic()
    with TestClient(create_app(settings)) as client:
        registry = WorkerRegistry(client.app.state.services.database)
        first = wait_for(registry, set(), 2, start)
        report("forked at start (fork server imports first)", start, first)
        victim = int(first[0].rsplit(":", 1)[1])
        killed = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        again = wait_for(registry, set(first), 1, killed)
        report("forked again after a SIGKILL", killed, again)

        env = {**os.environ, **settings.as_environment()}
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], env=env,
                                stderr=subprocess.DEVNULL)
        try:
            own = wait_for(registry, set(first) | set(again), 1, started)
            report("its own process (python -m app.cli worker)", started, own)
        finally:
            proc.terminate()
            proc.wait(20)


if __name__ == "__main__":
    main()
