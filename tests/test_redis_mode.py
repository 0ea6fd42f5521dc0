"""Redis mode: a web server with no workers of its own, and a separate `cnn-playground worker`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import ROOT, Server, free_port
from tests.test_jobs import QUICK, wait_for

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"


@pytest.fixture
def redis_url(tmp_path):
    if not os.path.exists(REDIS):
        pytest.fail("redis-server is missing: the test command installs Debian's redis-server")
    port = free_port()
    proc = subprocess.Popen([REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if redis.Redis.from_url(url).ping():
                break
        except redis.ConnectionError:
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(10)


def test_a_separate_worker_takes_jobs_from_redis(tmp_path, redis_url):
    data = tmp_path / "shared"
    env = {"CNNPG_REDIS_URL": redis_url, "CNNPG_WORKERS": "0",
           "CNNPG_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}"}
    srv = Server(data, env)
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, **env, "CNNPG_DATA_DIR": str(tmp_path / "worker-data"),
             "CNNPG_DATASETS_DIR": str(ROOT / "tests" / "data")})
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            job_id = c.post("/api/jobs", json=QUICK).json()["id"]
            job = wait_for(c, job_id, ("succeeded", "failed"))
            assert job["status"] == "succeeded", job["error"]
            assert job["worker"].endswith(f":{worker.pid}")
            # The model the other process trained is visible from the web server.
            assert c.get(f"/api/models/{job['result']['model_id']}").status_code == 200
        assert not (data / "queue.db").exists()  # the queue was Redis, not the SQLite file
    finally:
        worker.terminate()
        worker.wait(20)
        srv.stop()
