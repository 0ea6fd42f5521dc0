"""Explanations over HTTP, against Keras itself: the shipped model and a CIFAR-10 model built
here (stride, "same" padding, dilation, batch norm, separable and depthwise convolutions,
both poolings), on real test images."""

from __future__ import annotations

import math
import threading

import cv2
import keras
import numpy as np
import pytest

from app.datasets.builtin import load_dataset
from tests.conftest import playground_app
from tests.digits_data import DATA
from tests.explain_models import cifar_model, models_dir

CONVS = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D")
POOLS = ("MaxPooling2D", "AveragePooling2D")


@pytest.fixture(scope="module")
def explained(tmp_path_factory):
    folder = models_dir(tmp_path_factory.mktemp("models"), {"cifar_explained": (cifar_model(), "cifar10")})
    models = {m: keras.saving.load_model(folder / f"{m}.keras", compile=False, safe_mode=True)
              for m in ("mnist_digits", "cifar_explained")}
    data = {"mnist_digits": load_dataset("mnist", DATA), "cifar_explained": load_dataset("cifar10", DATA)}
    with playground_app(tmp_path_factory.mktemp("explain"), models_dir=folder) as pg:
        pg.client.pg = pg
        yield pg.client, models, data


def layer_outputs(model: keras.Model, x: np.ndarray) -> dict[str, np.ndarray]:
    layers = [la for la in model.layers if type(la).__name__ != "InputLayer"]
    outs = keras.Model(model.inputs[0], [la.output for la in layers])(x[None], training=False)
    return {la.name: np.asarray(o)[0] for la, o in zip(layers, outs, strict=True)}


def close(a: float, b: float, tol: float = 1e-4) -> bool:
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


def activation(model: keras.Model, layer: str, value: float) -> float:
    fn = model.get_layer(layer).activation
    return float(np.asarray(fn(np.array([value], np.float32)))[0])


@pytest.mark.parametrize("model_id", ["mnist_digits", "cifar_explained"])
def test_every_number_equals_keras(explained, model_id):
    """Random channels and cells of every convolution, pooling and dense layer: `output` is
    Keras' output there, pre_activation = Σ terms + bias, and the activation of that sum is
    the output again, so the terms are the ones Keras added up."""
    client, models, data = explained
    model = models[model_id]
    rng = np.random.default_rng(7)
    checked = set()
    for index in (3, 11):
        x = data[model_id].x_test[index]
        ref = layer_outputs(model, x)
        for layer in model.layers:
            kind = type(layer).__name__
            if kind not in CONVS + POOLS + ("Dense",):
                continue
            out = ref[layer.name]
            for _ in range(3):
                channel = int(rng.integers(out.shape[-1]))
                body = {"input": {"test_index": index}, "layer": layer.name, "channel": channel}
                if out.ndim == 3:
                    cell = [int(rng.integers(out.shape[0])), int(rng.integers(out.shape[1]))]
                    body["cell"] = cell
                    expected = float(out[cell[0], cell[1], channel])
                else:
                    expected = float(out[channel])
                r = client.post(f"/api/models/{model_id}/neuron", json=body)
                assert r.status_code == 200, r.text
                n = r.json()
                assert n["type"] == kind and n["layer"] == layer.name
                assert close(n["output"], expected), (layer.name, body, n["output"], expected)
                if kind in CONVS:
                    assert close(n["pre_activation"], math.fsum(t["sum"] for t in n["terms"]) + n["bias"])
                    assert close(activation(model, layer.name, n["pre_activation"]), expected)
                    for t in n["terms"]:  # each term is its window ⊙ kernel slice, summed
                        product = float((np.array(t["window"]) * np.array(t["kernel"])).sum())
                        assert close(t.get("depthwise", t["sum"]), product, 1e-3)
                    assert n["receptive_field"] and n["input_field"]
                elif kind in POOLS:
                    values = [v for row in n["window"]["values"] for v in row if v is not None]
                    computed = max(values) if kind == "MaxPooling2D" else sum(values) / len(values)
                    assert close(computed, expected, 1e-3)
                else:
                    total = (math.fsum(t["product"] for t in n["top_terms"]) + n["other_terms"]["sum"]
                             + n["bias"])
                    assert close(n["pre_activation"], total)
                    if n["activation"] == "softmax":
                        assert close(n["probabilities"][channel], expected)
                        z = np.array(n["logits"])
                        assert close(float(np.exp(z[channel] - z.max()) / np.exp(z - z.max()).sum()),
                                     expected)
                        assert close(n["logits"][channel], n["pre_activation"])
                    else:
                        assert close(activation(model, layer.name, n["pre_activation"]), expected)
                checked.add(kind)
    assert checked >= ({"Conv2D", "MaxPooling2D", "Dense"} if model_id == "mnist_digits"
                       else set(CONVS + POOLS + ("Dense",)))


