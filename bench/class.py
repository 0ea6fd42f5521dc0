"""A class of 30 pressing Train together, on a real server (DESIGN.md budget, issue 20).

A teacher makes a class, 30 learners join, and within a few seconds each presses Train on
the book's model (5,000 MNIST images, 3 epochs, batch 100, each their own seed) with their
job's page open (its server-sent events), while 10 visitors keep drawing (`POST /predict`
with a 280×280 PNG, a few a second each). Then, in this process, 30 bare fit-and-evaluate
runs of the same model on the same data (build, compile, `model.fit`, `model.evaluate`).

Prints: each learner's time from pressing Train to the first point of their curve on
their page (median and max; budget 20 s), the class's time from the first press to the
last model (against the 30 bare runs: budget 1.2×), `/predict` p50 and p95 meanwhile
(budget p95 100 ms), and errors (failed jobs, refused or failed requests).

Run: .venv/bin/python bench/class.py [--datasets-dir ../shared/data] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tests.conftest import Server, wait_job  # noqa: E402
from tests.digits_data import as_canvas_png, mnist_test  # noqa: E402

ADMIN = "bench-class-admin-" + "9f3c2a71b85e4d06"
# A tiny job trained before the class presses Train: the worker is up, its TensorFlow warm.
PROBE = {"architecture": {"name": "probe", "input_shape": [28, 28, 1], "layers": [
    {"type": "Flatten"}, {"type": "Dense", "units": 10, "activation": "softmax"}]},
    "dataset": "mnist", "training": {"epochs": 1, "train_samples": 100, "seed": 0}}


class Learner(threading.Thread):
    """Joins, waits for the teacher's signal, presses Train, and watches their job's page."""

    def __init__(self, url: str, code: str, i: int, body: dict, go: threading.Event,
                 spread: float) -> None:
        super().__init__(daemon=True, name=f"learner-{i}")
        self.url, self.i, self.body, self.go, self.spread = url, i, body, go, spread
        with httpx.Client(base_url=url, timeout=60) as c:
            r = c.post(f"/api/classes/{code}/join", json={"nickname": f"learner {i:02d}"})
            r.raise_for_status()
            self.token = r.json()["owner_token"]
        self.pressed = self.first_point = self.done = None
        self.job_id: str | None = None
        self.status: str | None = None
        self.error: str | None = None

    def run(self) -> None:
        self.go.wait()
        time.sleep(random.Random(self.i).uniform(0, self.spread))
        headers = {"X-Owner-Token": self.token}
        with httpx.Client(base_url=self.url, timeout=60, headers=headers) as c:
            self.pressed = time.monotonic()
            r = c.post("/api/jobs", json=self.body)
            if r.status_code != 202:
                self.status, self.error = "refused", f"{r.status_code} {r.text[:200]}"
                return
            self.job_id = r.json()["id"]
            self._watch(c)

    def _watch(self, c: httpx.Client) -> None:
        """The job's page: its panel pushed as server-sent events, until `done`."""
        event = None
        with c.stream("GET", f"/jobs/{self.job_id}/events", timeout=None) as stream:
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "panel" and self.first_point is None:
                    if "data-steps='[{" in line:
                        self.first_point = time.monotonic()
                elif line.startswith("data: ") and event == "done":
                    self.done = time.monotonic()
                    self.status = line[6:].strip()
                    break
        job = c.get(f"/api/jobs/{self.job_id}").json()
        self.status, self.error = job["status"], job["error"]


class Visitors:
    """`n` visitors drawing: each posts its canvas to /predict a few times a second."""

    def __init__(self, url: str, n: int, pngs: list[bytes]) -> None:
        self.times: list[float] = []
        self.errors = 0
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._draw, args=(url, i, pngs), daemon=True)
                        for i in range(n)]
        for t in self.threads:
            t.start()

    def _draw(self, url: str, i: int, pngs: list[bytes]) -> None:
        with httpx.Client(base_url=url, timeout=30) as c:
            k = i
            while not self.stop.is_set():
                t = time.perf_counter()
                r = c.post("/predict", files={"file": ("d.png", pngs[k % len(pngs)], "image/png")})
                elapsed = time.perf_counter() - t
                self.times.append(elapsed)
                self.errors += r.status_code != 200
                k += 1
                time.sleep(0.25)

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(10)


