"""How the fixture was made: a small database written by release 0.1 of CNN Playground
(commit 0fc62c3), through its own HTTP API and worker. Run from a checkout of that release:

    python make_release_db.py OUT_DIR [DATABASE_URL]

then copy OUT_DIR/data/playground.db (or pg_dump the PostgreSQL database) and
OUT_DIR/expected.json here.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path.cwd()
OUT = Path(sys.argv[1]).resolve()
OUT.mkdir(parents=True, exist_ok=True)
ENV = {**os.environ, "CNNPG_DATA_DIR": str(OUT / "data"), "CNNPG_WORKERS": "1",
       "CNNPG_DATASETS_DIR": str(ROOT / "tests" / "data")}
if len(sys.argv) > 2:
    ENV["CNNPG_DATABASE_URL"] = sys.argv[2]
URL = "http://127.0.0.1:18765"


def tiny(name: str, shape: list[int]) -> dict:
    return {"name": name, "input_shape": shape, "layers": [
        {"type": "Conv2D", "filters": 4, "kernel_size": 3, "activation": "relu"},
        {"type": "MaxPooling2D", "pool_size": 2}, {"type": "Flatten"},
        {"type": "Dense", "units": 10, "activation": "softmax"}]}


def main() -> None:
    with (OUT / "server.log").open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "app.main:app", "--port",
                                 "18765"], cwd=ROOT, env=ENV, stdout=log, stderr=subprocess.STDOUT)
        try:
            run(httpx.Client(base_url=URL, timeout=60))
        finally:
            proc.terminate()
            proc.wait(30)


def run(c: httpx.Client) -> None:
    for _ in range(300):
        try:
            if c.get("/healthz").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)

    def submit(body: dict, token: str | None = None) -> tuple[str, str]:
        r = c.post("/api/jobs", json=body, headers={"X-Owner-Token": token} if token else {})
        r.raise_for_status()
        return r.json()["id"], r.headers["x-owner-token"]

    def wait(job: str, states: tuple[str, ...] = ("succeeded", "failed", "cancelled")) -> dict:
        for _ in range(1000):
            j = c.get(f"/api/jobs/{job}").json()
            if j["status"] in states:
                return j
            time.sleep(0.3)
        raise SystemExit(f"job {job} is stuck")

    a, tok = submit({"architecture": tiny("digits_tiny", [28, 28, 1]), "dataset": "mnist",
                     "name": "digits-tiny", "training": {
                         "optimizer": "adam", "learning_rate": 0.003, "batch_size": 32,
                         "epochs": 3, "validation_split": 0.1, "train_samples": 1500}})
    b, _ = submit({"architecture": tiny("cifar_tiny", [32, 32, 3]), "dataset": "cifar10",
                   "name": "cifar-tiny", "training": {
                       "optimizer": "adam", "learning_rate": 0.003, "batch_size": 32,
                       "epochs": 2, "validation_split": 0.0, "train_samples": 400}}, tok)
    queued, _ = submit({"architecture": "mnist_book", "dataset": "mnist",
                        "name": "cancelled-in-queue",
                        "training": {"epochs": 1, "train_samples": 100}}, tok)
    c.post(f"/api/jobs/{queued}/cancel", headers={"X-Owner-Token": tok}).raise_for_status()
    print(wait(a)["status"], wait(b)["status"])
    # A job whose worker is killed mid-training: failed, with the reason.
    d, _ = submit({"architecture": tiny("killed", [28, 28, 1]), "dataset": "mnist",
                   "name": "worker-killed",
                   "training": {"epochs": 30, "train_samples": 3000, "batch_size": 16}}, tok)
    wait(d, ("running",))
    while not c.get(f"/api/jobs/{d}").json()["progress"].get("batch"):
        time.sleep(0.2)
    found = subprocess.run(["pgrep", "-f", "app.cli worker"], capture_output=True, text=True)
    for pid in found.stdout.split():
        os.kill(int(pid), signal.SIGKILL)
    print(wait(d)["status"])
    expected = {"owner_token": tok, "jobs": c.get("/api/jobs").json(),
                "models": c.get("/api/models").json()}
    (OUT / "expected.json").write_text(json.dumps(expected, indent=1))


if __name__ == "__main__":
    main()