@pytest.mark.parametrize(("model_id", "layer"), [("mnist_digits", "conv4"),
                                                  ("cifar_explained", "depthwise")])
def test_receptive_field_by_perturbing_pixels(explained, model_id, layer):
    """A deep cell's field in the input, against the model itself: no pixel outside the field
    changes the cell; pixels on each of the field's four edges do."""
    client, models, data = explained
    model = models[model_id]
    probe = keras.Model(model.inputs[0], model.get_layer(layer).output)
    x = data[model_id].x_test[5]
    out = np.asarray(probe(x[None]))[0]
    # The cell and channel that respond most: a live unit, so changes show.
    r, c, ch = (int(v) for v in np.unravel_index(int(np.argmax(out)), out.shape))
    body = {"input": {"test_index": 5}, "layer": layer, "channel": ch, "cell": [r, c]}
    field = client.post(f"/api/models/{model_id}/neuron", json=body).json()["input_field"]
    (r0, r1), (c0, c1) = field["rows"], field["cols"]
    h, w = x.shape[:2]
    assert (r1 - r0 + 1) * (c1 - c0 + 1) < h * w  # a deep cell, but not the whole image
    inside = np.zeros((h, w), bool)
    inside[r0:r1 + 1, c0:c1 + 1] = True
    rng = np.random.default_rng(1)
    for _ in range(5):
        noisy = x.copy()
        noisy[~inside] = rng.uniform(0, 1, (int((~inside).sum()), x.shape[2]))
        assert np.asarray(probe(noisy[None]))[0][r, c, ch] == pytest.approx(out[r, c, ch], abs=1e-5)
    edges = {"top": (slice(r0, r0 + 1), slice(c0, c1 + 1)), "bottom": (slice(r1, r1 + 1), slice(c0, c1 + 1)),
             "left": (slice(r0, r1 + 1), slice(c0, c0 + 1)), "right": (slice(r0, r1 + 1), slice(c1, c1 + 1))}
    for name, (rows, cols) in edges.items():
        changed = False
        for value in (1.0, 0.0, 0.5):
            noisy = x.copy()
            noisy[rows, cols] = rng.uniform(0, 1, noisy[rows, cols].shape) * value + (1 - value)
            changed |= abs(float(np.asarray(probe(noisy[None]))[0][r, c, ch]) - float(out[r, c, ch])) > 1e-6
        assert changed, f"the field's {name} edge does not reach the cell: the field is too large"


