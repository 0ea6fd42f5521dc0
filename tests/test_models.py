"""The shipped model itself, and feature maps of an RGB (CIFAR-10) model."""

from __future__ import annotations

import hashlib
import io
import json

import keras
import numpy as np
import pytest
from PIL import Image

from app.datasets.builtin import load_dataset
from app.networks.architecture import ArchitectureSpec, build_model, check
from tests.conftest import ROOT, playground_app
from tests.digits_data import DATA, encode

MODELS = ROOT / "models"


def test_shipped_model_matches_its_metadata():
    meta = json.loads((MODELS / "mnist_digits.json").read_text())
    path = MODELS / "mnist_digits.keras"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == meta["sha256"]
    assert meta["test_accuracy"] >= 0.993
    spec = ArchitectureSpec.model_validate(meta["architecture"])
    model = keras.saving.load_model(path, compile=False, safe_mode=True)
    assert check(spec).total_params == model.count_params() == meta["total_params"]


def test_shipped_model_accuracy_on_real_test_digits():
    data = load_dataset("mnist", DATA)
    model = keras.saving.load_model(MODELS / "mnist_digits.keras", compile=False, safe_mode=True)
    probs = model(data.x_test, training=False)
    accuracy = float((np.argmax(probs, axis=1) == data.y_test).mean())
    assert accuracy >= 0.99, accuracy  # 1,000 real test digits


@pytest.fixture(scope="module")
def rgb_server(tmp_path_factory):
    """A server whose shipped-models folder holds a small CIFAR-10 model."""
    folder = tmp_path_factory.mktemp("models")
    spec = ArchitectureSpec.model_validate({
        "name": "cifar_tiny", "input_shape": [32, 32, 3], "layers": [
            {"type": "Conv2D", "filters": 8, "kernel_size": 3, "activation": "relu"},
            {"type": "AveragePooling2D", "pool_size": 2},
            {"type": "Conv2D", "filters": 16, "kernel_size": 3, "padding": "same", "activation": "relu"},
            {"type": "GlobalAveragePooling2D"},
            {"type": "Dense", "units": 10, "activation": "softmax"}]})
    keras.utils.set_random_seed(1)
    build_model(spec).save(folder / "cifar_tiny.keras")
    data = load_dataset("cifar10", DATA)
    (folder / "cifar_tiny.json").write_text(json.dumps({
        "name": "CIFAR tiny", "dataset": "cifar10", "input_shape": [32, 32, 3],
        "class_names": data.class_names, "test_accuracy": None}))
    with playground_app(tmp_path_factory.mktemp("rgb"), models_dir=folder) as pg:
        yield pg.client, data


