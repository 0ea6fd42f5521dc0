"""Beyond one machine, on loopback: PostgreSQL and Redis from Debian's packages, a web
server with no workers of its own and two `cnn-playground worker` processes."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.conftest import ROOT, Server, wait_job
from tests.job_bodies import TINY_JOB


def test_web_server_and_two_workers_share_postgres_and_redis(tmp_path, postgres_url, redis_url):
    env = {"CNNPG_DATABASE_URL": postgres_url, "CNNPG_REDIS_URL": redis_url,
           "CNNPG_WORKERS": "0"}
    web = Server(tmp_path / "web", env)
    workers, logs = [], []
    for i in range(2):
        log = tmp_path / f"worker{i}.log"
        logs.append(log)
        workers.append(subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"], cwd=ROOT, stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            env={**os.environ, **env, "CNNPG_DATA_DIR": str(tmp_path / f"worker{i}"),
                 "CNNPG_DATASETS_DIR": str(ROOT / "tests" / "data")}))
    try:
        with httpx.Client(base_url=web.url, timeout=60) as c:
            with ThreadPoolExecutor(4) as pool:  # several jobs at once
                ids = list(pool.map(lambda _: c.post("/api/jobs", json=TINY_JOB).json()["id"],
                                    range(4)))
            jobs = [wait_job(c, job_id, ("succeeded", "failed"), timeout=240) for job_id in ids]
            assert [j["status"] for j in jobs] == ["succeeded"] * 4, [j["error"] for j in jobs]
            # Both workers took jobs, and the web server sees every model they trained.
            assert {j["worker"].rsplit(":", 1)[1] for j in jobs} == {str(w.pid) for w in workers}
            models = {m["id"] for m in c.get("/api/models").json()}
            assert {j["result"]["model_id"] for j in jobs} <= models
            for j in jobs:
                assert c.get(f"/api/models/{j['result']['model_id']}/download").status_code == 200
        # Each job ran exactly once, in one worker: one execution, one model.
        text = "".join(log.read_text() for log in logs)
        for job_id in ids:
            assert text.count(f"job {job_id} succeeded") == 1, text[-3000:]
        assert len(models) == 1 + 4  # the shipped model and one per job
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(30)
        web.stop()