def test_gradcam_looks_at_the_digit(explained):
    """Grad-CAM of the shipped model over 300 real test digits: most of its mass lies on the
    ink or within two pixels of it, far more than that region's share of the image; on the
    ink pixels themselves, well over their share too."""
    client, _, data = explained
    x_test = data["mnist_digits"].x_test
    near_mass, near_area, ink_mass, ink_area = [], [], [], []
    for i in range(300):
        r = client.post("/api/models/mnist_digits/saliency", json={"input": {"test_index": i}})
        assert r.status_code == 200, r.text
        body = r.json()
        heat = np.array(body["heatmap"])
        assert heat.shape == (28, 28) and heat.min() >= 0 and heat.max() == pytest.approx(1)
        assert body["class"] == body["label"] and body["layer"] == "conv4"
        ink = x_test[i][:, :, 0] > 0.2
        near = cv2.dilate(ink.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        near_mass.append(float((heat * near).sum() / heat.sum()))
        near_area.append(float(near.mean()))
        ink_mass.append(float((heat * ink).sum() / heat.sum()))
        ink_area.append(float(ink.mean()))
    print(f"Grad-CAM mass within 2 px of the ink {np.mean(near_mass):.1%} (area {np.mean(near_area):.1%}); "
          f"on the ink {np.mean(ink_mass):.1%} (area {np.mean(ink_area):.1%})")
    assert np.mean(near_mass) > 0.5
    assert np.mean(near_mass) > 1.3 * np.mean(near_area)
    assert np.mean(ink_mass) > 1.4 * np.mean(ink_area)


def test_saliency_for_any_class_and_both_methods(explained):
    client, _, _ = explained
    for method in ("gradcam", "gradient"):
        for cls in (0, 9):
            r = client.post("/api/models/cifar_explained/saliency",
                            json={"input": {"test_index": 2}, "method": method, "class": cls})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["class"] == cls and body["method"] == method
            assert np.array(body["heatmap"]).shape == (32, 32)
            assert body["overlay"].startswith("data:image/png;base64,")
            assert body["class_name"] == ["airplane", "truck"][cls == 9]


def test_overview_lists_every_layer(explained):
    client, models, data = explained
    r = client.post("/api/models/cifar_explained/explain", json={"input": {"test_index": 4}})
    assert r.status_code == 200, r.text
    body = r.json()
    model = models["cifar_explained"]
    names = [la.name for la in model.layers]
    assert [la["name"] for la in body["layers"]] == names  # the input first, every layer in order
    probs = np.asarray(model(data["cifar_explained"].x_test[4][None]))[0]
    assert np.allclose(body["prediction"]["probabilities"], probs, atol=1e-5)
    assert body["prediction"]["label"] == int(np.argmax(probs))
    by_name = {la["name"]: la for la in body["layers"]}
    assert len(by_name["sep"]["channels"]) == 8 and by_name["sep"]["values"] is None
    assert len(by_name["hidden"]["values"]) == 16 and by_name["hidden"]["channels"] is None
    assert by_name["bn"]["explained"] is False and by_name["conv_dil"]["explained"] is True


def test_the_input_object_everywhere(explained):
    """pixels, a data URL or a test image, on /predict and feature maps too."""
    client, _, data = explained
    x = data["mnist_digits"].x_test[0]
    by_index = client.post("/predict", json={"test_index": 0}).json()
    by_pixels = client.post("/predict", json={"pixels": (x[:, :, 0] * 255).round().tolist()}).json()
    assert by_index["label"] == by_pixels["label"] == int(data["mnist_digits"].y_test[0])
    maps = client.post("/api/models/cifar_explained/feature-maps", json={"test_index": 1})
    assert maps.status_code == 200 and maps.json()["model"] == "cifar_explained"
    r = client.post("/predict", json={"test_index": 0, "pixels": [[0]]})
    assert r.status_code == 422 and "exactly one" in r.text


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"layer": "conv9", "channel": 0, "cell": [0, 0]}, "layer", "no layer named 'conv9'"),
    ({"layer": "conv2", "channel": 32, "cell": [0, 0]}, "channel", "32 is out of range"),
    ({"layer": "conv2", "channel": 0, "cell": [24, 0]}, "cell", "outside conv2's 24×24 map"),
    ({"layer": "conv2", "channel": 0}, "cell", "give the cell"),
    ({"layer": "dense", "channel": 128}, "channel", "128 units"),
    ({"layer": "dense", "channel": 1, "cell": [0, 0]}, "cell", "outputs a vector"),
])
def test_bad_neurons_name_the_field(explained, body, field, words):
    client, _, _ = explained
    r = client.post("/api/models/mnist_digits/neuron", json={"input": {"test_index": 0}, **body})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"][0]
    assert detail["loc"][-1] == field and words in detail["msg"], detail


