"""What each channel looks for, on the shipped model (DESIGN.md and issue 17 budgets, on this
2-core machine): one channel's examples over MNIST's 10,000 test images at most 2 s the
first time and 50 ms after; one visualization at most 3 s; an embedding of 2,000 images at
most 10 s; PGD on one image at most 1 s; occlusion at most 500 ms.

Server time (the Server-Timing header: from the request's arrival to its response) of a
fresh `uvicorn app.main:app` with no worker. "first" is a request that computes (the layer's
pass over the test split, a visualization, a map); "cached" the same kind of request once
its layer is done. Needs the full MNIST: run it with the datasets directory of ../shared/data:

    CNNPG_DATASETS_DIR=/work/shared/data .venv/bin/python bench/insight.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import Server  # noqa: E402

MODEL = "/api/models/mnist_digits"
BUDGETS = {**{f"examples, first, {layer}": 2000.0 for layer in ("conv1", "conv2", "conv3", "conv4")},
           "examples, cached": 50.0,
           "visualization": 3000.0, "embedding of 2,000, first": 10000.0, "PGD, one image": 1000.0,
           "occlusion": 500.0}


CPU: dict[str, list[float]] = {}  # the server process's CPU time per request, ms
_pid = 0


def cpu_seconds() -> float:
    """The server process's user + system CPU time so far (/proc: Linux)."""
    fields = Path(f"/proc/{_pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class timed:
    """A request's server time (Server-Timing) and the CPU time the server spent on it: on a
    busy machine the first grows with the load, the second hardly."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> timed:
        self.start = cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        CPU.setdefault(self.what, []).append((cpu_seconds() - self.start) * 1000)


def server_ms(r: httpx.Response) -> float:
    r.raise_for_status()
    return float(r.headers["server-timing"].split("dur=")[1])


def measure(what: str, send: Callable[[], httpx.Response]) -> float:
    with timed(what):
        return server_ms(send())


def main() -> None:
    datasets = os.environ.get("CNNPG_DATASETS_DIR") or str(ROOT.parent / "shared" / "data")
    if not (Path(datasets) / "mnist.npz").is_file():
        sys.exit(f"no mnist.npz in {datasets}: set CNNPG_DATASETS_DIR to the full datasets")
    found: dict[str, list[float]] = {}
    load = f"{os.getloadavg()[0]:.1f}"
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp) / "data", {"CNNPG_DATASETS_DIR": datasets})
        global _pid
        _pid = server.proc.pid
        try:
            with httpx.Client(base_url=server.url, timeout=300) as c:
                deadline = time.monotonic() + 120  # the start-up loads the model
                while c.get(f"{MODEL}/layers/conv1/channels/0/visualization").status_code != 200:
                    if time.monotonic() > deadline:
                        sys.exit("the model did not load")
                    time.sleep(0.5)
                c.post(f"{MODEL}/explain", json={"input": {"test_index": 0}})  # loads MNIST
                for layer in ("conv1", "conv2", "conv3", "conv4"):  # each layer's pass, once
                    what = f"examples, first, {layer}"
                    found[what] = [measure(what, lambda layer=layer: c.get(
                        f"{MODEL}/layers/{layer}/channels/0/examples"))]
                found["examples, cached"] = [measure("examples, cached", lambda ch=ch: c.get(
                    f"{MODEL}/layers/conv4/channels/{ch}/examples")) for ch in range(1, 31)]
                found["visualization"] = [measure("visualization", lambda q=q: c.get(
                    f"{MODEL}/layers/{q[0]}/channels/{q[1]}/visualization"))
                    for q in (("conv2", 3), ("conv3", 2), ("conv4", 5), ("conv4", 12))]
                found["embedding of 2,000, first"] = [measure("embedding of 2,000, first",
                                                              lambda: c.post(f"{MODEL}/embedding",
                                                                             json={"count": 2000}))]
                pgd = {"input": {"test_index": 0}, "epsilon": 0.1, "method": "pgd"}
                server_ms(c.post(f"{MODEL}/adversarial", json=pgd))  # its function is traced once
                found["PGD, one image"] = [measure("PGD, one image", lambda i=i: c.post(
                    f"{MODEL}/adversarial", json={**pgd, "input": {"test_index": i}}))
                    for i in range(1, 11)]
                occlusion = {"input": {"test_index": 0}, "method": "occlusion"}
                server_ms(c.post(f"{MODEL}/saliency", json=occlusion))
                found["occlusion"] = [measure("occlusion", lambda i=i: c.post(
                    f"{MODEL}/saliency", json={**occlusion, "input": {"test_index": i}}))
                    for i in range(1, 21)]
        finally:
            server.stop()
    print(f"load average before and after: {load}, {os.getloadavg()[0]:.1f} (2 cores)")
    print(f"{'what':28} {'median ms':>10} {'max ms':>9} {'CPU ms':>8} {'budget ms':>10}  ok")
    for what, times in found.items():
        median, worst = statistics.median(times), max(times)
        budget = BUDGETS[what]
        print(f"{what:28} {median:10.1f} {worst:9.1f} {statistics.median(CPU[what]):8.0f} "
              f"{budget:10.0f}  {'yes' if median <= budget else 'NO'}")
    print("CPU ms: the server process's CPU time (both cores) for the request. examples, first: "
          "one layer's pass over the 10,000 test images (MNIST already loaded); visualization: conv2 "
          "channel 3, conv3 channel 2, conv4 channels 5 and 12; PGD: 40 steps, test images "
          "1–10; occlusion: 7-pixel patch, stride 2 (144 placements), test images 1–20.")


if __name__ == "__main__":
    main()
