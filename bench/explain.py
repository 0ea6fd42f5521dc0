"""Explanations on the shipped model with a drawn digit, in one run against /healthz
(DESIGN.md budgets: the overview at most 50 ms, one neuron at most 20 ms, Grad-CAM at most
100 ms of server time); then on MobileNetV2 at 96×96 (keras.applications, random weights,
uploaded as a user would): the upload checked and loaded (budget 3 s), the Explain page's
overview of its graph (blocks closed; budget 150 ms), the API's overview with every channel
of every layer (no budget: 40 MB of images), one neuron (50 ms) and Grad-CAM (200 ms).

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


REAL_BUDGETS = {"page overview": 150.0, "neuron": 50.0, "gradcam": 200.0}


def timed(client: httpx.Client, method: str, path: str, n: int, **kwargs: object) -> list[float]:
    out = []
    for _ in range(n):
        r = client.request(method, path, **kwargs)  # type: ignore[arg-type]
        r.raise_for_status()
        out.append(server_ms(r))
    return out


def real_model(requests: int) -> None:
    """MobileNetV2 at 96×96, uploaded, explained."""
    import io

    import keras
    from PIL import Image

    keras.utils.set_random_seed(1)
    model = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), classes=10)
    photo = io.BytesIO()
    Image.open(ROOT / "static" / "samples" / "cat.png").convert("RGB").resize((96, 96)).save(
        photo, format="PNG")
    image = "data:image/png;base64," + base64.b64encode(photo.getvalue()).decode()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "MobileNetV2.keras"
        model.save(path)
        server = Server(Path(tmp) / "data")
        try:
            with httpx.Client(base_url=server.url, timeout=300) as client:
                client.post("/predict", json={"pixels": [[0] * 28] * 28})  # TensorFlow in
                uploads = []
                for _ in range(3):  # the first is the server's first Keras load of this kind
                    r = client.post("/api/models", data={"input_range": "-1-1"}, files={
                        "file": ("MobileNetV2.keras", path.read_bytes(), "application/octet-stream")})
                    r.raise_for_status()
                    uploads.append(server_ms(r))
                model_id = r.json()["id"]
                form = {"model": model_id, "source": "upload", "image": image}
                body = {"input": {"image": image}}
                neuron = {**body, "layer": "block_3_depthwise", "channel": 7, "cell": [5, 6]}
                for _ in range(3):  # the model loads, its explainer traces
                    client.post("/explain/overview", data=form).raise_for_status()
                    client.post(f"/api/models/{model_id}/neuron", json=neuron).raise_for_status()
                    client.post(f"/api/models/{model_id}/saliency", json=body).raise_for_status()
                results = {
                    "page overview": timed(client, "POST", "/explain/overview", requests, data=form),
                    "API overview": timed(client, "POST", f"/api/models/{model_id}/explain",
                                          max(3, requests // 20), json=body),
                    "neuron": timed(client, "POST", f"/api/models/{model_id}/neuron", requests,
                                    json=neuron),
                    "gradcam": timed(client, "POST", f"/api/models/{model_id}/saliency", requests,
                                     json=body),
                }
        finally:
            server.stop()
    print(f"\nMobileNetV2 at 96×96 ({model.count_params():,} parameters, "
          f"{len(model.layers)} layers), a photo; server time")
    upload = statistics.median(uploads[1:])
    print(f"{'upload checked and loaded':28s} {upload / 1000:8.2f} s    budget 3 s "
          f"{'✓' if upload <= 3000 else '✗'} (the server's first: {uploads[0] / 1000:.2f} s)")
    for name, values in results.items():
        med = statistics.median(values)
        budget = REAL_BUDGETS.get(name)
        verdict = f"budget {budget:.0f} ms {'✓' if med <= budget else '✗'}" if budget else ""
        print(f"{name:28s} {med:8.1f} ms (p95 {sorted(values)[int(0.95 * len(values)) - 1]:.1f}) "
              f"{verdict}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--only", choices=["shipped", "real"], default=None)
    args = parser.parse_args()
    if args.only != "shipped":
        real_model(max(20, args.requests // 4))
    if args.only == "real":
        return
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