def test_bad_inputs_and_classes(explained):
    client, _, _ = explained
    r = client.post("/api/models/mnist_digits/saliency", json={"input": {"test_index": 0}, "class": 10})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "class"
    r = client.post("/api/models/mnist_digits/explain", json={"input": {"test_index": 5000}})
    assert r.status_code == 422 and "1000 test images here" in r.json()["detail"][0]["msg"]
    r = client.post("/api/models/nope/explain", json={"input": {"test_index": 0}})
    assert r.status_code == 404
    r = client.post("/api/models/mnist_digits/explain", json={"input": {}})
    assert r.status_code == 422


def test_missing_dataset_files_are_named(tmp_path, monkeypatch):
    """A dataset whose files are not here: test images are refused with the setting to fix."""
    from app.config import Settings
    from app.datasets.catalog import DatasetCatalog
    from app.errors import InvalidInput
    from app.networks import inputs
    from app.networks.registry import ModelInfo

    monkeypatch.setenv("HOME", str(tmp_path))  # no Keras download cache either
    info = ModelInfo("m", "m", "fashion_mnist", (28, 28, 1), False, None, "", [str(i) for i in range(10)])
    with pytest.raises(InvalidInput) as err:
        inputs.ModelInputs(Settings(data_dir=tmp_path), DatasetCatalog(tmp_path)).test_image(info, 0)
    assert err.value.field == "test_index" and "CNNPG_DATASETS_DIR" in err.value.message


def test_two_users_explaining_different_models_at_once(explained):
    """Concurrent explanations of two models: each gets the answer it gets alone."""
    client, _, _ = explained
    asks = {m: {"input": {"test_index": 6}, "layer": layer, "channel": 1, "cell": [2, 3]}
            for m, layer in (("mnist_digits", "conv3"), ("cifar_explained", "sep"))}
    alone = {m: client.post(f"/api/models/{m}/neuron", json=body).json() for m, body in asks.items()}
    got: dict[str, list] = {m: [] for m in asks}

    def user(model_id: str) -> None:
        own = client.pg.new_client()
        for _ in range(15):
            got[model_id].append(own.post(f"/api/models/{model_id}/neuron",
                                          json=asks[model_id]).json())

    threads = [threading.Thread(target=user, args=(m,)) for m in asks for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for m in asks:
        assert len(got[m]) == 30 and all(answer == alone[m] for answer in got[m])


@pytest.mark.parametrize("method", ["gradient", "gradcam"])
def test_a_models_first_heatmap_equals_its_later_ones_and_keras(explained, method):
    """A model's first heatmap is computed eagerly, its second traces the function that
    computes the rest: all three are the same, and the input gradient is the one Keras
    gives for the class's score before the softmax."""
    from app.networks.explain import Explainer

    client, models, data = explained
    loaded = client.pg.services.models.get("cifar_explained")
    fresh = Explainer(loaded)  # its gradients not yet computed, nor traced
    x = data["cifar_explained"].x_test[4].astype(np.float32)
    heats = [fresh.saliency(x, method, 3, overlay=False).heatmap for _ in range(3)]
    for later in heats[1:]:
        np.testing.assert_allclose(later, heats[0], atol=1e-5)
    if method == "gradient":
        import tensorflow as tf

        model = models["cifar_explained"]
        last = model.layers[-1]
        before_softmax = keras.Model(model.inputs[0], last.input)
        kernel, bias = (np.asarray(w) for w in last.weights)
        xt = tf.constant(x[None])
        with tf.GradientTape() as tape:
            tape.watch(xt)
            score = tf.matmul(before_softmax(xt, training=False), kernel)[0, 3] + bias[3]
        want = np.abs(np.asarray(tape.gradient(score, xt))[0]).max(axis=2)
        np.testing.assert_allclose(heats[0], want / want.max(), atol=1e-4)
