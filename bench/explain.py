"""Explanations on the shipped model with a drawn digit, in one run against /healthz
(DESIGN.md budgets: the overview at most 50 ms, one neuron at most 20 ms, Grad-CAM at most
100 ms of server time).

Each request is timed twice: server time (the Server-Timing header: from the request's
arrival to its response) and over HTTP (one client, keep-alive), interleaved with GET
/healthz on the same server. Run: .venv/bin/python bench/explain.py [--requests N]
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import Server  # noqa: E402
from tests.digits_data import as_canvas_png, mnist_test  # noqa: E402

BUDGETS = {"overview": 50.0, "neuron": 20.0, "gradcam": 100.0}


def server_ms(response: httpx.Response) -> float:
    timing = response.headers["server-timing"]  # app;dur=12.34
    return float(timing.split("dur=")[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    x, _ = mnist_test()
    drawing = "data:image/png;base64," + base64.b64encode(as_canvas_png(x[0])).decode()
    source = {"input": {"image": drawing}}
    asks = {
        "overview": ("/api/models/mnist_digits/explain", source),
        "neuron": ("/api/models/mnist_digits/neuron",
                   {**source, "layer": "conv2", "channel": 5, "cell": [12, 12]}),
        "gradcam": ("/api/models/mnist_digits/saliency", {**source, "method": "gradcam"}),
    }
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp))
        try:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                for _ in range(10):  # warm up: the model, its explainer, the code paths
                    client.get("/healthz")
                    for path, body in asks.values():
                        client.post(path, json=body).raise_for_status()
                http: dict[str, list[float]] = {k: [] for k in ["healthz", *asks]}
                srv: dict[str, list[float]] = {k: [] for k in ["healthz", *asks]}
                for _ in range(args.requests):
                    t = time.perf_counter()
                    r = client.get("/healthz")
                    http["healthz"].append((time.perf_counter() - t) * 1000)
                    srv["healthz"].append(server_ms(r))
                    for name, (path, body) in asks.items():
                        t = time.perf_counter()
                        r = client.post(path, json=body)
                        r.raise_for_status()
                        http[name].append((time.perf_counter() - t) * 1000)
                        srv[name].append(server_ms(r))
        finally:
            server.stop()
    print(f"{args.requests} requests each, interleaved, one client, keep-alive; shipped model, "
          "a drawn digit (280×280 PNG as a data URL)")
    health = statistics.median(http["healthz"])
    print(f"{'':10s} {'server median':>14s} {'p95':>8s} {'HTTP median':>12s} {'vs healthz':>11s} budget")
    for name in http:
        s_med = statistics.median(srv[name])
        s_p95 = sorted(srv[name])[int(0.95 * len(srv[name])) - 1]
        h_med = statistics.median(http[name])
        budget = BUDGETS.get(name)
        verdict = "" if budget is None else f"{budget:.0f} ms {'ok' if s_med <= budget else 'OVER'}"
        print(f"{name:10s} {s_med:11.2f} ms {s_p95:5.2f} ms {h_med:9.2f} ms "
              f"{h_med / health:10.1f}× {verdict}")


if __name__ == "__main__":
    main()