def class_run(args: argparse.Namespace, body_for) -> dict:
    env = {"CNNPG_WORKERS": str(args.workers), "CNNPG_DATASETS_DIR": args.datasets_dir,
           "CNNPG_ADMIN_TOKEN": ADMIN, "CNNPG_MAX_QUEUED_JOBS": "200"}
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp), env)
        try:
            with httpx.Client(base_url=server.url, timeout=60) as c:
                code = c.post("/api/classes", json={"name": "bench class"},
                              headers={"X-Owner-Token": ADMIN}).json()["code"]
                go = threading.Event()
                learners = [Learner(server.url, code, i, body_for(i), go, args.spread)
                            for i in range(args.students)]
                for learner in learners:
                    learner.start()
                # The worker is up (TensorFlow imported, the shipped model loaded) before
                # the class presses Train, as it would be at the start of a lesson.
                wait_job(c, c.post("/api/jobs", json=PROBE, headers={"X-Owner-Token": ADMIN})
                         .json()["id"], ("succeeded",), timeout=120)
                x, _ = mnist_test()
                pngs = [as_canvas_png(x[i]) for i in range(20)]
                visitors = Visitors(server.url, args.visitors, pngs)
                time.sleep(2)
                started = time.monotonic()
                go.set()
                for learner in learners:
                    learner.join(args.timeout)
                finished = time.monotonic()
                time.sleep(1)
                visitors.close()
        finally:
            server.stop()
    firsts = [ln.first_point - ln.pressed for ln in learners if ln.first_point and ln.pressed]
    last_done = max((ln.done for ln in learners if ln.done), default=finished)
    return {"firsts": firsts, "total": last_done - started, "predict": visitors.times,
            "predict_errors": visitors.errors,
            "statuses": [ln.status for ln in learners],
            "errors": [ln.error for ln in learners if ln.status != "succeeded"]}


def bare_runs(args: argparse.Namespace, spec, data, training: dict, runs: int) -> list[float]:
    """Fit and evaluate, one after another, in this process, as a script would (seeded,
    without the workers' op determinism)."""
    import keras

    from app.networks.architecture import build_model
    from app.training.trainer import compile_model

    times = []
    for i in range(runs):
        start = time.monotonic()
        keras.utils.set_random_seed(i)
        model = build_model(spec)
        compile_model(model, spec, training["optimizer"], training["learning_rate"])
        model.fit(data.x_train, data.y_train, batch_size=training["batch_size"],
                  epochs=training["epochs"], validation_split=training["validation_split"],
                  verbose=0)
        model.evaluate(data.x_test, data.y_test, verbose=0, batch_size=256)
        times.append(time.monotonic() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets-dir", default=str((ROOT.parent / "shared" / "data")
                                                      if (ROOT.parent / "shared" / "data").is_dir()
                                                      else ROOT / "tests" / "data"))
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--visitors", type=int, default=10)
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="CNNPG_WORKERS of the server")
    parser.add_argument("--spread", type=float, default=3.0,
                        help="seconds over which the learners press Train")
    parser.add_argument("--bare", type=int, default=None,
                        help="bare runs to time (default: as many as students)")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    from app.datasets.builtin import load_dataset
    from app.networks.architecture import ArchitectureSpec
    from app.networks.presets import get_preset
    from app.training.trainer import first_samples

    preset = get_preset("mnist_book")
    spec = ArchitectureSpec.model_validate(preset.architecture)
    training = {**preset.training, "epochs": args.epochs, "train_samples": args.samples}

    def body_for(i: int) -> dict:
        return {"architecture": preset.name, "dataset": "mnist",
                "training": {**training, "seed": 1000 + i}}

    print(f"{args.students} learners press Train on {preset.name} ({args.samples} MNIST images, "
          f"{args.epochs} epochs, batch {training['batch_size']}) within {args.spread:.0f} s, "
          f"{args.visitors} visitors drawing; CNNPG_WORKERS={args.workers}, "
          f"{os.cpu_count()} cores", flush=True)
    run = class_run(args, body_for)
    data = first_samples(load_dataset("mnist", Path(args.datasets_dir)), args.samples)
    n_bare = args.bare or args.students
    bare = bare_runs(args, spec, data, training, n_bare)
    bare_total = sum(bare) * args.students / n_bare

    firsts, predict = run["firsts"], run["predict"]
    failed = [s for s in run["statuses"] if s != "succeeded"]
    figures = {
        "first_point_median_s": statistics.median(firsts) if firsts else None,
        "first_point_max_s": max(firsts) if firsts else None,
        "first_points_seen": len(firsts),
        "class_total_s": run["total"], "bare_total_s": bare_total,
        "bare_each_median_s": statistics.median(bare), "ratio": run["total"] / bare_total,
        "predict_p50_ms": float(np.percentile(predict, 50)) * 1e3,
        "predict_p95_ms": float(np.percentile(predict, 95)) * 1e3,
        "predict_requests": len(predict), "predict_errors": run["predict_errors"],
        "jobs_not_succeeded": len(failed), "job_errors": run["errors"][:5],
    }
    print(f"first curve point after pressing Train: median {figures['first_point_median_s']:.1f} s, "
          f"max {figures['first_point_max_s']:.1f} s ({len(firsts)} of {args.students} seen; "
          "budget 20 s)")
    print(f"the class's {args.students} models: {run['total']:.1f} s from the first press to the "
          f"last model; {n_bare} bare fit-and-evaluate runs here: median "
          f"{figures['bare_each_median_s']:.2f} s each, {bare_total:.1f} s for {args.students}: "
          f"ratio {figures['ratio']:.2f} (budget 1.2)")
    print(f"/predict while the class trains: p50 {figures['predict_p50_ms']:.1f} ms, p95 "
          f"{figures['predict_p95_ms']:.1f} ms over {len(predict)} requests (budget p95 100 ms)")
    print(f"errors: {len(failed)} jobs did not succeed {run['errors'][:3]}, "
          f"{run['predict_errors']} /predict requests failed")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
