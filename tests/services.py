"""Databases and queues the scale-out and upgrade tests start on loopback, from Debian's
packages (the test command installs them): PostgreSQL and Redis."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import free_port

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
