"""What each channel looks for (issue 17): dataset examples against Keras' own layer
outputs, the feature visualization against every test image, the adversarial budget, the
embedding's separation, occlusion's shape, the refusals; then the same for an uploaded
model on an uploaded dataset and for a trained job's model, and the pages.

Lean by design: the session application (1,000 MNIST test digits), a few channels, one
t-SNE map of the 1,000; the budgets themselves are measured by bench/insight.py."""

from __future__ import annotations

import gc
import time

import keras
import numpy as np
import pytest

from tests.conftest import DATA, wait_job
from tests.dataset_zips import cifar_zip
from tests.explain_models import randomize

MODEL = "mnist_digits"


@pytest.fixture(scope="module")
def mnist():
    with np.load(DATA / "mnist.npz") as f:
        return (f["x_test"].astype(np.float32) / 255)[..., None], f["y_test"]


@pytest.fixture(scope="module")
def shipped(playground):
    return playground.services.models.get(MODEL).model


def layer_output(model, layer: str, x: np.ndarray) -> np.ndarray:
    return keras.Model(model.inputs[0], model.get_layer(layer).output).predict(x, verbose=0)


def five_nn_accuracy(points: list[dict]) -> float:
    """Leave-one-out accuracy of the 5 nearest neighbours' majority on the map."""
    xy = np.array([[p["x"], p["y"]] for p in points])
    labels = np.array([p["label"] for p in points])
    d = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    near = np.argsort(d, axis=1)[:, :5]
    votes = np.array([np.bincount(labels[row], minlength=labels.max() + 1).argmax()
                      for row in near])
    return float((votes == labels).mean())


# ---------------------------------------------------------------------- the shipped model


def test_examples_are_the_test_images_with_the_highest_maximum(client, shipped, mnist):
    x, y = mnist
    r = client.get(f"/api/models/{MODEL}/layers/conv2/channels/5/examples?k=9")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["layer"], body["channel"], body["searched"]) == ("conv2", 5, len(x))
    out = layer_output(shipped, "conv2", x)[..., 5]  # (N, 24, 24)
    maxima = out.reshape(len(x), -1).max(axis=1)
    got = body["examples"]
    assert [e["index"] for e in got] == np.argsort(-maxima, kind="stable")[:9].tolist()
    for e in got:
        i = e["index"]
        assert e["activation"] == pytest.approx(float(maxima[i]), rel=1e-5, abs=1e-6)
        r_, c_ = e["cell"]
        assert out[i, r_, c_] == pytest.approx(float(maxima[i]), rel=1e-5, abs=1e-6)
        assert e["label"] == int(y[i]) and e["patch"].startswith("data:image/png;base64,")
        # conv1 and conv2 are 3×3 "valid": a cell of conv2 sees 5×5 input pixels from its own
        assert e["input_field"] == {"rows": [r_, r_ + 4], "cols": [c_, c_ + 4]}
    acts = [e["activation"] for e in got]
    assert acts == sorted(acts, reverse=True)
    # the second time the layer's pass is not run again
    start = time.perf_counter()
    again = client.get(f"/api/models/{MODEL}/layers/conv2/channels/7/examples").json()
    assert time.perf_counter() - start < 1.0 and len(again["examples"]) == 9


def test_the_visualization_excites_its_channel_more_than_any_test_image(client, shipped, mnist):
    x, _ = mnist
    r = client.get(f"/api/models/{MODEL}/layers/conv3/channels/2/visualization")
    assert r.status_code == 200, r.text
    body = r.json()
    pixels = np.array(body["pixels"], np.float32)
    assert pixels.shape == (28, 28) and pixels.min() >= 0 and pixels.max() <= 255
    assert np.array_equal(pixels, np.rint(pixels))  # whole levels, as a client sends them
    mine = layer_output(shipped, "conv3", (pixels / 255)[None, :, :, None])[0, ..., 2]
    assert body["activation"] == pytest.approx(float(mine.mean()), rel=1e-4, abs=1e-5)
    on_tests = layer_output(shipped, "conv3", x)[..., 2].mean(axis=(1, 2))
    assert body["activation"] > on_tests.max()
    assert body["image"].startswith("data:image/png;base64,")


def test_the_visualization_is_seeded(playground):
    from app.networks import explain
    from app.networks.insight.cache import InsightCache
    from app.networks.insight.visualization import visualize

    loaded = playground.services.models.get(MODEL)
    node = explain.explainer(loaded).by_name["conv1"]
    a, b = (visualize(loaded, node, [3], InsightCache(), steps=20)[0] for _ in range(2))
    assert np.array_equal(a.pixels, b.pixels) and a.activation == b.activation


