"""Databases and queues the scale-out and upgrade tests start on loopback, from Debian's
packages (the test command installs them): PostgreSQL and Redis."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import free_port

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"


@contextmanager
def redis_server(folder: Path, bind: tuple[str, ...] = ("127.0.0.1",)) -> Iterator[int]:
    """A Redis listening on these addresses (only loopback, unless told): its port."""
    if not os.path.exists(REDIS):
        pytest.fail("redis-server is missing: the test command installs Debian's redis-server")
    port = free_port()
    proc = subprocess.Popen([REDIS, "--port", str(port), "--bind", *bind, "--save", "",
                             "--appendonly", "no", "--dir", str(folder),
                             "--protected-mode", "no" if len(bind) > 1 else "yes"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    import redis

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if redis.Redis.from_url(f"redis://127.0.0.1:{port}/0").ping():
                break
        except redis.ConnectionError:
            time.sleep(0.1)
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def redis_url(tmp_path):
    with redis_server(tmp_path) as port:
        yield f"redis://127.0.0.1:{port}/0"


def as_postgres(cmd: list[str]) -> list[str]:
    """initdb refuses to run as root: run the server as the postgres user there."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextmanager
def postgres_server(listen: tuple[str, ...] = ("127.0.0.1",), trusted: tuple[str, ...] = ()
                    ) -> Iterator[int]:
    """A PostgreSQL listening on these addresses, trusting loopback and the `trusted`
    networks (CIDR): its port."""
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
    if trusted:
        with (data / "pg_hba.conf").open("a") as hba:
            hba.writelines(f"host all all {net} trust\n" for net in trusted)
    subprocess.run(as_postgres([f"{bindir}/pg_ctl", "-D", str(data), "-w", "-l",
                                str(data / "log"), "-o",
                                f"-p {port} -k {sock} -c listen_addresses={','.join(listen)}",
                                "start"]), check=True, capture_output=True)
    try:
        yield port
    finally:
        subprocess.run(as_postgres([f"{bindir}/pg_ctl", "-D", str(data), "-m", "fast", "stop"]),
                       capture_output=True)
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def postgres_url():
    with postgres_server() as port:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
