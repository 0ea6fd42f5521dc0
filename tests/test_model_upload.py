"""Bring your own model: a .keras file made here with its own weights joins the registry and
predicts what Keras predicts, everywhere; hostile or unusable files are refused, naming why,
with nothing stored and nothing run."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import httpx
import keras
import numpy as np
import pytest

from app.datasets.builtin import load_dataset
from tests.conftest import playground_app
from tests.digits_data import DATA, as_canvas_png
from tests.explain_models import digits_model, randomize


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    with playground_app(tmp_path_factory.mktemp("uploads"), max_params=150_000,
                        max_model_expanded_bytes=64 * 1024 * 1024) as pg:
        yield pg


@pytest.fixture(scope="module")
def client(srv):
    return srv.client


def keras_file(model: keras.Model, folder: Path, name: str = "model.keras") -> bytes:
    path = folder / name
    model.save(path)
    return path.read_bytes()


def upload(client: httpx.Client, data: bytes, filename: str = "model.keras", **fields: str):
    return client.post("/api/models", files={"file": (filename, data, "application/octet-stream")},
                       data=fields)


def model_ids(client: httpx.Client) -> set[str]:
    return {m["id"] for m in client.get("/api/models").json()}


def edited(data: bytes, edit) -> bytes:
    """The archive with its config.json changed by `edit` (as an attacker would)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "config.json":
                config = json.loads(content)
                edit(config)
                content = json.dumps(config).encode()
            dst.writestr(info.filename, content)
    return out.getvalue()


def test_an_uploaded_model_predicts_what_keras_predicts(client, srv, tmp_path):
    model = digits_model()
    r = upload(client, keras_file(model, tmp_path), "my digits.keras", dataset="mnist")
    assert r.status_code == 201, r.text
    token = r.headers["x-owner-token"]
    item = r.json()
    assert item["source"] == "uploaded" and item["dataset"] == "mnist" and not item["shipped"]
    assert item["input_shape"] == [28, 28, 1] and item["class_names"] == [str(d) for d in range(10)]
    assert item["name"] == "my digits"
    model_id = item["id"]

    data = load_dataset("mnist", DATA)
    expected = np.asarray(model(data.x_test[:6], training=False))
    for i in range(6):  # /predict, on the same prepared input
        got = client.post("/predict", params={"model": model_id}, json={"test_index": i}).json()
        np.testing.assert_allclose(got["probabilities"], expected[i], atol=1e-5)
        assert got["label"] == int(np.argmax(expected[i])) and got["model"] == model_id
    served = client.post(f"/v1/models/{model_id}:predict",
                         json={"instances": data.x_test[:6].tolist()}).json()["predictions"]
    np.testing.assert_allclose(served, expected, atol=1e-5)
    # A drawing, read the MNIST way because the model names MNIST as its dataset.
    drawing = as_canvas_png((data.x_test[0, :, :, 0] * 255).astype(np.uint8))
    r = client.post("/predict", params={"model": model_id},
                    files={"file": ("d.png", drawing, "image/png")})
    assert r.status_code == 200 and r.json()["model"] == model_id
    assert client.post(f"/api/models/{model_id}/feature-maps", json={"test_index": 0}).status_code == 200
    assert model_id in client.get("/draw", params={"model": model_id}).text
    # Explained, neuron by neuron, like any model.
    conv = model.layers[0]
    ref = np.asarray(keras.Model(model.inputs[0], conv.output)(data.x_test[2:3]))[0]
    n = client.post(f"/api/models/{model_id}/neuron", json={
        "input": {"test_index": 2}, "layer": conv.name, "channel": 4, "cell": [9, 11]}).json()
    assert n["output"] == pytest.approx(float(ref[9, 11, 4]), abs=1e-5)
    pooled = model.layers[-2]  # GlobalAveragePooling2D: the mean of the whole map
    n = client.post(f"/api/models/{model_id}/neuron", json={
        "input": {"test_index": 2}, "layer": pooled.name, "channel": 3}).json()
    ref = np.asarray(keras.Model(model.inputs[0], pooled.output)(data.x_test[2:3]))[0]
    assert n["output"] == pytest.approx(float(ref[3]), abs=1e-5)
    assert np.mean(n["window"]["values"]) == pytest.approx(n["output"], abs=1e-5)

    # Deleting: the owner's token only.
    assert client.delete(f"/api/models/{model_id}", headers={"X-Owner-Token": "x" * 43}).status_code == 403
    assert client.delete(f"/api/models/{model_id}", headers={"X-Owner-Token": token}).status_code == 204
    assert client.get(f"/api/models/{model_id}").status_code == 404


