"""The README's screenshots (static/screenshots/), taken from a running server in Debian's
chromium: a desktop at 1280 pixels wide, a phone at 390×844 and a projector at 1366×800.

    .venv/bin/python -m uvicorn app.main:app --port 8765 &
    .venv/bin/python scripts/screenshots.py --base http://127.0.0.1:8765

Only the shipped model is needed (nothing trains).
"""

from __future__ import annotations

import argparse
import base64
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"


def strokes(*lines: list[tuple[int, int]]) -> str:
    """Draw's `d`: points on its 140×140 grid, 255 between strokes, in base64url."""
    data: list[int] = []
    for i, line in enumerate(lines):
        if i:
            data.append(255)
        for x, y in line:
            data += [x, y]
    return base64.urlsafe_b64encode(bytes(data)).decode().rstrip("=")


SEVEN = strokes([(45 + 7 * i, 25) for i in range(6)], [(85, 25), (75, 60), (62, 118)])
LAB = "/kernel-lab?source=sample:cat&kernel=horizontal_edge&relu=true&pool=max&cell=118,200&pool_cell=59,100"
# (file, path, viewport, projector mode)
SHOTS = [
    ("kernel-lab.png", LAB, (1280, 820), False),
    ("kernel-lab-numeric.png", "/kernel-lab?source=lesson&kernel=x_filter&relu=true&pool=max"
     "&pool_stride=1&cell=1,0", (1280, 820), False),
    ("draw.png", f"/draw?model=mnist_digits&d={SEVEN}", (1280, 900), False),
    ("builder.png", "/builder?preset=mnist_book", (1280, 900), False),
    ("draw-phone.png", f"/draw?model=mnist_digits&d={SEVEN}", (390, 844), False),
    ("kernel-lab-projector.png", LAB, (1366, 800), True),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--out", type=Path, default=ROOT / "static" / "screenshots")
    args = parser.parse_args()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        for name, path, (w, h), projector in SHOTS:
            phone = w < 600
            context = browser.new_context(viewport={"width": w, "height": h}, is_mobile=phone,
                                          has_touch=phone)
            if projector:
                context.add_init_script("localStorage.setItem('cnnpg.projector', 'on')")
            page = context.new_page()
            page.goto(args.base + path)
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(1500)  # maps drawn in the page, the analysis swapped in
            page.screenshot(path=str(args.out / name))
            print(args.out / name)
            context.close()
        browser.close()


if __name__ == "__main__":
    main()
