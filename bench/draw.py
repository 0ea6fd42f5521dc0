"""Draw while drawing: the feature-map update the page asks for as a stroke grows
(DESIGN.md budget: at most 30 ms of server time and 100 KB per update).

A real drawn digit (an MNIST test digit rendered as the 280×280 canvas the page sends) is
posted to `POST /draw/analyze` exactly as the page posts it, interleaved with GET
/healthz on the same server; each update is timed as server time (the Server-Timing
header) and over HTTP, and its bytes counted (the HTML the page swaps in). `--breakdown`
also times the parts of one update in-process and weighs the parts of the answer.

Run: .venv/bin/python bench/draw.py [--requests N] [--breakdown]
"""

from __future__ import annotations

import argparse
import base64
import re
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

BUDGET_MS, BUDGET_BYTES = 30.0, 100_000


def server_ms(response: httpx.Response) -> float:
    return float(response.headers["server-timing"].split("dur=")[1])


def breakdown(drawing: str) -> None:
    """Where one update's time goes, in this process (the same code the route runs)."""
    import os

    import numpy as np

    os.environ.setdefault("CNNPG_DATASETS_DIR", str(ROOT / "tests" / "data"))
    from app.config import Settings
    from app.imaging.decoding import decode_data_url
    from app.imaging.map_grid import heat_overlay_url, map_grid
    from app.networks import explain, inference
    from app.networks.draw import view as draw_view
    from app.services import Services
    from app.web.routes.predict import limits_of

    settings = Settings(data_dir=Path(tempfile.mkdtemp()))
    services = Services.build(settings)
    info = services.registry.get("mnist_digits")
    ex = explain.explainer(services.models.get(info.id))
    parts: dict[str, list[float]] = {}

    def timed(name, fn, *a, **kw):
        t = time.perf_counter()
        out = fn(*a, **kw)
        parts.setdefault(name, []).append((time.perf_counter() - t) * 1000)
        return out

    for _ in range(60):
        img = timed("decode the PNG", decode_data_url, drawing, limits_of(settings))
        x = timed("prepare (read like MNIST)", inference.prepare, img, info)
        outs = timed("forward pass (every layer)", ex.forward, x)
        label = int(np.argmax(outs[ex.output_index]))
        s = timed("Grad-CAM gradients", ex.saliency, x, "gradcam", label, outputs=outs,
                  overlay=False)
        timed("heatmap PNG", heat_overlay_url, s.heatmap)
        timed("one picture per layer", lambda o=outs: [map_grid(o[n.index]) for n in ex.nodes
                                                       if n.kind.map_layer])
        timed("the whole analysis (draw_view.analyze)", draw_view.analyze, ex, x)
    for name, values in parts.items():
        print(f"  {name:40s} {statistics.median(values[10:]):7.2f} ms")


def weigh(html: str) -> None:
    """The answer's bytes by part: data URLs (images), links, and the rest."""
    images = re.findall(r'data:image/png;base64,[A-Za-z0-9+/=]+', html)
    links = re.findall(r'href="([^"]*)"', html)
    print(f"  {len(images)} PNG data URLs: {sum(map(len, images)):,} bytes; "
          f"{len(links)} links: {sum(map(len, links)):,} bytes; "
          f"the rest: {len(html) - sum(map(len, images)) - sum(map(len, links)):,} bytes")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--breakdown", action="store_true")
    args = parser.parse_args()
    x, _ = mnist_test()
    drawing = "data:image/png;base64," + base64.b64encode(as_canvas_png(x[0])).decode()
    form = {"image": drawing, "model": "mnist_digits"}
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp))
        try:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                for _ in range(10):  # warm up: the model, its explainer, the code paths
                    client.get("/healthz")
                    client.post("/draw/analyze", data=form).raise_for_status()
                http: dict[str, list[float]] = {"healthz": [], "update": []}
                srv: dict[str, list[float]] = {"healthz": [], "update": []}
                sizes: list[int] = []
                html = ""
                for _ in range(args.requests):
                    t = time.perf_counter()
                    r = client.get("/healthz")
                    http["healthz"].append((time.perf_counter() - t) * 1000)
                    srv["healthz"].append(server_ms(r))
                    t = time.perf_counter()
                    r = client.post("/draw/analyze", data=form)
                    r.raise_for_status()
                    http["update"].append((time.perf_counter() - t) * 1000)
                    srv["update"].append(server_ms(r))
                    sizes.append(len(r.content))
                    html = r.text
        finally:
            server.stop()
    print(f"{args.requests} updates, interleaved with /healthz, one client, keep-alive; shipped "
          "model, a drawn digit (280×280 PNG as a data URL, as the page sends it)")
    for name in http:
        s = sorted(srv[name])
        print(f"{name:8s} server median {statistics.median(s):6.2f} ms (p95 "
              f"{s[int(0.95 * len(s)) - 1]:6.2f}), HTTP median {statistics.median(http[name]):6.2f} ms")
    update_ms = statistics.median(srv["update"])
    size = statistics.median(sizes)
    print(f"update: {update_ms:.1f} ms of server time (budget {BUDGET_MS:.0f}: "
          f"{'ok' if update_ms <= BUDGET_MS else 'OVER'}), {size:,.0f} bytes (budget "
          f"{BUDGET_BYTES:,}: {'ok' if size <= BUDGET_BYTES else 'OVER'})")
    weigh(html)
    if args.breakdown:
        print("in-process, median of 50:")
        breakdown(drawing)


if __name__ == "__main__":
    main()
