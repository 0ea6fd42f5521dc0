"""Datasets of one's own images: a zip of real CIFAR-10 photos uploaded, trained on, and
predicted with its class names; every kind of bad zip refused with nothing stored."""

from __future__ import annotations

import re
import sqlite3
import time
import zipfile

import httpx
import numpy as np
import pytest

from app.classroom import ownership
from app.datasets.uploads.stratified_split import held_out, min_per_class, split
from tests.conftest import playground_app, wait_job
from tests.dataset_zips import (
    CLASSES,
    as_photo_file,
    cifar,
    cifar_zip,
    class_images,
    encrypted_flag_zip,
    photo,
    symlink_zip,
    tiny_png,
    understated_zip,
    zip_bytes,
)
from tests.digits_data import encode

LIMITS = {"max_dataset_zip_bytes": 2_000_000, "max_dataset_expanded_bytes": 4_000_000,
          "max_dataset_images": 300, "max_dataset_classes": 5, "max_image_pixels": 1_000_000}
# A small CNN with Keras' own augmentation in front, one output per class.
ARCHITECTURE = {"name": "cifar3_cnn", "input_shape": [32, 32, 3], "layers": [
    {"type": "RandomFlip", "mode": "horizontal"},
    {"type": "Conv2D", "filters": 16, "kernel_size": 3, "activation": "relu"},
    {"type": "MaxPooling2D", "pool_size": 2},
    {"type": "Conv2D", "filters": 32, "kernel_size": 3, "activation": "relu"},
    {"type": "MaxPooling2D", "pool_size": 2},
    {"type": "Flatten"},
    {"type": "Dense", "units": 32, "activation": "relu"},
    {"type": "Dense", "units": 3, "activation": "softmax"}]}


@pytest.fixture(scope="module")
def dc(client):
    """The session's application: its worker trains on the uploaded dataset."""
    return client


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    """An application with small upload limits (no worker: nothing trains here)."""
    with playground_app(tmp_path_factory.mktemp("datasets"), **LIMITS) as pg:
        yield pg


def upload(client: httpx.Client, data: bytes, name: str = "cifar three", filename="data.zip",
           **fields) -> httpx.Response:
    form = {"name": name, **{k: str(v) for k, v in fields.items()}}
    return client.post("/api/datasets", data=form,
                       files={"file": (filename, data, "application/zip")})


def stored(pg, dataset_id: str | None = None) -> tuple[int, int, list[str]]:
    """Dataset rows, array rows (all, or one dataset's), and zips left in the upload folder."""
    where, args = ("where id = ?", (dataset_id,)) if dataset_id else ("", ())
    array_where = "where dataset_id = ?" if dataset_id else ""
    with sqlite3.connect(pg.settings.data_dir / "playground.db") as db:
        rows = db.execute(f"select count(*) from datasets {where}", args).fetchone()[0]
        arrays = db.execute(f"select count(*) from dataset_arrays {array_where}", args).fetchone()[0]
    folder = pg.settings.data_dir / "dataset-uploads"
    return rows, arrays, sorted(p.name for p in folder.glob("*")) if folder.is_dir() else []


def test_split_is_stratified_and_seeded():
    labels = np.repeat(np.arange(3), [10, 7, 23])
    images = np.arange(40)[:, None]
    a = split(images, labels, 3, 0.2, seed=5)
    b = split(images, labels, 3, 0.2, seed=5)
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))
    x_train, y_train, x_test, y_test = a
    assert np.bincount(y_test).tolist() == [held_out(n, 0.2) for n in (10, 7, 23)] == [2, 1, 5]
    assert sorted(np.concatenate([x_train, x_test]).ravel().tolist()) == list(range(40))
    assert np.array_equal(labels[np.concatenate([x_train, x_test]).ravel()],
                          np.concatenate([y_train, y_test]))
    assert len(set(y_train[-5:].tolist())) > 1  # shuffled: Keras' validation split is the tail
    assert min_per_class(0.2) == 3 and min_per_class(0.5) == 2