@pytest.mark.parametrize(("method", "epsilon", "target"), [("fgsm", 0.25, None), ("pgd", 0.2, None),
                                                          ("pgd", 0.3, 3)])
def test_an_adversarial_example_keeps_its_budget_and_is_predicted_as_said(
        client, shipped, method, epsilon, target):
    body = {"input": {"test_index": 0}, "epsilon": epsilon, "method": method}
    if target is not None:
        body["class"] = target
    r = client.post(f"/api/models/{MODEL}/adversarial", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    with np.load(DATA / "mnist.npz") as f:
        original = f["x_test"][0].astype(np.float64)
    adv = np.array(out["pixels"], np.float64)
    assert adv.shape == (28, 28) and adv.min() >= 0 and adv.max() <= 255
    assert np.abs(adv - original).max() <= 255 * epsilon + 1e-6
    assert out["linf"] == pytest.approx(np.abs(adv - original).max())
    probs = shipped.predict((adv / 255).astype(np.float32)[None, ..., None], verbose=0)[0]
    assert int(np.argmax(probs)) == out["adversarial"]["label"]
    assert out["original"]["label"] == 7  # test image 0 is a 7
    if method == "pgd":  # PGD at these budgets fools the shipped model
        assert out["success"]
        assert out["adversarial"]["label"] == (target if target is not None else
                                               out["adversarial"]["label"]) != 7
    assert out["perturbation"].startswith("data:image/png") and out["image"].startswith("data:")


def test_the_embedding_keeps_the_classes_apart(client):
    r = client.post(f"/api/models/{MODEL}/embedding", json={"count": 1000})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["layer"], body["method"]) == ("dense", "tsne")
    points = body["points"]
    assert len(points) == 1000 and [p["index"] for p in points] == list(range(1000))
    assert all(0 <= p["x"] <= 1 and 0 <= p["y"] <= 1 for p in points)
    assert np.mean([p["label"] == p["prediction"] for p in points]) > 0.97
    assert five_nn_accuracy(points) >= 0.9


def test_occlusion_is_a_third_saliency_method(client):
    r = client.post(f"/api/models/{MODEL}/saliency", json={"input": {"test_index": 0},
                                                            "method": "occlusion"})
    assert r.status_code == 200, r.text
    body = r.json()
    heat = np.array(body["heatmap"])
    assert heat.shape == (28, 28) and heat.min() >= 0 and heat.max() == pytest.approx(1.0)
    assert (body["method"], body["patch"], body["stride"], body["layer"]) == ("occlusion", 7, 2, None)
    assert body["overlay"].startswith("data:image/png")
    small = client.post(f"/api/models/{MODEL}/saliency", json={
        "input": {"test_index": 0}, "method": "occlusion", "patch": 4, "stride": 4}).json()
    assert (small["patch"], small["stride"]) == (4, 4)
    # the digit's strokes matter more than the empty corners
    assert heat[8:20, 8:20].mean() > heat[:4, :4].mean()
    bad = client.post(f"/api/models/{MODEL}/saliency", json={
        "input": {"test_index": 0}, "method": "occlusion", "patch": 40})
    assert bad.status_code == 422 and "patch" in bad.text


def test_what_cannot_be_shown_says_why(client):
    r = client.get(f"/api/models/{MODEL}/layers/nope/channels/0/examples")
    assert r.status_code == 404 and "nope" in r.text and "conv1" in r.text
    r = client.get(f"/api/models/{MODEL}/layers/conv1/channels/32/visualization")
    assert r.status_code == 404 and "channel 32" in r.text
    r = client.get(f"/api/models/{MODEL}/layers/dense/channels/0/examples")
    assert r.status_code == 422
    assert "conv1, conv2, pool1, conv3, conv4, pool2" in r.json()["detail"][0]["msg"]
    r = client.post(f"/api/models/{MODEL}/adversarial",
                    json={"input": {"test_index": 0}, "epsilon": 1.5})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "epsilon"]
    r = client.post(f"/api/models/{MODEL}/adversarial",
                    json={"input": {"test_index": 0}, "epsilon": 0.1, "class": 10})
    assert r.status_code == 422 and "class" in r.text
    r = client.post(f"/api/models/{MODEL}/embedding", json={"layer": "nope"})
    assert r.status_code == 404 and "nope" in r.text
    assert client.get("/api/models/gone/layers/conv1/channels/0/examples").status_code == 404


