"""Training jobs end to end: the session's application with its real worker process, real
MNIST digits; a restart is a new application over the same data directory."""

from __future__ import annotations

import os
import signal
import time

import keras
import numpy as np
import pytest

from tests.conftest import playground_app, wait_job, wait_running
from tests.digits_data import DATA
from tests.job_bodies import QUICK, SLOW, TINY_JOB


@pytest.fixture(scope="module")
def jc(client):
    return client


def test_job_end_to_end(jc, tmp_path):
    r = jc.post("/api/jobs", json=QUICK)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    assert r.json()["status"] == "queued"
    job = wait_job(jc, job_id, ("succeeded", "failed"))
    assert job["status"] == "succeeded", job["error"]
    result = job["result"]
    assert result["test_accuracy"] > 0.85
    assert np.array(result["confusion_matrix"]).sum() == 1000  # the 1,000 test digits
    assert np.trace(result["confusion_matrix"]) == round(result["test_accuracy"] * 1000)
    assert all(m["true"] != m["predicted"] for m in result["misclassified"])
    progress = job["progress"]
    assert progress["epoch"] == 1 and progress["batch"] == progress["batches"] == 85  # 2700/32
    assert set(progress["history"][0]) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    # The worker trains with the threads CNNPG_TRAINING_THREADS gives it (tests/conftest.py).
    assert job["device"] == f"CPU ({len(os.sched_getaffinity(0))} cores, 1 thread)"

    # The model is in the registry, downloads, and loads with plain Keras.
    model_id = result["model_id"]
    listed = {m["id"]: m for m in jc.get("/api/models").json()}
    assert listed[model_id]["shipped"] is False
    assert listed[model_id]["test_accuracy"] == pytest.approx(result["test_accuracy"])
    detail = jc.get(f"/api/models/{model_id}").json()  # summary and training record
    assert detail["summary"]["total_params"] == 62_346 and detail["job_id"] == job_id
    assert detail["training"]["history"] == progress["history"]
    path = tmp_path / "m.keras"
    path.write_bytes(jc.get(f"/api/models/{model_id}/download").content)
    model = keras.saving.load_model(path)
    with np.load(DATA / "mnist.npz") as f:
        x, y = f["x_test"][:200, :, :, None] / 255.0, f["y_test"][:200]
    assert (np.argmax(model.predict(x, verbose=0), axis=1) == y).mean() > 0.85
    # …and predicts over HTTP like the shipped one.
    r = jc.post("/predict", params={"model": model_id}, json={"pixels": (x[0, :, :, 0] * 255).tolist()})
    assert r.status_code == 200 and r.json()["model"] == model_id
    assert jc.delete(f"/api/models/{model_id}").status_code == 204
    assert jc.get(f"/api/models/{model_id}").status_code == 404


def test_cancel_a_running_job_within_two_seconds(jc):
    job_id = jc.post("/api/jobs", json=SLOW).json()["id"]
    wait_running(jc, job_id)
    asked = time.monotonic()
    r = jc.post(f"/api/jobs/{job_id}/cancel")
    assert r.status_code == 200
    job = wait_job(jc, job_id, ("cancelled", "failed", "succeeded"), every=0.05)
    assert job["status"] == "cancelled"
    assert time.monotonic() - asked <= 2.0
    assert jc.post(f"/api/jobs/{job_id}/cancel").status_code == 409


def test_cancel_a_queued_job(make_playground):
    pg = make_playground()  # no worker: jobs wait
    c = pg.client
    first = c.post("/api/jobs", json=SLOW).json()["id"]
    second = c.post("/api/jobs", json=QUICK).json()["id"]
    r = c.post(f"/api/jobs/{second}/cancel")
    assert r.json()["status"] == "cancelled" and r.json()["error"] == "cancelled before it started"
    # The cancelled job leaves the queue: the first is still next, and nothing takes the other.
    assert c.get(f"/api/jobs/{first}").json()["queue_position"] == 1
    assert pg.services.jobs.claim_next("test:1").id == first
    assert pg.services.jobs.claim_next("test:1") is None


def test_killed_worker_fails_the_job_and_the_queue_goes_on(jc):
    job_id = jc.post("/api/jobs", json=SLOW).json()["id"]
    job = wait_running(jc, job_id)
    pid = int(job["worker"].rsplit(":", 1)[1])  # "host:pid"
    os.kill(pid, signal.SIGKILL)
    job = wait_job(jc, job_id, ("failed",), timeout=15)
    assert "worker process stopped" in job["error"] and "-9" in job["error"], job["error"]
    # A new worker takes the next job.
    nxt = jc.post("/api/jobs", json=TINY_JOB).json()["id"]
    assert wait_job(jc, nxt, ("succeeded", "failed"))["status"] == "succeeded"


@pytest.mark.parametrize(
    ("body", "status", "field", "fragment"),
    [
        ({**QUICK, "dataset": "cifar10"}, 422, "architecture.input_shape", "does not fit cifar10"),
        ({**QUICK, "architecture": "no_such_preset"}, 422, "architecture",
         "Input should be 'cifar_model_intro'"),
        ({**QUICK, "dataset": "imagenet"}, 422, "dataset", ""),
        ({**QUICK, "training": {"epochs": 500}}, 422, "training.epochs", "less than or equal to 50"),
        ({**QUICK, "training": {"train_samples": 100_000}}, 422, "training.train_samples",
         "less than or equal to 60000"),
        ({**QUICK, "training": {"batch_size": 0}}, 422, "training.batch_size", ""),
        ({**QUICK, "training": {"optimizer": "lbfgs"}}, 422, "training.optimizer", ""),
        ({**QUICK, "architecture": {"input_shape": [28, 28, 1], "layers": [
            {"type": "Flatten"}, {"type": "Dense", "units": 5, "activation": "softmax"}]}},
         422, "architecture.layers.1", "needs 10 values"),
    ],
)
def test_job_refusals(jc, body, status, field, fragment):
    r = jc.post("/api/jobs", json=body)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    locs = [".".join(str(p) for p in d["loc"][1:]) for d in detail]
    assert any(loc.startswith(field) for loc in locs), detail
    assert fragment in r.text


def test_restart_keeps_queued_jobs_and_the_queue_limit(tmp_path):
    """No worker: jobs wait in the SQLite queue, the queue fills (429), and the application
    started again over the same data directory, with a worker, runs what was waiting."""
    with playground_app(tmp_path, max_queued_jobs=2) as first:
        ids = [first.client.post("/api/jobs", json=TINY_JOB).json()["id"] for _ in range(2)]
        r = first.client.post("/api/jobs", json=TINY_JOB)
        assert r.status_code == 429 and "the queue is full" in r.text and "limit is 2" in r.text
    with playground_app(tmp_path, max_queued_jobs=2, workers=1) as again:
        for job_id in ids:
            assert wait_job(again.client, job_id, ("succeeded", "failed"))["status"] == "succeeded"


def test_unknown_job(jc):
    assert jc.get("/api/jobs/0123456789ab").status_code == 404
    assert jc.post("/api/jobs/0123456789ab/cancel").status_code == 404
    r = jc.get("/api/jobs/nope")  # not even a job id
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["path", "job_id"]
