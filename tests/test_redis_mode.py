"""Redis mode: a web server with no workers of its own (this process's application), and a
separate `cnn-playground worker` process."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT, playground_app, wait_job
from tests.job_bodies import TINY_JOB


def test_a_separate_worker_takes_jobs_from_redis(tmp_path, redis_url):
    data = tmp_path / "shared"
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    env = {"CNNPG_REDIS_URL": redis_url, "CNNPG_WORKERS": "0", "CNNPG_DATABASE_URL": db}
    log = (tmp_path / "worker.log").open("wb")
    with playground_app(data, redis_url=redis_url, database_url=db) as web:
        worker = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"], cwd=ROOT, stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env, "CNNPG_DATA_DIR": str(tmp_path / "worker-data"),
                 "CNNPG_DATASETS_DIR": str(ROOT / "tests" / "data")})
        try:
            c = web.client
            job_id = c.post("/api/jobs", json=TINY_JOB).json()["id"]
            job = wait_job(c, job_id, ("succeeded", "failed"))
            assert job["status"] == "succeeded", job["error"]
            assert job["worker"].endswith(f":{worker.pid}")
            # The model the other process trained is visible from the web server.
            assert c.get(f"/api/models/{job['result']['model_id']}").status_code == 200
            assert not (data / "queue.db").exists()  # the queue was Redis, not the SQLite file
        finally:
            worker.terminate()
            worker.wait(20)
