"""Beyond one machine, on loopback: PostgreSQL and Redis from Debian's packages, a web
server with no workers of its own and two `cnn-playground worker` processes."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, Server, free_port
from tests.test_jobs import QUICK, wait_for
from tests.test_redis_mode import redis_url  # noqa: F401  (fixture)


def as_postgres(cmd: list[str]) -> list[str]:
    """initdb refuses to run as root: run the server as the postgres user there."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture
def postgres_url():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL is missing: the test command installs Debian's postgresql")
    bindir = os.path.dirname(found[-1])
    # Outside pytest's private (0700) temp folders, which the postgres user cannot enter.
    top = Path(tempfile.mkdtemp(prefix="cnnpg-pg-"))
    os.chmod(top, 0o755)
    data, sock = top / "pgdata", top / "pgsock"
    data.mkdir()
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
        shutil.chown(sock, "postgres")
    port = free_port()
    subprocess.run(as_postgres([f"{bindir}/initdb", "-D", str(data), "-U", "postgres",
                                "--auth=trust"]), check=True, capture_output=True)
    subprocess.run(as_postgres([f"{bindir}/pg_ctl", "-D", str(data), "-w", "-l",
                                str(data / "log"), "-o",
                                f"-p {port} -k {sock} -c listen_addresses=127.0.0.1", "start"]),
                   check=True, capture_output=True)
    yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    subprocess.run(as_postgres([f"{bindir}/pg_ctl", "-D", str(data), "-m", "fast", "stop"]),
                   capture_output=True)
    shutil.rmtree(top, ignore_errors=True)


def test_web_server_and_two_workers_share_postgres_and_redis(tmp_path, postgres_url, redis_url):  # noqa: F811
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
                ids = list(pool.map(lambda _: c.post("/api/jobs", json=QUICK).json()["id"],
                                    range(4)))
            jobs = [wait_for(c, job_id, ("succeeded", "failed"), timeout=240) for job_id in ids]
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