# ------------------------------------------------- an uploaded model, dataset, and job


def small_rgb_model(side: int, classes: int) -> keras.Model:
    keras.utils.set_random_seed(7)
    model = keras.Sequential([
        keras.Input((side, side, 3)),
        keras.layers.Conv2D(4, 3, activation="relu", name="c1"),
        keras.layers.MaxPooling2D(2, name="p1"),
        keras.layers.Conv2D(6, 3, activation="relu", name="c2"),
        keras.layers.GlobalAveragePooling2D(name="gap"),
        keras.layers.Dense(classes, activation="softmax", name="out")], name="small_rgb")
    return randomize(model, 7)


@pytest.fixture(scope="module")
def uploaded(playground, tmp_path_factory):
    """A dataset of CIFAR photos (3 classes, 16×16) and a model uploaded for it, and the
    same model uploaded without naming a dataset."""
    c = playground.new_client()
    r = c.post("/api/datasets", data={"name": "insight cifar", "image_size": "16", "color": "rgb"},
               files={"file": ("cifar.zip", cifar_zip(), "application/zip")})
    assert r.status_code == 201, r.text
    dataset = r.json()["id"]
    path = tmp_path_factory.mktemp("insight") / "small.keras"
    small_rgb_model(16, 3).save(path)
    ids = []
    for fields in ({"dataset": dataset}, {}):
        r = c.post("/api/models", data=fields,
                   files={"file": ("small.keras", path.read_bytes(), "application/octet-stream")})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return {"dataset": dataset, "model": ids[0], "bare": ids[1], "client": c}


def test_an_uploaded_model_on_an_uploaded_dataset(playground, uploaded):
    c, model = uploaded["client"], uploaded["model"]
    data = playground.services.datasets.load(uploaded["dataset"])
    keras_model = playground.services.models.get(model).model
    r = c.get(f"/api/models/{model}/layers/c2/channels/1/examples?k=5")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["searched"] == len(data.x_test) and body["dataset"] == uploaded["dataset"]
    maxima = layer_output(keras_model, "c2", data.x_test)[..., 1].reshape(len(data.x_test), -1).max(1)
    assert [e["index"] for e in body["examples"]] == np.argsort(-maxima, kind="stable")[:5].tolist()
    assert body["examples"][0]["activation"] == pytest.approx(float(maxima.max()), rel=1e-5)
    assert body["examples"][0]["class_name"] in ("airplane", "frog", "truck")
    vis = c.get(f"/api/models/{model}/layers/c1/channels/2/visualization").json()
    assert np.array(vis["pixels"]).shape == (16, 16, 3)
    emb = c.post(f"/api/models/{model}/embedding", json={"method": "pca"}).json()
    assert emb["layer"] == "gap" and len(emb["points"]) == len(data.x_test)
    adv = c.post(f"/api/models/{model}/adversarial", json={
        "input": {"test_index": 0}, "epsilon": 0.05, "method": "fgsm"}).json()
    pixels = np.array(adv["pixels"])
    assert pixels.shape == (16, 16, 3)
    assert np.abs(pixels - data.x_test[0] * 255).max() <= 0.05 * 255 + 1e-6
    probs = keras_model.predict((pixels / 255).astype(np.float32)[None], verbose=0)[0]
    assert int(np.argmax(probs)) == adv["adversarial"]["label"]


def test_a_model_without_its_dataset_is_told_how_to_attach_one(uploaded):
    c, bare = uploaded["client"], uploaded["bare"]
    for r in (c.get(f"/api/models/{bare}/layers/c1/channels/0/examples"),
              c.post(f"/api/models/{bare}/embedding", json={})):
        assert r.status_code == 409 and "attach one" in r.json()["detail"]
        assert "POST /api/models" in r.json()["detail"]
    # the visualization and attacks need no dataset
    assert c.get(f"/api/models/{bare}/layers/c1/channels/0/visualization").status_code == 200
    # the channel's panel shows the visualization and says why there are no examples
    html = poll(c, f"/insight/channel/panel?model={bare}&layer=c1&channel=0")
    assert "attach one" in html and 'class="insight-vis"' in html


