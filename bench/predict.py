"""/predict latency and throughput on a real server, in one run (DESIGN.md budget: 2×).

Median and p95 latency of POST /predict with a 280×280 PNG of a real MNIST digit,
against GET /healthz on the same server, interleaved; then throughput with 8 and 32
concurrent clients. Run: .venv/bin/python bench/predict.py [--requests N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import Server  # noqa: E402
from tests.digits_data import as_canvas_png, mnist_test  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def server_ms(response: httpx.Response) -> float:
    """The server's own time (its Server-Timing header: app;dur=N), from request to answer."""
    return float(response.headers["server-timing"].split("dur=")[1])


def latency(client: httpx.Client, n: int, png: bytes
            ) -> tuple[list[float], list[float], list[float], list[float]]:
    health, pred, health_server, pred_server = [], [], [], []
    for _ in range(20):  # warm up both
        client.get("/healthz")
        client.post("/predict", files={"file": ("d.png", png, "image/png")})
    for _ in range(n):
        t = time.perf_counter()
        r = client.get("/healthz").raise_for_status()
        health.append(time.perf_counter() - t)
        health_server.append(server_ms(r))
        t = time.perf_counter()
        r = client.post("/predict", files={"file": ("d.png", png, "image/png")}).raise_for_status()
        pred.append(time.perf_counter() - t)
        pred_server.append(server_ms(r))
    return health, pred, health_server, pred_server


def throughput(url: str, clients: int, seconds: float, pngs: list[bytes]) -> tuple[float, int]:
    done, errors = [0], [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def run(i: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as c:
            k = i
            while time.monotonic() < stop:
                r = c.post("/predict", files={"file": ("d.png", pngs[k % len(pngs)], "image/png")})
                with lock:
                    done[0] += 1
                    errors[0] += r.status_code != 200
                k += clients

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done[0] / (time.monotonic() - start), errors[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    x, _ = mnist_test()
    pngs = [as_canvas_png(d) for d in x[:64]]
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp))
        try:
            with httpx.Client(base_url=server.url, timeout=30) as client:
                health, pred, health_server, pred_server = latency(client, args.requests, pngs[0])
            mh, mp = statistics.median(health), statistics.median(pred)
            print(f"{args.requests} requests each, interleaved, one client, keep-alive")
            print(f"GET /healthz   median {mh * 1e3:6.2f} ms   p95 {percentile(health, 95) * 1e3:6.2f} ms")
            print(f"POST /predict  median {mp * 1e3:6.2f} ms   p95 {percentile(pred, 95) * 1e3:6.2f} ms"
                  f"   (280×280 PNG, {len(pngs[0])} bytes)")
            print(f"ratio of medians {mp / mh:.2f}× (budget 2×)")
            print(f"server time (Server-Timing), medians: /healthz "
                  f"{statistics.median(health_server):.2f} ms, /predict "
                  f"{statistics.median(pred_server):.2f} ms")
            for clients in (8, 32):
                rps, errors = throughput(server.url, clients, args.seconds, pngs)
                print(f"{clients:2d} concurrent clients: {rps:7.1f} predictions/s, {errors} errors")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
