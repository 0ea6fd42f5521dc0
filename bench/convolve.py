"""Kernel Lab speed against OpenCV, in one run (DESIGN.md budgets: 2× and 3×).

1. The convolution step: app.convolution.correlate on a 1024×1024 RGB photo with a
   3×3 kernel, against cv2.filter2D on the same float32 array.
2. The whole upload round trip over HTTP to a real server (decode, convolve, ReLU,
   2×2 max pool, encode the result images), against OpenCV decoding, filtering and
   PNG-encoding the same file in-process.

Prints medians and ratios. Run: .venv/bin/python bench/convolve.py [--repeat N]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.lab.convolution import correlate, resolve_kernel  # noqa: E402
from tests.conftest import Server  # noqa: E402


def photo_png(side: int = 1024) -> bytes:
    """The astronaut photograph (public domain), at side × side."""
    img = Image.open(ROOT / "static" / "samples" / "astronaut.png").convert("RGB")
    buf = io.BytesIO()
    img.resize((side, side), Image.Resampling.LANCZOS).save(buf, "PNG")
    return buf.getvalue()


def timed(fn, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def interleaved(a, b, repeat: int) -> tuple[float, float]:
    """Medians of a and b, alternated so that machine noise hits both alike."""
    ta, tb = [], []
    a(), b()  # warm up
    for _ in range(repeat):
        ta += timed(a, 1)
        tb += timed(b, 1)
    return statistics.median(ta), statistics.median(tb)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    png = photo_png()
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float32)
    kernel = resolve_kernel("horizontal_edge", 15)
    print(f"photo: {rgb.shape[1]}×{rgb.shape[0]} RGB, {len(png)} bytes PNG; kernel 3×3; "
          f"{args.repeat} runs each, interleaved")

    ours, cv = interleaved(
        lambda: correlate(rgb, kernel, 1, "valid"),
        lambda: cv2.filter2D(rgb, cv2.CV_32F, kernel, borderType=cv2.BORDER_CONSTANT),
        args.repeat,
    )
    print(f"convolution step  ours {ours * 1e3:7.2f} ms   cv2.filter2D {cv * 1e3:7.2f} ms   "
          f"ratio {ours / cv:.2f}× (budget 2×)")

    def opencv_round_trip() -> bytes:
        img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
        out = cv2.filter2D(img, cv2.CV_32F, kernel)
        _ok, enc = cv2.imencode(".png", np.clip(out, 0, 255).astype(np.uint8))
        return enc.tobytes()

    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp))
        try:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                for channels in ("per_channel", "gray"):
                    form = {"source": "upload", "kernel": "horizontal_edge", "relu": "on",
                            "pool": "max", "pool_size": "2", "pool_stride": "2",
                            "channels": channels}

                    def http_round_trip(form=form) -> None:
                        r = client.post("/api/convolve", data=form,
                                        files={"file": ("photo.png", png, "image/png")})
                        r.raise_for_status()
                        assert r.json()["images"]["pooled"]

                    http, ocv = interleaved(http_round_trip, opencv_round_trip, args.repeat)
                    print(f"upload round trip ({channels:11s}) HTTP {http * 1e3:7.1f} ms   "
                          f"OpenCV in-process {ocv * 1e3:7.1f} ms   ratio {http / ocv:.2f}× "
                          "(budget 3×)")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
