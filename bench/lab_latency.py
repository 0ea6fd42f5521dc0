"""The Kernel Lab in Chromium: from a change to the new maps on screen, and the webcam's
frame rate (DESIGN.md budgets: at most 100 ms per change, for the cat and a 1024×1024
upload, grayscale or per channel; the webcam at 10 frames per second or more at 320×240).

Each change is timed inside the page: from the moment the control changes (the input
and change events) until the frame after the new maps are drawn has been painted
(requestAnimationFrame, then a task). The upload is sent once; the bytes the page sends
for the changes after it are counted too (they should be none). The webcam is
Chromium's fake camera; its frames are counted in the page over a few seconds.

Run: .venv/bin/python bench/lab_latency.py [--repeat N] [--seconds S]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import CHROMIUM, COUNT_SENT_BYTES, Server, sent_bytes, wait_until  # noqa: E402

# Change a control the way a person does, then wait until the result has been painted.
CHANGE = """async ([selector, value]) => {
  const el = document.querySelector(selector);
  const done = new Promise(r => document.addEventListener("cnnpg:rendered", r, {once: true}));
  const t0 = performance.now();
  if (el.type === "checkbox") el.checked = value === "on"; else el.value = value;
  el.dispatchEvent(new Event("input", {bubbles: true}));
  el.dispatchEvent(new Event("change", {bubbles: true}));
  await done;
  await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
  return performance.now() - t0;
}"""

FRAMES = """async (seconds) => {
  const lab = window.cnnpgLab;
  const f0 = lab.frames, t0 = performance.now();
  await new Promise(r => setTimeout(r, seconds * 1000));
  return (lab.frames - f0) / ((performance.now() - t0) / 1000);
}"""


def photo_png(side: int = 1024) -> bytes:
    """The astronaut photograph (public domain), at side × side."""
    img = Image.open(ROOT / "static" / "samples" / "astronaut.png").convert("RGB")
    buf = io.BytesIO()
    img.resize((side, side), Image.Resampling.LANCZOS).save(buf, "PNG")
    return buf.getvalue()


def changes(page, repeat: int) -> list[float]:
    """Alternate the kernel, the ReLU box and the stride: what a teacher clicks."""
    steps = [("#kernel", "vertical_edge"), ("#kernel", "horizontal_edge"),
             ("input[name=relu]", "off"), ("input[name=relu]", "on"),
             ("input[name=stride]", "2"), ("input[name=stride]", "1")]
    page.evaluate(CHANGE, list(steps[-1]))  # warm up
    times, compute, draw = [], [], []
    for i in range(repeat):
        times.append(page.evaluate(CHANGE, list(steps[i % len(steps)])))
        timing = page.evaluate("() => window.cnnpgLab.timing")
        compute.append(timing["compute"])
        draw.append(timing["draw"])
    print(f"    (of which the maths {statistics.median(compute):.1f} ms and drawing "
          f"{statistics.median(draw):.1f} ms, medians)")
    return times


def report(label: str, times: list[float], sent: int | None = None) -> None:
    p90 = sorted(times)[min(len(times) - 1, round(0.9 * (len(times) - 1)))]
    extra = "" if sent is None else f"   bytes sent by the changes {sent}"
    print(f"{label:<34} median {statistics.median(times):6.1f} ms   p90 {p90:6.1f} ms   "
          f"max {max(times):6.1f} ms (budget 100){extra}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "photo-1024.png"
        photo.write_bytes(photo_png())
        server = Server(Path(tmp) / "data")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                    "--no-sandbox", "--use-fake-device-for-media-stream",
                    "--use-fake-ui-for-media-stream"])
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.add_init_script(COUNT_SENT_BYTES)  # bytes of every request body sent

                def sent() -> int:
                    return sum(r["bytes"] for r in sent_bytes(page))

                page.goto(f"{server.url}/kernel-lab?source=sample:cat&kernel=horizontal_edge"
                          "&relu=true&pool=max")
                wait_until(page, "window.cnnpgLab && window.cnnpgLab.renders > 0")
                report("cat, grayscale", changes(page, args.repeat))

                page.select_option("select[name=source]", "upload")
                with page.expect_response("**/kernel-lab/uploads"):
                    page.set_input_files("#file", str(photo))
                wait_until(page, "document.querySelector('#lab-output canvas') && "
                           "JSON.parse(document.querySelector('#lab-output').dataset.shapes)"
                           ".input[0] === 1024")
                before = sent()
                print(f"upload: {photo.stat().st_size} bytes PNG, {before} bytes sent once")
                report("1024×1024 upload, grayscale", changes(page, args.repeat), sent() - before)
                page.evaluate(CHANGE, ["select[name=channels]", "per_channel"])
                before = sent()
                report("1024×1024 upload, per channel", changes(page, args.repeat), sent() - before)

                page.goto(f"{server.url}/kernel-lab?source=webcam&kernel=horizontal_edge"
                          "&relu=true&pool=max")
                wait_until(page, "window.cnnpgLab.frames > 5")
                fps = page.evaluate(FRAMES, args.seconds)
                print(f"webcam, 320×240 grayscale, fake camera: {fps:.1f} frames per second "
                      "(budget 10 or more)")
                page.select_option("select[name=channels]", "per_channel")
                fps = page.evaluate(FRAMES, args.seconds)
                print(f"webcam, 320×240 per channel, fake camera: {fps:.1f} frames per second")
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
