"""Beyond one machine: PostgreSQL and Redis from Debian's packages, a web server with no
workers of its own, and two `cnn-playground worker` processes, each in its own network
namespace (`ip netns`, reaching the queue and the database over a veth pair as another
machine would over the network), or on loopback where namespaces cannot be made.

A class's jobs are shared between the two workers; one worker is killed mid-job. Every
job still ends: the killed worker's jobs fail with the reason (its heartbeat stopped), the
others finish on the other worker, which also takes what was still waiting. They fail
rather than run again elsewhere because a job can be what killed its worker (memory, say),
and a learner who reads why and presses Train again gets the same model (the same seed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import ROOT, playground_app, wait_job
from tests.services import postgres_server, redis_server

ADMIN = "topology-admin-" + "4be1c07d93a25f68e1"
JOB = {"architecture": "mnist_book", "dataset": "mnist",
       "training": {"epochs": 2, "train_samples": 1200, "batch_size": 32, "seed": 4}}


def run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=20)


@contextmanager
def namespaces(n: int) -> Iterator[list[tuple[str, str, str]] | None]:
    """`n` network namespaces, each joined to this one by a veth pair: (name, this side's
    address, its address). None where they cannot be made (not root, no `ip`)."""
    tag = os.getpid() % 10_000
    subnet = f"10.231.{os.getpid() % 250}"
    made: list[tuple[str, str, str]] = []
    try:
        for i in range(n):
            name, host, inside = f"cnnpg{tag}w{i}", f"cp{tag}h{i}", f"cp{tag}n{i}"
            run("ip", "netns", "add", name)
            made.append((name, f"{subnet}.{4 * i + 1}", f"{subnet}.{4 * i + 2}"))
            run("ip", "link", "add", host, "type", "veth", "peer", "name", inside)
            run("ip", "link", "set", inside, "netns", name)
            run("ip", "addr", "add", f"{subnet}.{4 * i + 1}/30", "dev", host)
            run("ip", "link", "set", host, "up")
            run("ip", "netns", "exec", name, "ip", "addr", "add", f"{subnet}.{4 * i + 2}/30",
                "dev", inside)
            run("ip", "netns", "exec", name, "ip", "link", "set", inside, "up")
            run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
    except (OSError, subprocess.SubprocessError):
        for name, *_ in made:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        made = []
    try:
        yield made or None
    finally:
        for i, (name, *_) in enumerate(made):
            subprocess.run(["ip", "link", "del", f"cp{tag}h{i}"], capture_output=True)
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def start_worker(i: int, tmp_path, db: str, queue: str, netns: str | None
                 ) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / f"worker{i}.log"
    prefix = ["ip", "netns", "exec", netns] if netns else []
    env = {**os.environ, "CNNPG_DATABASE_URL": db, "CNNPG_REDIS_URL": queue,
           "CNNPG_HEARTBEAT_TIMEOUT": "5", "CNNPG_DATA_DIR": str(tmp_path / f"worker{i}"),
           "CNNPG_DATASETS_DIR": str(ROOT / "tests" / "data")}
    proc = subprocess.Popen([*prefix, sys.executable, "-m", "app.cli", "worker"], cwd=ROOT,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)
    return proc, log


def wait_ready(logs: list[Path]) -> None:
    """Both workers up (known as alive) before the class presses Train: a job queued while
    only one is goes to that one, however many it already has."""
    deadline = time.monotonic() + 120
    while not all("ready: trains on" in log.read_text() for log in logs):
        assert time.monotonic() < deadline, [log.read_text()[-2000:] for log in logs]
        time.sleep(0.2)


def test_two_workers_share_a_class_and_one_is_killed_mid_job(tmp_path, record_property):
    with namespaces(2) as lan:
        record_property("network", "namespaces" if lan else "loopback")
        listen = ("127.0.0.1", *(host for _, host, _ in lan)) if lan else ("127.0.0.1",)
        trusted = tuple(f"{host}/30" for _, host, _ in lan) if lan else ()
        with postgres_server(listen, trusted) as pg, redis_server(tmp_path, listen) as rd:
            scenario(tmp_path, pg, rd, lan)


def scenario(tmp_path, pg: int, rd: int, lan: list[tuple[str, str, str]] | None) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{pg}/postgres"
    # The web server (no workers of its own) is this process's application; the workers are
    # processes, each on its own network where namespaces can be made.
    with playground_app(tmp_path / "web", database_url=url,
                        redis_url=f"redis://127.0.0.1:{rd}/0", heartbeat_timeout=5,
                        admin_token=ADMIN) as web:
        c = web.client
        workers = []
        for i in range(2):
            host = lan[i][1] if lan else "127.0.0.1"  # each reaches the host over its own link
            workers.append(start_worker(i, tmp_path, url.replace("127.0.0.1", host),
                                        f"redis://{host}:{rd}/0", lan[i][0] if lan else None))
        try:
            wait_ready([log for _, log in workers])
            code = c.post("/api/classes", json={"name": "two machines"},
                          headers={"X-Owner-Token": ADMIN}).json()["code"]
            tokens = [c.post(f"/api/classes/{code}/join", json={"nickname": f"n{i}"})
                      .json()["owner_token"] for i in range(6)]
            ids = [c.post("/api/jobs", json={**JOB, "training": {**JOB["training"], "seed": i}},
                          headers={"X-Owner-Token": t}).json()["id"] for i, t in enumerate(tokens)]
            # Both workers take some of the class's jobs, then one is killed mid-job.
            pids = {str(w.pid): w for w, _ in workers}
            deadline = time.monotonic() + 120
            while True:
                jobs = [c.get(f"/api/jobs/{j}").json() for j in ids]
                busy = {j["worker"].rsplit(":", 1)[1] for j in jobs
                        if j["status"] == "running" and j["progress"].get("batch")}
                if busy == set(pids):
                    break
                assert time.monotonic() < deadline, [(j["status"], j["worker"]) for j in jobs]
                time.sleep(0.2)
            victim, survivor = workers
            killed = str(victim[0].pid)
            os.kill(victim[0].pid, signal.SIGKILL)
            victim[0].wait(10)
            late = c.post("/api/jobs", json=JOB, headers={"X-Owner-Token": tokens[0]}).json()["id"]
            ended = [wait_job(c, j, ("succeeded", "failed", "cancelled"), timeout=240)
                     for j in [*ids, late]]
            by_worker = {j["id"]: j["worker"].rsplit(":", 1)[1] for j in ended}
            for job in ended:
                if by_worker[job["id"]] == killed:
                    assert job["status"] == "failed", job
                    assert "stopped sending heartbeats" in job["error"], job["error"]
                else:
                    assert job["status"] == "succeeded", job["error"]
                    assert c.get(f"/api/models/{job['result']['model_id']}/download"
                                 ).status_code == 200
            assert by_worker[late] == str(survivor[0].pid)
            assert {by_worker[j] for j in ids} == set(pids)  # the class's jobs were shared
            # Each job the survivor trained ran exactly once, there.
            text = survivor[1].read_text()
            for job in ended:
                if job["status"] == "succeeded":
                    assert text.count(f"job {job['id']} succeeded") == 1, text[-3000:]
            if lan is not None:  # the workers were on their own networks, not on loopback
                assert all(j["worker"] for j in ended)
        finally:
            for w, _ in workers:
                if w.poll() is None:
                    w.terminate()
            for w, _ in workers:
                w.wait(30)