def test_a_zip_of_cifar_photos_trains_and_predicts_with_its_class_names(dc, playground):
    jpeg = as_photo_file(1)[1]
    corrupt = jpeg[:len(jpeg) // 2]  # a JPEG cut short: its header reads, its pixels do not
    junk = {"cifar3/README.txt": b"three classes", "cifar3/.DS_Store": b"\x00\x01",
            "__MACOSX/cifar3/._frog": b"mac", "cifar3/frog/broken.jpg": corrupt}
    r = upload(dc, cifar_zip(extra=junk), name="  cifar three  ")
    assert r.status_code == 201, r.text
    ds = r.json()
    token = r.headers[ownership.HEADER]
    per_class = {name: len(idx) for name, idx in class_images().items()}
    assert ds["name"] == "cifar three" and ds["builtin"] is False and ds["status"] == "ready"
    assert ds["classes"] == ["airplane", "frog", "truck"] and ds["input_shape"] == [32, 32, 3]
    for name, n in per_class.items():
        assert ds["counts"][name] == {"train": n - held_out(n, 0.2), "test": held_out(n, 0.2)}
    assert ds["train_size"] + ds["test_size"] == sum(per_class.values())
    skipped = {s["file"]: s["reason"] for s in ds["report"]["skipped"]}
    assert set(skipped) == {"cifar3/README.txt", "cifar3/frog/broken.jpg"}
    assert "not in a class folder" in skipped["cifar3/README.txt"]
    assert "truncated or corrupt" in skipped["cifar3/frog/broken.jpg"]
    assert ds["report"]["ignored"] == 2  # .DS_Store and __MACOSX
    listed = {d["id"]: d for d in dc.get("/api/datasets").json()}
    assert {"mnist", "fashion_mnist", "cifar10", ds["id"]} <= set(listed)
    assert listed["mnist"]["builtin"] is True and listed[ds["id"]]["counts"] == ds["counts"]
    assert dc.get(f"/api/datasets/{ds['id']}").json()["yours"] is True
    page = dc.get(f"/datasets/{ds['id']}").text
    assert page.count('class="class-samples"') == 3 and page.count("<img src=\"data:image/png") == 24

    # Trained like MNIST: a job on its id, scored on its own test split.
    job = dc.post("/api/jobs", json={"architecture": ARCHITECTURE, "dataset": ds["id"], "training": {
        "optimizer": "adam", "learning_rate": 0.002, "batch_size": 16, "epochs": 15, "seed": 1}})
    assert job.status_code == 202, job.text
    done = wait_job(dc, job.json()["id"], ("succeeded", "failed"), timeout=240)
    assert done["status"] == "succeeded", done["error"]
    result = done["result"]
    assert result["test_accuracy"] > 0.6, result  # chance is 1/3
    assert np.array(result["confusion_matrix"]).sum() == ds["test_size"]
    assert all({m["true_name"], m["predicted_name"]} <= set(ds["classes"])
               for m in result["misclassified"])
    assert ">airplane</th>" in dc.get(f"/jobs/{done['id']}").text
    model_id = result["model_id"]
    model = dc.get(f"/api/models/{model_id}").json()
    assert model["class_names"] == ds["classes"] and model["dataset"] == ds["id"]
    assert model["training"]["input_fit"] == "crop"

    # /predict answers with the class names, for photos of any size.
    x, y = cifar()
    picks = [i for idx in class_images().values() for i in idx[:12]]
    right = 0
    for i in picks:
        ext, data = as_photo_file(i)
        r = dc.post("/predict", params={"model": model_id},
                    files={"file": (f"p.{ext}", data, f"image/{'jpeg' if ext == 'jpg' else 'png'}")})
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["class_name"] == ds["classes"][answer["label"]]
        assert len(answer["probabilities"]) == 3
        right += answer["class_name"] == CLASSES[int(y[i])]
    assert right / len(picks) > 0.6
    # TF Serving, and the feature maps of an uploaded photo.
    batch = (x[picks[:4]] / 255.0).tolist()
    served = dc.post(f"/v1/models/{model_id}:predict", json={"instances": batch}).json()
    assert np.array(served["predictions"]).shape == (4, 3)
    meta = dc.get(f"/v1/models/{model_id}/metadata").json()["metadata"]
    assert meta["class_names"] == ds["classes"]
    maps = dc.post(f"/api/models/{model_id}/feature-maps",
                   files={"file": ("p.png", encode(photo(picks[0]).resize((64, 64)), "PNG"),
                                   "image/png")})
    assert maps.status_code == 200 and maps.json()["class_name"] in ds["classes"]

    # Only its owner deletes it; its model stays, with the class names.
    other = secrets_token()
    assert dc.delete(f"/api/datasets/{ds['id']}", headers={ownership.HEADER: other}).status_code == 403
    assert dc.delete(f"/api/datasets/{ds['id']}", headers={ownership.HEADER: token}).status_code == 204
    assert dc.get(f"/api/datasets/{ds['id']}").status_code == 404
    assert ds["id"] not in {d["id"] for d in dc.get("/api/datasets").json()}
    assert dc.get(f"/jobs/{done['id']}").status_code == 200  # its job page still shows
    r = dc.post("/predict", params={"model": model_id},
                files={"file": ("p.png", encode(photo(picks[0]), "PNG"), "image/png")})
    assert r.json()["class_name"] in ds["classes"]
    assert stored(playground, ds["id"])[:2] == (0, 0)


def secrets_token() -> str:
    return ownership.new_token()


def two_classes(n: int = 4, **extra: bytes) -> dict[str, bytes]:
    files = {f"{c}/{i}.png": tiny_png(10 * i + (0 if c == "cats" else 120))
             for c in ("cats", "dogs") for i in range(n)}
    return {**files, **extra}


BAD_ZIPS = {
    "zip bomb": (zip_bytes(two_classes(**{"cats/huge.png": b"\x00" * 4_500_000})), {},
                 413, "CNNPG_MAX_DATASET_EXPANDED_BYTES"),
    "over the zip size": (zip_bytes(two_classes(**{"cats/noise.png": np.random.default_rng(1)
                                                   .bytes(2_020_000)}), compression=0), {},
                          413, "CNNPG_MAX_DATASET_ZIP_BYTES"),
    "a member lying about its size": (understated_zip(two_classes(), "dogs/liar.png", 5_000_000,
                                                      120), {"on_bad_file": "refuse"},
                                      422, "'dogs/liar.png'"),
    "path traversal": (zip_bytes(two_classes(**{"../../evil.png": tiny_png()})), {}, 422,
                       "'../../evil.png'"),
    "an absolute path": (zip_bytes(two_classes(**{"/etc/evil.png": tiny_png()})), {}, 422,
                         "'/etc/evil.png'"),
    "a symlink": (symlink_zip(two_classes(), "cats/link.png", "/etc/passwd"), {}, 422,
                  "symbolic links: 'cats/link.png'"),
    "a nested archive": (zip_bytes(two_classes(**{"dogs/more.zip": zip_bytes(two_classes())})),
                         {}, 422, "archives inside the zip: 'dogs/more.zip'"),
    "an encrypted member": (encrypted_flag_zip(two_classes(), "cats/secret.png"), {}, 422,
                            "encrypted: 'cats/secret.png'"),
    "non-image members, refused as asked": (zip_bytes(two_classes(**{"cats/notes.txt": b"hi"})),
                                            {"on_bad_file": "refuse"}, 422, "'cats/notes.txt'"),
    "a corrupt image, refused as asked": (zip_bytes(two_classes(**{"dogs/bad.png": b"\x89PNG..."})),
                                          {"on_bad_file": "refuse"}, 422, "'dogs/bad.png'"),
    "an image over the pixel limit": (zip_bytes(two_classes(**{
        "cats/wide.png": tiny_png(size=(2000, 600))})), {"on_bad_file": "refuse"}, 422,
        "CNNPG_MAX_IMAGE_PIXELS"),
    "a single class": (zip_bytes({f"cats/{i}.png": tiny_png(i) for i in range(5)}), {}, 422,
                       "one class folder ('cats')"),
    "a class too small to split": (zip_bytes({**{f"cats/{i}.png": tiny_png(i) for i in range(5)},
                                              "dogs/0.png": tiny_png(), "dogs/1.png": tiny_png()}),
                                   {}, 422, "'dogs' has 2"),
    "too many classes": (zip_bytes({f"c{c}/{i}.png": tiny_png(c * 20 + i) for c in range(6)
                                    for i in range(3)}), {}, 422, "CNNPG_MAX_DATASET_CLASSES"),
    "too many images": (zip_bytes({f"{c}/{i}.png": tiny_png(i % 200) for c in ("a", "b")
                                   for i in range(160)}), {}, 422, "CNNPG_MAX_DATASET_IMAGES"),
    "an empty zip": (zip_bytes({}), {}, 422, "no images in class folders"),
    "class names differing only in case": (zip_bytes({**two_classes(), **{
        f"Cats/{i}.png": tiny_png(i) for i in range(4)}}), {}, 422, "'Cats' and 'cats'"),
    "not a zip": (tiny_png(), {}, 422, "not a zip file"),
}


@pytest.mark.parametrize("case", BAD_ZIPS, ids=list(BAD_ZIPS))
def test_bad_zips_are_refused_with_nothing_stored(limited, case):
    dc = limited.client
    data, fields, status, fragment = BAD_ZIPS[case]
    before = {d["id"] for d in dc.get("/api/datasets").json()}
    r = upload(dc, data, name=case, **fields)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert detail[0]["loc"] == ["body", "file"], detail
    assert fragment in detail[0]["msg"], detail
    assert {d["id"] for d in dc.get("/api/datasets").json()} == before
    deadline = time.monotonic() + 5  # the ingestion's thread removes its zip as it ends
    while stored(limited)[2] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stored(limited) == (0, 0, [])


def test_skipped_files_are_listed_and_the_rest_kept(limited):
    dc = limited.client
    data = zip_bytes(two_classes(**{"cats/notes.txt": b"hi", "dogs/bad.png": b"\x89PNG.."}))
    r = upload(dc, data, name="pets", image_size=16, color="grayscale", fit="pad")
    assert r.status_code == 201, r.text
    ds = r.json()
    assert ds["input_shape"] == [16, 16, 1]
    assert ds["counts"] == {"cats": {"train": 3, "test": 1}, "dogs": {"train": 3, "test": 1}}
    assert [s["file"] for s in ds["report"]["skipped"]] == ["cats/notes.txt", "dogs/bad.png"]
    assert ds["settings"] == {"image_size": 16, "color": "grayscale", "fit": "pad",
                              "test_fraction": 0.2, "on_bad_file": "skip", "seed": 0,
                              "source": "zip"}
    assert dc.delete(f"/api/datasets/{ds['id']}").status_code == 204  # the client's cookie


def test_built_in_datasets_are_read_only_and_unknown_ones_are_named(dc):
    r = dc.delete("/api/datasets/mnist", headers={ownership.HEADER: secrets_token()})
    assert r.status_code == 403 and "read-only" in r.json()["detail"]
    assert dc.get("/api/datasets/nope-12345678").status_code == 404
    assert dc.delete("/api/datasets/nope-12345678").status_code == 404
    r = dc.post("/api/jobs", json={"architecture": ARCHITECTURE, "dataset": "nope-12345678"})
    assert r.status_code == 422 and "unknown dataset 'nope-12345678'" in r.text
    r = dc.get("/api/datasets/cifar10").json()
    assert r["classes"][0] == "airplane" and r["input_shape"] == [32, 32, 3] and r["counts"] is None


def test_a_zip_member_cannot_expand_past_what_it_declares(tmp_path):
    """The checks read sizes from the directory, then zipfile stops each member at its
    declared size and checks its CRC: the 5 MB liar yields 120 bytes and an error."""
    path = tmp_path / "liar.zip"
    path.write_bytes(understated_zip(two_classes(), "dogs/liar.png", 5_000_000, 120))
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("dogs/liar.png")
        assert info.file_size == 120
        with pytest.raises(zipfile.BadZipFile), zf.open(info) as f:
            assert len(f.read(10_000_000)) <= 121


def test_an_upload_waits_for_another_only_when_there_is_one(limited):
    """The first and only upload starts at once and says so; one that comes while another
    is being processed says it waits for it (it once said so of every upload)."""
    dc, uploads = limited.client, limited.services.dataset_uploads

    def page_upload(name: str) -> httpx.Response:
        return dc.post("/datasets/upload", data={"name": name},
                       files={"file": ("pets.zip", zip_bytes(two_classes()), "application/zip")})

    first = page_upload("first pets")
    assert first.status_code == 200, first.text
    assert "waiting for another upload" not in first.text and "Processing" in first.text
    first_id = re.search(r'hx-get="/datasets/([^/]+)/progress"', first.text)
    assert uploads._turn.acquire(timeout=60)  # busy, as while another zip is processed
    try:
        second = page_upload("second pets")
        second_id = re.search(r'hx-get="/datasets/([^/]+)/progress"', second.text).group(1)
        deadline = time.monotonic() + 10
        while uploads.store.row(second_id).progress["phase"] != "queued":
            assert time.monotonic() < deadline, uploads.store.row(second_id).progress
            time.sleep(0.05)
        assert "waiting for another upload to finish" in dc.get(
            f"/datasets/{second_id}/progress").text
    finally:
        uploads._turn.release()
    for dataset_id in (first_id.group(1) if first_id else None, second_id):
        if dataset_id and uploads.wait(dataset_id, timeout=60) is not None:
            assert uploads.store.row(dataset_id).status == "ready"
            dc.delete(f"/api/datasets/{dataset_id}")