def test_a_colour_model_with_merges_and_its_own_class_names(client, tmp_path):
    keras.utils.set_random_seed(2)
    inputs = keras.Input((24, 24, 3))
    a = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    b = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    added = keras.layers.Add(name="add")([a, b])
    both = keras.layers.Concatenate(name="concat")([added, a])
    x = keras.layers.GlobalMaxPooling2D()(both)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    model = randomize(keras.Model(inputs, outputs), 2)
    r = upload(client, keras_file(model, tmp_path), name="<script>alert(1)</script>",
               class_names="cat, dog, bird", dataset="")  # an empty field is no dataset
    assert r.status_code == 201, r.text
    item = r.json()
    assert item["class_names"] == ["cat", "dog", "bird"] and item["dataset"] == ""
    x = np.random.default_rng(0).uniform(0, 1, (4, 24, 24, 3)).astype(np.float32)
    served = client.post(f"/v1/models/{item['id']}:predict", json={"instances": x.tolist()})
    np.testing.assert_allclose(served.json()["predictions"], np.asarray(model(x)), atol=1e-5)
    pixels = (x[0] * 255).round()
    overview = client.post(f"/api/models/{item['id']}/explain",
                           json={"input": {"pixels": pixels.tolist()}}).json()
    layers = {la["name"]: la for la in overview["layers"]}
    assert len(layers["add"]["channels"]) == 4 and len(layers["concat"]["channels"]) == 8
    n = client.post(f"/api/models/{item['id']}/neuron", json={
        "input": {"pixels": pixels.tolist()}, "layer": "add", "channel": 1, "cell": [5, 6]}).json()
    assert sum(n["inputs"]) == pytest.approx(n["output"], abs=1e-5)  # shown with its inputs
    r = client.post(f"/api/models/{item['id']}/explain", json={"input": {"test_index": 0}})
    assert r.status_code == 422 and "without naming its dataset" in r.text
    explain = client.get("/explain", params={"model": item["id"]}).text
    assert "uploaded without naming its dataset" in explain  # no test images, and no canvas:
    assert '<p class="hint" id="explain-begin">Upload an image to begin.</p>' in explain
    draw = client.get("/draw", params={"model": item["id"]}).text
    assert '<p class="hint" id="draw-begin">Upload an image: the prediction shows here.</p>' in draw
    page = client.get("/models").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page


def lambda_model(marker: Path) -> keras.Model:
    """A Lambda layer whose function, if it ever ran, would create `marker`."""
    fn = eval(f"lambda x: (__import__('pathlib').Path({str(marker)!r}).touch(), x)[1]")
    return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Lambda(fn, output_shape=(8, 8, 1)),
                             keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")])


