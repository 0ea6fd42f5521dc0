"""The README's screenshot of a sweep (static/screenshots/sweep.png), made as a learner makes
one, in Debian's chromium against a running server with a worker: the book's MNIST model in
the Model Builder, "Sweep…", three learning rates × two batch sizes (2,000 images, 2 epochs
each), then the sweep's page once every run has trained.

    CNNPG_DATASETS_DIR=../shared/data CNNPG_VISITOR_JOBS=12 \
        .venv/bin/python -m uvicorn app.main:app --port 8765 &
    .venv/bin/python scripts/sweep_screenshot.py --base http://127.0.0.1:8765

About a minute on two cores. A visitor (no class) may have CNNPG_VISITOR_JOBS jobs waiting or
training, 4 by default: six runs need it raised (or a class member's token).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--out", type=Path, default=ROOT / "static" / "screenshots" / "sweep.png")
    args = parser.parse_args()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(args.base + "/builder?preset=mnist_book")
        page.fill("input[name=epochs]", "2")
        page.fill("input[name=train_samples]", "2000")
        page.fill("input[name=seed]", "1")
        page.click("#sweep")
        page.wait_for_url(re.compile(r"/sweeps/new\?"))
        page.fill("#values0", "0.001, 0.01, 0.1")
        page.select_option("#setting1", "training.batch_size")
        page.fill("#values1", "32, 128")
        page.wait_for_selector("#sweep-runs-count:has-text('6 runs')")
        page.click("#sweep-start")
        page.wait_for_url(re.compile(r"/sweeps/[0-9a-f]{12}$"))
        page.wait_for_selector("#sweep-panel[data-status=finished]", timeout=600_000)
        page.click("button.sort[data-key=accuracy]")  # the best run first
        page.mouse.move(0, 0)
        page.evaluate("() => window.scrollTo(0, document.querySelector('h1').offsetTop - 8)")
        page.screenshot(path=str(args.out))
        print(args.out, page.url)
        browser.close()


if __name__ == "__main__":
    main()
