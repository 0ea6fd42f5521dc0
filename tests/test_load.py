"""Load: 32 concurrent clients on /predict (3,000 requests, 8 s at least) while a job trains,
on a real server process, whose memory is measured."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from tests.conftest import Server, run_async, wait_running
from tests.digits_data import as_canvas_png, mnist_test
from tests.job_bodies import SLOW

CLIENTS = 32
SECONDS = 8
REQUESTS = 3_000
MAX_SECONDS = 150


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def hammer(url: str, pngs: list[bytes], labels, pid: int) -> dict:
    stats = {"requests": 0, "errors": [], "wrong": 0, "rss_1000": None, "rss_last": None}
    start = time.monotonic()

    async def client(i: int) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as c:
            k = i
            while True:
                elapsed = time.monotonic() - start
                if (elapsed > SECONDS and stats["requests"] >= REQUESTS) or elapsed > MAX_SECONDS:
                    return
                j = k % len(pngs)
                try:
                    r = await c.post("/predict", files={"file": ("d.png", pngs[j], "image/png")})
                    if r.status_code != 200:
                        stats["errors"].append(f"{r.status_code}: {r.text[:200]}")
                    elif r.json()["label"] != labels[j]:
                        stats["wrong"] += 1
                except httpx.HTTPError as exc:
                    stats["errors"].append(repr(exc))
                stats["requests"] += 1
                if stats["requests"] == 1_000:
                    stats["rss_1000"] = rss_kib(pid)
                elif stats["requests"] == REQUESTS:
                    stats["rss_last"] = rss_kib(pid)
                k += CLIENTS

    await asyncio.gather(*(client(i) for i in range(CLIENTS)))
    stats["seconds"] = time.monotonic() - start
    return stats


def test_32_clients_while_training(tmp_path):
    srv = Server(tmp_path, {"CNNPG_WORKERS": "1"})
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            job = c.post("/api/jobs", json=SLOW).json()["id"]
            wait_running(c, job)
            x, y = mnist_test()
            pngs = [as_canvas_png(d) for d in x[:100]]
            stats = run_async(hammer(srv.url, pngs, [int(v) for v in y[:100]], srv.proc.pid))
            assert c.get(f"/api/jobs/{job}").json()["status"] == "running"  # trained throughout
            c.post(f"/api/jobs/{job}/cancel")
        growth = stats["rss_last"] / stats["rss_1000"]
        print(f"\n{stats['requests']} requests in {stats['seconds']:.1f} s "
              f"({stats['requests'] / stats['seconds']:.0f}/s), {len(stats['errors'])} errors, "
              f"{stats['wrong']} misread; server RSS {stats['rss_1000'] / 1024:.1f} MiB after 1,000,"
              f" {stats['rss_last'] / 1024:.1f} MiB after {REQUESTS:,} ({growth:.3f}×)")
        assert stats["errors"] == []
        assert stats["requests"] >= REQUESTS and stats["seconds"] >= SECONDS
        assert growth <= 1.10
        assert stats["wrong"] <= stats["requests"] * 0.03  # the same 100 digits, read right
    finally:
        srv.stop()
