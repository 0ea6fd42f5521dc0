"""Faults: bad start-up conditions, a corrupt model, and the server stopped mid-job."""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import ROOT, Server, free_port, playground_app, wait_job, wait_running
from tests.digits_data import mnist_test
from tests.job_bodies import SLOW, TINY_JOB


def start(args: list[str], data_dir, timeout=60, **extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CNNPG_DATA_DIR": str(data_dir), "CNNPG_WORKERS": "0", **extra}
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


SERVE = ["app.cli", "serve", "--port"]
UVICORN = ["uvicorn", "app.main:app", "--port"]


@pytest.mark.parametrize("command", [SERVE, UVICORN], ids=["cnn-playground serve", "uvicorn"])
def test_unwritable_data_dir_is_a_clear_error(tmp_path, command):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    out = start([*command, str(free_port())], blocker / "data")
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert "cannot use the data directory" in text and "CNNPG_DATA_DIR" in text
    assert "Traceback" not in text


@pytest.mark.parametrize("command", [SERVE, UVICORN], ids=["cnn-playground serve", "uvicorn"])
@pytest.mark.parametrize("token", ["change-me-to-a-long-secret", "s3cret"])
def test_a_guessable_admin_token_stops_the_server(tmp_path, command, token):
    """compose.yaml once shipped a token anyone could read; no server starts with such a one."""
    out = start([*command, str(free_port())], tmp_path, timeout=60, CNNPG_ADMIN_TOKEN=token)
    text = out.stdout + out.stderr
    assert out.returncode != 0 and "CNNPG_ADMIN_TOKEN" in text, text[-2000:]
    assert "openssl rand -hex 24" in text and "Traceback" not in text


@pytest.mark.parametrize("command", [SERVE, UVICORN], ids=["cnn-playground serve", "uvicorn"])
def test_locked_database_is_a_clear_error(tmp_path, command):
    db = sqlite3.connect(tmp_path / "playground.db", isolation_level=None)
    db.execute("CREATE TABLE hold (x)")
    db.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    try:
        out = start([*command, str(free_port())], tmp_path)
    finally:
        db.execute("ROLLBACK")
        db.close()
    text = out.stdout + out.stderr
    assert out.returncode != 0 and "is locked by another process" in text, text[-2000:]
    assert "Traceback" not in text


def test_a_corrupt_model_is_reported_not_fatal(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    for suffix in (".keras", ".json"):
        shutil.copy(ROOT / "models" / f"mnist_digits{suffix}", models)
    (models / "broken.keras").write_bytes(b"PK\x03\x04 this is not a whole zip file")
    shutil.copy(ROOT / "models" / "mnist_digits.json", models / "broken.json")
    with playground_app(tmp_path / "data", models_dir=models) as pg:
        c = pg.client
        x, y = mnist_test()
        body = {"pixels": x[0].tolist()}
        assert {m["id"] for m in c.get("/api/models").json()} == {"mnist_digits", "broken"}
        r = c.post("/predict", params={"model": "broken"}, json=body)
        assert r.status_code == 503 and "cannot be loaded" in r.json()["detail"]
        r = c.post("/predict", json=body)
        assert r.status_code == 200 and r.json()["label"] == int(y[0])
        assert c.get("/healthz").json() == {"status": "ok"}


def test_sigterm_mid_job_then_restart(tmp_path):
    env = {"CNNPG_WORKERS": "1", "CNNPG_WORKER_JOBS": "1"}  # the last job waits its turn
    srv = Server(tmp_path, env)
    with httpx.Client(base_url=srv.url, timeout=60) as c:
        done = c.post("/api/jobs", json=TINY_JOB).json()["id"]
        model_id = wait_job(c, done, ("succeeded",))["result"]["model_id"]
        running = c.post("/api/jobs", json=SLOW).json()["id"]
        wait_running(c, running)
        queued = c.post("/api/jobs", json=TINY_JOB).json()["id"]
    srv.proc.send_signal(signal.SIGTERM)
    srv.proc.wait(60)

    # Started again on the same data (in this process: what is tested is what the stopped
    # process left behind), with a worker process of its own.
    with playground_app(tmp_path, workers=1, worker_jobs=1) as pg:
        c = pg.client
        job = c.get(f"/api/jobs/{running}").json()
        assert job["status"] == "failed" and "server stopped" in job["error"], job
        assert wait_job(c, queued, ("succeeded", "failed"))["status"] == "succeeded"
        assert all(j["status"] != "running" for j in c.get("/api/jobs").json())
        # The finished model survived, whole.
        assert c.get(f"/api/models/{model_id}").status_code == 200
        r = c.get(f"/api/models/{model_id}/download")
        assert r.status_code == 200 and r.content[:2] == b"PK"
        x, _ = mnist_test()
        assert c.post("/predict", params={"model": model_id},
                      json={"pixels": x[0].tolist()}).status_code == 200


def test_a_job_whose_training_raises_fails_with_the_reason(client, playground):
    """A dataset whose stored arrays are damaged: the job fails with the reason, the worker
    and the server go on."""
    from tests.dataset_zips import cifar_zip

    r = client.post("/api/datasets", data={"name": "soon damaged"},
                    files={"file": ("d.zip", cifar_zip(), "application/zip")})
    assert r.status_code == 201, r.text
    dataset = r.json()
    with sqlite3.connect(playground.settings.data_dir / "playground.db") as db:
        db.execute("UPDATE dataset_arrays SET npz = ? WHERE dataset_id = ?",
                   (b"PK\x03\x04 truncated", dataset["id"]))
    body = {"architecture": {"name": "m", "input_shape": dataset["input_shape"], "layers": [
        {"type": "Flatten"}, {"type": "Dense", "units": 3, "activation": "softmax"}]},
        "dataset": dataset["id"], "training": {"epochs": 1}}
    r = client.post("/api/jobs", json=body)
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["id"], ("failed", "succeeded"))
    assert job["status"] == "failed"
    assert "BadZipFile" in job["error"] or "zip" in job["error"].lower(), job["error"]
    assert client.get("/healthz").status_code == 200
    quick = wait_job(client, client.post("/api/jobs", json=TINY_JOB).json()["id"])
    assert quick["status"] == "succeeded", quick["error"]  # the worker goes on


def test_server_sigkilled_mid_job_leaves_no_orphan_and_no_stuck_job(tmp_path):
    srv = Server(tmp_path, {"CNNPG_WORKERS": "1", "CNNPG_HEARTBEAT_TIMEOUT": "3"})
    with httpx.Client(base_url=srv.url, timeout=60) as c:
        job = c.post("/api/jobs", json=SLOW).json()["id"]
        pid = int(wait_running(c, job)["worker"].rsplit(":", 1)[1])
    srv.proc.kill()
    srv.proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
        time.sleep(0.2)
    assert not os.path.exists(f"/proc/{pid}"), "the worker outlived its server"
    time.sleep(3)  # past the heartbeat timeout
    with playground_app(tmp_path, heartbeat_timeout=3) as pg:  # started again, in this process
        status = pg.client.get(f"/api/jobs/{job}").json()
        assert status["status"] == "failed" and "restarted" in status["error"], status


def test_a_missing_dataset_offline_names_the_setting(tmp_path, monkeypatch):
    """No file in the datasets folder and no download: the job's reason says what to set."""
    import keras

    from app.datasets.builtin import DatasetUnavailable, load_dataset

    def no_internet():
        raise Exception("URL fetch failure: Name or service not known")

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", no_internet)
    with pytest.raises(DatasetUnavailable, match=re.escape(
            "set CNNPG_DATASETS_DIR to a folder holding fashion_mnist.npz")):
        load_dataset("fashion_mnist", tmp_path)
