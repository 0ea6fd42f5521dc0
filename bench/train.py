"""Training jobs against a bare model.fit, in one run (DESIGN.md budgets: 10%, and 2×).

1. A job's model.fit time (in its worker, with the progress callback and its per-step
   points, heartbeats, database writes, a timelapse frame per epoch, the seed's op
   determinism, and --watchers pages watching it live over server-sent events) against a
   bare model.fit of the same model on the same data in this process; alternated, medians.
   Also the job's whole run (data, fit, evaluation, save).
2. The time from POST /api/jobs to the first progress update.
3. GET /healthz latency while a job trains and --watchers pages watch it, against idle.

Run: .venv/bin/python bench/train.py [--datasets-dir ../shared/data] [--samples N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tests.conftest import Server  # noqa: E402


def bare_fit(spec, data, training) -> float:
    import keras

    from app.networks.architecture import build_model
    from app.training.trainer import compile_model

    keras.utils.set_random_seed(0)
    model = build_model(spec)
    compile_model(model, spec, training["optimizer"], training["learning_rate"])
    start = time.monotonic()
    model.fit(data.x_train, data.y_train, batch_size=training["batch_size"],
              epochs=training["epochs"], validation_split=training["validation_split"], verbose=0)
    return time.monotonic() - start


class Watchers:
    """`n` pages watching a job: each holds the job page's event stream and reads it."""

    def __init__(self, url: str, job_id: str, n: int) -> None:
        self.events = [0] * n
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._watch, args=(url, job_id, i), daemon=True)
                        for i in range(n)]
        for t in self.threads:
            t.start()

    def _watch(self, url: str, job_id: str, i: int) -> None:
        with httpx.stream("GET", f"{url}/jobs/{job_id}/events", timeout=None) as r:
            for line in r.iter_lines():
                if line.startswith("event: "):
                    self.events[i] += 1
                if self.stop.is_set():
                    return

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(5)


def healthz_median(client: httpx.Client, seconds: float) -> float:
    times = []
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        t = time.perf_counter()
        client.get("/healthz").raise_for_status()
        times.append(time.perf_counter() - t)
        time.sleep(0.01)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets-dir", default=str(ROOT / "tests" / "data"))
    parser.add_argument("--samples", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--watchers", type=int, default=40, help="pages watching each job live")
    args = parser.parse_args()

    from app.datasets.builtin import load_dataset
    from app.networks.architecture import ArchitectureSpec
    from app.networks.presets import get_preset
    from app.training.trainer import first_samples

    preset = get_preset("mnist_book")
    spec = ArchitectureSpec.model_validate(preset.architecture)
    training = {"optimizer": "sgd", "learning_rate": 0.01, "batch_size": 32,
                "epochs": args.epochs, "validation_split": 0.1, "train_samples": args.samples}
    data = first_samples(load_dataset("mnist", Path(args.datasets_dir)), args.samples)
    body = {"architecture": preset.name, "dataset": "mnist", "training": training}
    print(f"{preset.name} ({preset.label}) on {len(data.x_train)} MNIST images, "
          f"{args.epochs} epochs, batch 32; {args.rounds} rounds alternated; "
          f"{args.watchers} pages watch each job")

    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp), {"CNNPG_WORKERS": "1", "CNNPG_DATASETS_DIR": args.datasets_dir})
        try:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                time.sleep(8)  # let the server finish loading the shipped model
                bare_times, job_fit, job_total, first_progress, busy = [], [], [], [], []
                events: list[int] = []
                bare_fit(spec, data, training)  # warm up TensorFlow here too
                for _ in range(args.rounds):
                    bare_times.append(bare_fit(spec, data, training))
                    submitted = time.monotonic()
                    job_id = client.post("/api/jobs", json=body).json()["id"]
                    watchers = Watchers(server.url, job_id, args.watchers)
                    while True:
                        job = client.get(f"/api/jobs/{job_id}").json()
                        if job["progress"].get("batch", 0) > 0 or job["status"] not in (
                                "queued", "running"):
                            first_progress.append(time.monotonic() - submitted)
                            break
                        time.sleep(0.02)
                    while job["status"] in ("queued", "running"):
                        time.sleep(0.5)  # light polling: the fit is being measured
                        job = client.get(f"/api/jobs/{job_id}").json()
                    assert job["status"] == "succeeded", job["error"]
                    watchers.close()
                    events += watchers.events
                    job_fit.append(job["result"]["train_seconds"])
                    from datetime import datetime
                    started = datetime.fromisoformat(job["started"].rstrip("Z"))
                    finished = datetime.fromisoformat(job["finished"].rstrip("Z"))
                    job_total.append((finished - started).total_seconds())
                time.sleep(1)
                idle = healthz_median(client, 3)
                # Separately: /healthz while a longer job trains.
                long_job = {**body, "training": {**training, "epochs": args.epochs * 3}}
                job_id = client.post("/api/jobs", json=long_job).json()["id"]
                watchers = Watchers(server.url, job_id, args.watchers)
                while client.get(f"/api/jobs/{job_id}").json()["progress"].get("batch", 0) == 0:
                    time.sleep(0.05)
                busy.append(healthz_median(client, 3))
                client.post(f"/api/jobs/{job_id}/cancel")
                watchers.close()
        finally:
            server.stop()

    b, j = statistics.median(bare_times), statistics.median(job_fit)
    print(f"bare model.fit      median {b:6.2f} s   ({', '.join(f'{t:.2f}' for t in bare_times)})")
    print(f"job model.fit       median {j:6.2f} s   ({', '.join(f'{t:.2f}' for t in job_fit)})")
    print(f"job fit / bare fit  {j / b:.3f} (budget 1.10)")
    print(f"job whole run       median {statistics.median(job_total):6.2f} s (data, fit, "
          "evaluation, confusion matrix, save)")
    print(f"submit → first progress  median {statistics.median(first_progress):.2f} s")
    if events:
        print(f"live updates per watching page per job: median {statistics.median(events):.0f} "
              f"(min {min(events)})")
    print(f"/healthz idle {idle * 1e3:.2f} ms, while training with {args.watchers} pages watching "
          f"{statistics.median(busy) * 1e3:.2f} ms: ratio {statistics.median(busy) / idle:.2f}× "
          "(budget 2×)")


if __name__ == "__main__":
    main()