def test_hostile_files_are_refused_unread(client, srv, tmp_path):
    """A Lambda, config.json edited to name os and builtins functions, a custom layer, HDF5
    and a file that is not a Keras archive: each a 422 that says why, nothing stored, and
    the file the payload would write is not there."""
    before = model_ids(client)
    cache = srv.settings.data_dir / "model-cache"
    cached = set(cache.glob("*")) if cache.exists() else set()
    marker = tmp_path / "payload-ran"
    refusals = []

    data = keras_file(lambda_model(marker), tmp_path, "lambda.keras")
    marker.unlink(missing_ok=True)  # building the model here ran it once; the server must not
    refusals.append(("lambda", upload(client, data), "'Lambda'"))

    good = keras_file(digits_model(), tmp_path)

    def os_system(config):
        config["config"]["layers"].append({
            "module": "os", "class_name": "system", "registered_name": None, "name": "pwn",
            "config": {"command": f"touch {marker}"}, "inbound_nodes": []})

    def builtins_exec(config):
        dense = config["config"]["layers"][-1]
        dense["config"]["activation"] = {
            "module": "builtins", "class_name": "function", "registered_name": "exec",
            "config": f"__import__('pathlib').Path({str(marker)!r}).touch()"}

    def keras_config_gadget(config):  # CVE-2025-9906: turn safe mode off from inside the file
        config["config"]["layers"][1]["config"]["kernel_initializer"] = {
            "module": "keras.config", "class_name": "function", "registered_name": None,
            "config": "enable_unsafe_deserialization"}

    refusals.append(("os.system", upload(client, edited(good, os_system)), "module 'os', outside Keras"))
    refusals.append(("builtins.exec", upload(client, edited(good, builtins_exec)),
                     "module 'builtins', outside Keras"))
    refusals.append(("keras.config", upload(client, edited(good, keras_config_gadget)), "'function'"))

    @keras.saving.register_keras_serializable(package="evil")
    class Sneaky(keras.layers.Dense):
        pass

    custom = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                               Sneaky(2, activation="softmax")])
    refusals.append(("custom", upload(client, keras_file(custom, tmp_path, "custom.keras")),
                     "outside Keras"))

    h5 = tmp_path / "model.h5"
    digits_model().save(h5)
    refusals.append(("h5", upload(client, h5.read_bytes(), "model.h5"), "HDF5"))
    refusals.append(("h5 renamed", upload(client, h5.read_bytes(), "model.keras"), "HDF5"))

    other = io.BytesIO()
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("readme.txt", "not a model")
    refusals.append(("zip", upload(client, other.getvalue()), "'readme.txt'"))
    refusals.append(("text", upload(client, b"hello"), "not a .keras archive"))

    for what, r, words in refusals:
        assert r.status_code == 422, (what, r.text)
        detail = r.json()["detail"][0]
        assert detail["loc"] == ["body", "file"] and words in detail["msg"], (what, detail)
    assert model_ids(client) == before  # nothing stored
    assert (set(cache.glob("*")) if cache.exists() else set()) == cached
    assert not marker.exists()  # nothing ran


def test_a_zip_bomb_is_refused_before_it_expands(client, tmp_path):
    data = keras_file(digits_model(), tmp_path)
    src = zipfile.ZipFile(io.BytesIO(data))
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metadata.json", src.read("metadata.json"))
        zf.writestr("config.json", src.read("config.json"))
        zf.writestr("model.weights.h5", bytes(80 * 1024 * 1024))  # 80 MB of zeros
    assert len(bomb.getvalue()) < 1024 * 1024
    before = model_ids(client)
    r = upload(client, bomb.getvalue())
    assert r.status_code == 413, r.text
    assert "CNNPG_MAX_MODEL_EXPANDED_BYTES" in r.json()["detail"][0]["msg"]
    assert model_ids(client) == before


def _with_op(op) -> keras.Model:
    """A functional model with a Keras operation node of its own (`op(x)`)."""
    inputs = keras.Input((8, 8, 1))
    x = op(keras.layers.Conv2D(2, 3)(inputs))
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(x))
    return keras.Model(inputs, outputs)


def test_models_that_are_not_image_classifiers(client, tmp_path):
    keras.utils.set_random_seed(4)
    cases = {
        "not an image": (keras.Sequential([keras.Input((20,)), keras.layers.Dense(3, activation="softmax")]),
                         "must be one H×W×C image"),
        "four channels": (keras.Sequential([keras.Input((8, 8, 4)), keras.layers.Flatten(),
                                            keras.layers.Dense(3, activation="softmax")]),
                          "C 1 (grayscale) or 3"),
        "maps out": (keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3)]),
                     "one vector of class scores"),
        "logits": (keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(3)]),
                   "end it with a softmax"),
        "unknown layer": (keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2DTranspose(2, 3),
                                            keras.layers.Flatten(),
                                            keras.layers.Dense(3, activation="softmax")]),
                          "the layer 'Conv2DTranspose' is not accepted"),
        "an operation not on the list": (_with_op(keras.ops.sin),
                                         "the operation keras.src.ops.numpy.Sin is not accepted"),
        "too many parameters": (keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                                                  keras.layers.Dense(256, activation="relu"),
                                                  keras.layers.Dense(10, activation="softmax")]),
                                "CNNPG_MAX_PARAMS"),
    }
    before = model_ids(client)
    for what, (model, words) in cases.items():
        r = upload(client, keras_file(model, tmp_path))
        assert r.status_code == 422, (what, r.text)
        assert words in r.json()["detail"][0]["msg"], (what, r.text)
    r = upload(client, keras_file(digits_model(), tmp_path), class_names="a, b")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "class_names"
    r = upload(client, keras_file(digits_model(), tmp_path), dataset="cifar10")
    assert r.status_code == 422 and "cifar10's images are [32, 32, 3]" in r.text
    assert model_ids(client) == before