def poll(c, url: str, timeout: float = 120) -> str:
    """An htmx partial that shows progress until it is ready, asked for until it is."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = c.get(url, headers={"HX-Request": "true"})
        assert r.status_code == 200, r.text
        if "insight-progress" not in r.text:
            return r.text
        assert 'hx-trigger="load delay:500ms"' in r.text and "<progress" in r.text
        time.sleep(0.2)
    raise AssertionError(f"{url} still computing after {timeout} s")


def test_a_trained_jobs_model_and_its_caches_going_with_it(playground):
    from app.networks.insight.cache import cached_models

    c = playground.new_client()
    r = c.post("/api/jobs", json={"dataset": "mnist", "architecture": {
        "name": "insight_tiny", "input_shape": [28, 28, 1], "layers": [
            {"type": "Conv2D", "filters": 4, "kernel_size": 3, "activation": "relu"},
            {"type": "MaxPooling2D", "pool_size": 2}, {"type": "Flatten"},
            {"type": "Dense", "units": 10, "activation": "softmax"}]},
        "training": {"epochs": 1, "train_samples": 600, "validation_split": 0.1, "seed": 3}})
    assert r.status_code == 202, r.text
    token = r.headers["x-owner-token"]
    job = wait_job(c, r.json()["id"])
    assert job["status"] == "succeeded", job["error"]
    model = job["result"]["model_id"]
    grid = poll(c, f"/insight/atlas/grid?model={model}&layer=conv2d")
    assert grid.count("<img") == 4
    assert f"/insight/channel?model={model}&amp;layer=conv2d&amp;channel=3" in grid
    ex = c.get(f"/api/models/{model}/layers/max_pooling2d/channels/3/examples?k=3").json()
    assert len(ex["examples"]) == 3 and ex["searched"] == 1000
    emb = c.post(f"/api/models/{model}/embedding", json={"count": 100, "method": "pca"}).json()
    assert emb["layer"] == "flatten" and len(emb["points"]) == 100
    assert model in cached_models()
    assert c.delete(f"/api/models/{model}", headers={"X-Owner-Token": token}).status_code == 204
    gc.collect()
    assert model not in cached_models()


# ---------------------------------------------------------------------------- pages


def test_the_channel_page_and_its_panel(client):
    page = client.get(f"/insight/channel?model={MODEL}&layer=conv2&channel=5")
    assert page.status_code == 200
    assert 'hx-get="/insight/channel/panel?model=mnist_digits&amp;layer=conv2&amp;channel=5"' in page.text
    html = poll(client, "/insight/channel/panel?model=mnist_digits&layer=conv2&channel=5")
    assert html.count('class="insight-img"') == 10  # nine examples and the visualization
    assert "/explain?model=mnist_digits&amp;source=test&amp;class=" in html
    assert "&amp;layer=conv2&amp;channel=5&amp;cell=" in html
    # a link naming what the model does not have opens the nearest state, and says so
    fixed = client.get(f"/insight/channel?model={MODEL}&layer=dense&channel=99")
    assert "dense outputs no spatial maps" in fixed.text and 'value="conv1"' in fixed.text
    assert "using 31" in fixed.text
    # an unknown layer in the panel: the page is told why
    assert "no layer named" in client.get(f"/insight/channel/panel?model={MODEL}&layer=x&channel=0",
                                          headers={"HX-Request": "true"}).text


def test_the_embedding_page_map_and_sprite(client):
    model_page = client.get(f"/models/{MODEL}").text
    assert f'href="/insight/embedding?model={MODEL}"' in model_page
    page = client.get(f"/insight/embedding?model={MODEL}&count=1000&method=tsne")
    assert page.status_code == 200 and "/insight/embedding/map?model=mnist_digits&amp;count=1000" in page.text
    html = poll(client, f"/insight/embedding/map?model={MODEL}&count=1000")
    assert 'id="embedding-canvas"' in html and "data-points='[[" in html
    sprite = client.get(f"/insight/embedding/sprite.png?model={MODEL}&count=1000")
    assert sprite.headers["content-type"] == "image/png"
    from io import BytesIO

    from PIL import Image

    assert Image.open(BytesIO(sprite.content)).size == (32 * 28, 32 * 28)


def test_the_attack_panel(client):
    panel = client.get(f"/insight/attack?model={MODEL}").text
    assert 'hx-include="#explain-form"' in panel and 'name="epsilon"' in panel
    html = client.post("/insight/attack", data={
        "model": MODEL, "source": "test", "index": "0", "class": "7", "method": "gradcam",
        "epsilon": "0.2", "attack": "pgd", "towards": ""}).text
    assert 'data-success="yes"' in html and html.count('class="insight-img"') == 3
    assert "/explain?model=mnist_digits&amp;source=upload&amp;px=" in html
    assert "Give the network an input first" in client.post(
        "/insight/attack", data={"model": MODEL, "source": "draw", "epsilon": "0.1"}).text
