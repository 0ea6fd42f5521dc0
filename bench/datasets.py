"""Dataset ingestion speed, in one run (DESIGN.md budget: within 1.5× of a plain Pillow loop).

A zip of N JPEG photos (default 5,000), made from the CIFAR-10 slice in tests/data upscaled
to photo sizes (160 to 320 pixels a side, some 4:3, flipped and shifted so no two are the
same file), one folder per class, is ingested at 32×32 RGB exactly as the server does it
(`app.datasets.ingestion.ingest`: the checks on the zip, decoding, centre crop and resize,
the split, the compressed arrays written to a SQLite database), against decoding and
resizing the same files with Pillow in a plain loop (`Image.open(path).convert("RGB")
.resize((32, 32))`, files read from disk). Then, for the record, the same zip uploaded to a
real server (`POST /api/datasets`, until its 201), which adds the transfer and starting the
ingestion's process.

Run: .venv/bin/python bench/datasets.py [--images 5000] [--repeat 3] [--no-http]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import httpx
import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.config import Settings  # noqa: E402
from app.datasets.ingestion import ingest  # noqa: E402
from app.datasets.store import DatasetStore  # noqa: E402
from app.datasets.uploads.options import DatasetOptions, UploadLimits  # noqa: E402
from app.datasets.uploads.zip_checks import inspect_zip  # noqa: E402
from app.storage import migrate  # noqa: E402
from app.storage.database import Database, database_url  # noqa: E402
from tests.conftest import Server  # noqa: E402

CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                 "ship", "truck")


def make_photos(n: int, folder: Path) -> list[Path]:
    """N JPEG files, class folders under `folder`, from the CIFAR-10 slice upscaled."""
    with np.load(ROOT / "tests" / "data" / "cifar10.npz") as f:
        x = np.concatenate([f["x_train"], f["x_test"]])
        y = np.concatenate([f["y_train"], f["y_test"]]).reshape(-1)
    rng = np.random.default_rng(0)
    paths = []
    for k in range(n):
        i = k % len(x)
        img = Image.fromarray(x[i])
        if rng.random() < 0.5:
            img = ImageOps.mirror(img)
        side = int(rng.integers(160, 321))
        size = (side, side * 3 // 4) if rng.random() < 0.3 else (side, side)
        dx, dy = rng.integers(-2, 3, size=2)
        img = img.transform(img.size, Image.Transform.AFFINE, (1, 0, int(dx), 0, 1, int(dy)),
                            fillcolor=tuple(int(c) for c in x[i][0, 0]))
        photo = img.resize(size, Image.Resampling.BICUBIC)
        path = folder / CIFAR_CLASSES[int(y[i])] / f"{k:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        photo.save(path, "JPEG", quality=90)
        paths.append(path)
    return paths


def make_zip(paths: list[Path], folder: Path, out: Path) -> None:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:  # as file managers make them
        for p in paths:
            zf.write(p, p.relative_to(folder).as_posix())


def plain_loop(paths: list[Path]) -> float:
    start = time.perf_counter()
    out = np.empty((len(paths), 32, 32, 3), np.uint8)
    for i, p in enumerate(paths):
        out[i] = np.asarray(Image.open(p).convert("RGB").resize((32, 32)))
    return time.perf_counter() - start


def ingestion(zip_path: Path, settings: Settings, store: DatasetStore, n: int) -> float:
    limits = UploadLimits.of(settings)
    options = DatasetOptions(image_size=32, color="rgb")
    start = time.perf_counter()
    plan = inspect_zip(zip_path, limits, options)  # what the web server checks first
    row = store.create(name="bench", owner=None, source="zip", options=options,
                       class_names=plan.class_names, counts=plan.counts())
    ingest(store, row.id, zip_path, limits)  # what the ingestion's process does
    seconds = time.perf_counter() - start
    done = store.row(row.id)
    assert done is not None and done.status == "ready", done and done.error
    assert sum(done.train_counts) + sum(done.test_counts) == n
    store.delete(row.id)
    return seconds


def over_http(zip_path: Path, tmp: Path) -> float:
    server = Server(tmp / "server", {"CNNPG_MAX_DATASET_IMAGES": "100000"})
    try:
        with httpx.Client(base_url=server.url, timeout=600) as c:
            start = time.perf_counter()
            with zip_path.open("rb") as f:
                r = c.post("/api/datasets", data={"name": "bench"},
                           files={"file": ("photos.zip", f, "application/zip")})
            seconds = time.perf_counter() - start
            r.raise_for_status()
            return seconds
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-http", action="store_true", help="skip the upload to a server")
    args = parser.parse_args()
    n = args.images
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        photos = tmp / "photos"
        t = time.perf_counter()
        paths = make_photos(n, photos)
        zip_path = tmp / "photos.zip"
        make_zip(paths, photos, zip_path)
        mib = zip_path.stat().st_size / 2**20
        print(f"{n} JPEG photos, 160–320 px a side, {len(CIFAR_CLASSES)} classes: a {mib:.1f} MiB "
              f"zip (made in {time.perf_counter() - t:.1f} s)")
        settings = Settings(data_dir=tmp / "data", max_dataset_images=max(n, 10_000))
        settings.data_dir.mkdir()
        migrate.upgrade(database_url(settings))
        database = Database(settings)
        store = DatasetStore(database)
        plain_loop(paths[:200])  # warm the page cache and Pillow
        loops, ingests = [], []
        for _ in range(args.repeat):  # alternated, so both see the same machine
            loops.append(plain_loop(paths))
            ingests.append(ingestion(zip_path, settings, store, n))
        database.dispose()
        loop, ing = statistics.median(loops), statistics.median(ingests)
        print(f"plain Pillow loop (open, convert, resize):  {n / loop:8.0f} images/s  "
              f"({loop:.2f} s; runs {', '.join(f'{s:.2f}' for s in loops)})")
        print(f"ingestion (checks, decode, fit, split, store): {n / ing:6.0f} images/s  "
              f"({ing:.2f} s; runs {', '.join(f'{s:.2f}' for s in ingests)})")
        print(f"ingestion time / plain loop time: {ing / loop:.2f}× (budget: 1.5×)")
        if not args.no_http:
            http = over_http(zip_path, tmp)
            print(f"over HTTP (upload, process start, ingestion, until the 201): "
                  f"{n / http:.0f} images/s ({http:.2f} s)")


if __name__ == "__main__":
    main()