def test_feature_maps_of_an_rgb_model(rgb_server):
    c, data = rgb_server
    photo = Image.fromarray((data.x_test[0] * 255).astype(np.uint8)).resize((128, 128))
    r = c.post("/api/models/cifar_tiny/feature-maps",
               files={"file": ("cat.png", encode(photo, "PNG"), "image/png")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(lay["name"], lay["shape"]) for lay in body["layers"]] == [
        ("conv2d", [30, 30, 8]), ("average_pooling2d", [15, 15, 8]), ("conv2d_1", [15, 15, 16])]
    assert body["kernels"]["shape"] == [3, 3, 3, 8]
    seen = Image.open(io.BytesIO(__import__("base64").b64decode(body["input"].split(",")[1])))
    assert seen.size == (32, 32) and seen.mode == "RGB"
    assert len(body["probabilities"]) == 10 and body["class_name"] in data.class_names
    r = c.post("/predict", params={"model": "cifar_tiny"},
               files={"file": ("cat.png", encode(photo, "PNG"), "image/png")})
    assert r.status_code == 200 and r.json()["model"] == "cifar_tiny"


def test_served_predictions_equal_the_keras_model(tmp_path):
    """The fast path (LiteRT, one at a time) and batches (TensorFlow) both give Keras' answer."""
    from app.config import Settings
    from app.networks.inference import LoadedModels
    from app.networks.registry import Registry
    from app.storage.database import Database

    registry = Registry(Database(Settings(data_dir=tmp_path)), MODELS, tmp_path / "cache", 1 << 20)
    loaded = LoadedModels(registry, capacity=1).get("mnist_digits")
    assert loaded.lite is not None  # the fast path is there on this platform
    data = load_dataset("mnist", DATA)
    x = data.x_test[:20]
    expected = loaded.model(x, training=False).numpy()
    singles = np.concatenate([loaded.predict(x[i : i + 1]) for i in range(len(x))])
    np.testing.assert_allclose(singles, expected, atol=1e-5)
    np.testing.assert_allclose(loaded.predict(x), expected, atol=1e-5)


def test_a_model_loaded_again_is_not_converted_again(tmp_path):
    """A model file is loaded, and converted for LiteRT (about 0.5 s of CPU), once per
    process while an application holds it: the digit model asked for by a second
    application is the one already loaded, and predicts the same; another file (the same
    network, other weights) is loaded and converted for itself."""
    import keras

    from app.config import Settings
    from app.networks.inference import LoadedModels
    from app.networks.litert import file_key
    from app.networks.registry import Registry
    from app.storage.database import Database

    def load(where, models_dir=MODELS):
        registry = Registry(Database(Settings(data_dir=where)), models_dir, where / "cache", 1 << 20)
        return LoadedModels(registry, capacity=1).get("mnist_digits")

    first, again = load(tmp_path / "a"), load(tmp_path / "b")
    assert again is first  # not loaded a second time
    assert first.lite is not None and again.lite is not None
    assert again.lite.content is first.lite.content  # the same flatbuffer, not a new one
    x = load_dataset("mnist", DATA).x_test[:5]
    for i in range(len(x)):
        np.testing.assert_array_equal(again.predict(x[i : i + 1]), first.predict(x[i : i + 1]))

    other_dir = tmp_path / "other"
    other_dir.mkdir()
    (other_dir / "mnist_digits.json").write_bytes((MODELS / "mnist_digits.json").read_bytes())
    model = keras.saving.load_model(MODELS / "mnist_digits.keras", compile=False)
    model.layers[-1].bias.assign(model.layers[-1].bias.numpy() + 1.0)
    model.save(other_dir / "mnist_digits.keras")
    assert file_key(other_dir / "mnist_digits.keras") != file_key(MODELS / "mnist_digits.keras")
    other = load(tmp_path / "c", other_dir)
    assert other is not first
    assert other.lite is not None and other.lite.content != first.lite.content
    np.testing.assert_allclose(other.predict(x[:1]), model(x[:1], training=False).numpy(), atol=1e-5)


def test_litert_converts_a_model_on_its_first_single_prediction(tmp_path):
    """Loading a model (an upload, a model page, Explain) does not convert it for LiteRT;
    its first single prediction does, and gives Keras' answer."""
    import keras

    from app.config import Settings
    from app.networks import litert
    from app.networks.inference import LoadedModels
    from app.networks.registry import Registry
    from app.storage.database import Database

    models_dir = tmp_path / "models"
    models_dir.mkdir()
    (models_dir / "mnist_digits.json").write_bytes((MODELS / "mnist_digits.json").read_bytes())
    model = keras.saving.load_model(MODELS / "mnist_digits.keras", compile=False)
    model.layers[-1].bias.assign(model.layers[-1].bias.numpy() - 0.5)  # a file of its own
    model.save(models_dir / "mnist_digits.keras")
    key = litert.file_key(models_dir / "mnist_digits.keras")
    registry = Registry(Database(Settings(data_dir=tmp_path)), models_dir, tmp_path / "cache", 1 << 20)
    loaded = LoadedModels(registry, capacity=1).get("mnist_digits")
    x = load_dataset("mnist", DATA).x_test[:3]
    loaded.predict(x)  # a batch: TensorFlow's
    loaded.activations(x)
    assert key not in litert._converted
    np.testing.assert_allclose(loaded.predict(x[:1]), model(x[:1], training=False).numpy(), atol=1e-5)
    assert key in litert._converted and loaded.lite is not None


def test_a_large_models_first_prediction_runs_eagerly_and_the_rest_traced(tmp_path):
    """A model over LiteRT's size (1M parameters) is not traced when it loads (an upload is
    answered sooner); its first prediction runs eagerly, the second traces, and every one
    of them is what Keras gives, one image or a batch."""
    from app.networks.inference import LoadedModel
    from app.networks.registry import ModelInfo

    keras.utils.set_random_seed(5)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(1300, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    assert model.count_params() > 1_000_000
    info = ModelInfo(id="wide", name="wide", dataset="mnist", input_shape=(28, 28, 1),
                     shipped=False, test_accuracy=None, created="2026-12-07",
                     class_names=[str(i) for i in range(10)])
    loaded = LoadedModel(info, None, model)
    assert loaded.lite is None and loaded._forward._traced is None
    x = load_dataset("mnist", DATA).x_test[:4]
    want = model(x, training=False).numpy()
    np.testing.assert_allclose(loaded.predict(x[:1]), want[:1], atol=1e-5)  # eagerly
    assert loaded._forward._traced is None
    np.testing.assert_allclose(loaded.predict(x), want, atol=1e-5)  # traced now
    assert loaded._forward._traced is not None
    np.testing.assert_allclose(loaded.predict(x[2:3]), want[2:3], atol=1e-5)
