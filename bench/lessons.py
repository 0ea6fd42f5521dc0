"""Each lesson's model, trained with that lesson's own settings, through the job system.

For every preset in app/networks/presets.py (the lessons' models), a real server with one
worker trains a job with the preset's architecture, dataset and training settings (the
optimizer, learning rate, batch size, epochs and validation split the lesson used) on the
full dataset, with a fixed seed, and this prints a table: the lesson, the accuracy it
reports, the accuracy measured here, the difference, and the time. The measured accuracy
should be within 0.5 point of the lesson's.

Run (the full datasets, as the lessons used them; about half an hour on two CPU cores):

    CNNPG_DATASETS_DIR=../shared/data .venv/bin/python bench/lessons.py

A quick check that it runs: `--train-samples 2000 --presets mnist_book`. `--markdown`
prints the table as the README shows it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from app.networks.presets import PRESETS  # noqa: E402
from tests.conftest import Server  # noqa: E402

TOLERANCE = 0.5  # percentage points


def default_datasets_dir() -> str | None:
    if os.environ.get("CNNPG_DATASETS_DIR"):
        return os.environ["CNNPG_DATASETS_DIR"]
    shared = ROOT.parent / "shared" / "data"
    return str(shared) if shared.is_dir() else None


def wait(client: httpx.Client, job_id: str, label: str) -> dict:
    last = 0.0
    while True:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] not in ("queued", "running"):
            return job
        if time.monotonic() - last > 15:
            last = time.monotonic()
            p = job["progress"]
            eta = p.get("eta_seconds")
            where = (f"epoch {p.get('epoch')}/{p.get('epochs')}, batch {p.get('batch')}/"
                     f"{p.get('batches')}, about {'?' if eta is None else eta} s left"
                     if job["status"] == "running" else "queued")
            print(f"  {label}: {where}", file=sys.stderr, flush=True)
        time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets-dir", default=default_datasets_dir(),
                        help="dataset files (default: CNNPG_DATASETS_DIR, else ../shared/data)")
    parser.add_argument("--presets", nargs="*", default=[p.name for p in PRESETS],
                        help="which lesson models (default: all)")
    parser.add_argument("--train-samples", type=int, default=None,
                        help="only the first N training images (a quick check, not the lesson)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--markdown", action="store_true", help="print the README's table")
    args = parser.parse_args()
    presets = [p for p in PRESETS if p.name in args.presets]
    unknown = set(args.presets) - {p.name for p in presets}
    if unknown:
        parser.error(f"unknown presets {sorted(unknown)}; choose from "
                     f"{', '.join(p.name for p in PRESETS)}")

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        # No datasets directory: an empty one, so that keras.datasets downloads.
        datasets = args.datasets_dir or str(Path(tmp) / "no-datasets")
        server = Server(Path(tmp) / "data", {"CNNPG_WORKERS": "1", "CNNPG_DATASETS_DIR": datasets})
        try:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                for preset in presets:
                    training = {**preset.training, "seed": args.seed}
                    if args.train_samples:
                        training["train_samples"] = args.train_samples
                    r = client.post("/api/jobs", json={
                        "architecture": preset.name, "dataset": preset.dataset,
                        "training": training, "name": f"lesson-{preset.name}"})
                    r.raise_for_status()
                    job_id = r.json()["id"]
                    print(f"{preset.name}: job {job_id}, {training}", file=sys.stderr, flush=True)
                    start = time.monotonic()
                    job = wait(client, job_id, preset.name)
                    if job["status"] != "succeeded":
                        raise SystemExit(f"{preset.name}: job {job_id} {job['status']}: "
                                         f"{job['error']}")
                    rows.append((preset, training, job["result"], time.monotonic() - start))
        finally:
            server.stop()

    header = ("lesson", "model", "epochs", "reported", "measured", "difference", "fit", "job")
    lines = []
    for preset, training, result, total in rows:
        measured = result["test_accuracy"] * 100
        reported = preset.reported_test_accuracy
        if reported is None:
            diff = "— (the lesson reports none)"
        else:
            d = measured - reported * 100
            diff = f"{d:+.2f} ({'within' if abs(d) <= TOLERANCE else 'NOT within'} {TOLERANCE})"
        lines.append((preset.lesson, preset.name, str(training["epochs"]),
                      f"{reported * 100:.2f}%" if reported is not None else "—",
                      f"{measured:.2f}%", diff, f"{result['train_seconds']:.0f} s",
                      f"{total:.0f} s"))
    note = (f"seed {args.seed}; " + (f"first {args.train_samples} training images only: NOT the "
            "lessons' settings" if args.train_samples else "all training images, as the "
            "lessons trained") + f"; datasets from {args.datasets_dir or 'keras.datasets'}")
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + " --- |" * len(header))
        for line in lines:
            print("| " + " | ".join(line) + " |")
        print(f"\n{note}")
        return
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    for line in (header, *lines):
        print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)))
    print(note)


if __name__ == "__main__":
    main()
