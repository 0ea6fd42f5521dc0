"""/predict, TF Serving's REST API and feature maps, against a real server and the shipped model."""

from __future__ import annotations

import base64
import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from tests.digits_data import as_canvas_png, encode, mnist_test
from tests.test_api_kernel_lab import png_claiming


def upload(data: bytes, mime: str = "image/png") -> dict:
    return {"file": ("upload", data, mime)}


def predict_file(client, data: bytes, name="digit.png", mime="image/png", **params):
    return client.post("/predict", params=params, files={"file": (name, data, mime)})


def test_canvas_renderings_of_real_digits_are_read(client):
    """At least 98% of 300 real MNIST test digits, sent as a 280×280 canvas PNG would be."""
    x, y = mnist_test()
    n = 300
    with ThreadPoolExecutor(4) as pool:
        labels = list(pool.map(lambda d: predict_file(client, as_canvas_png(d)).json()["label"],
                               x[:n]))
    accuracy = float(np.mean(np.array(labels) == y[:n]))
    assert accuracy >= 0.98, accuracy


def test_response_shape(client):
    x, y = mnist_test()
    body = predict_file(client, as_canvas_png(x[0])).json()
    assert set(body) >= {"label", "probabilities", "model"}
    assert body["model"] == "mnist_digits" and body["label"] == int(y[0])
    assert len(body["probabilities"]) == 10 and sum(body["probabilities"]) == pytest.approx(1, abs=1e-3)
    assert body["probabilities"][body["label"]] == max(body["probabilities"])


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "GIF"])
def test_other_formats(client, fmt):
    x, y = mnist_test()
    img = Image.fromarray(255 - x[1]).resize((280, 280))
    r = predict_file(client, encode(img, fmt), f"d.{fmt.lower()}", "application/octet-stream")
    assert r.status_code == 200 and r.json()["label"] == int(y[1])


def test_json_pixels_in_either_polarity(client):
    x, y = mnist_test()
    for pixels in (x[2], 255 - x[2]):
        r = client.post("/predict", json={"pixels": pixels.tolist()})
        assert r.status_code == 200 and r.json()["label"] == int(y[2])


def test_json_data_url(client):
    x, y = mnist_test()
    url = "data:image/png;base64," + base64.b64encode(as_canvas_png(x[3])).decode()
    r = client.post("/predict", json={"image": url})
    assert r.status_code == 200 and r.json()["label"] == int(y[3])


def test_transparent_canvas_with_white_ink(client):
    """A canvas with no background: white strokes on transparent pixels."""
    x, y = mnist_test()
    ink = np.asarray(Image.fromarray(x[4]).resize((280, 280)))
    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[..., 3] = ink
    r = predict_file(client, encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert r.json()["label"] == int(y[4])


def test_phone_photo_of_paper(client):
    """A large, off-white, noisy, rotated-by-EXIF JPEG of a dark digit on paper."""
    x, y = mnist_test()
    digit = np.asarray(Image.fromarray(x[5]).resize((600, 600), Image.Resampling.BICUBIC), np.float32)
    rng = np.random.default_rng(5)
    paper = 200 + rng.normal(0, 6, size=(1200, 900))
    paper[300:900, 150:750] -= digit * 0.65
    photo = Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8)).convert("RGB")
    # Stored sideways with EXIF orientation 6 (rotate 90° clockwise to display).
    stored = photo.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    r = predict_file(client, encode(stored, "JPEG", quality=85, exif=exif), "photo.jpg", "image/jpeg")
    assert r.status_code == 200, r.text
    assert r.json()["label"] == int(y[5])


def test_concurrent_requests_each_get_their_own_answer(client):
    x, _ = mnist_test()
    digits = x[10:42]
    sequential = [predict_file(client, as_canvas_png(d)).json()["probabilities"] for d in digits]
    with ThreadPoolExecutor(16) as pool:
        concurrent = list(pool.map(lambda d: predict_file(client, as_canvas_png(d)).json()
                                   ["probabilities"], digits))
    np.testing.assert_allclose(concurrent, sequential, atol=1e-5)


# ------------------------------------------------------------------ TensorFlow Serving

def test_tf_serving_row_and_columnar_formats(client):
    x, y = mnist_test()
    batch = (x[:3] / 255.0)[..., None].tolist()  # (3, 28, 28, 1), the model's own input
    r = client.post("/v1/models/mnist_digits:predict",
                    json={"signature_name": "serving_default", "instances": batch})
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert [int(np.argmax(p)) for p in preds] == y[:3].tolist()
    # The columnar format answers as TF Serving does: the output tensor under "outputs".
    r2 = client.post("/v1/models/mnist_digits:predict", json={"inputs": {"image": batch}})
    np.testing.assert_allclose(r2.json()["outputs"], preds, atol=1e-6)
    r3 = client.post("/v1/models/mnist_digits:predict", json={"instances": [{"image": b} for b in batch]})
    np.testing.assert_allclose(r3.json()["predictions"], preds, atol=1e-6)
    # 28×28 without the channel axis, as many clients send MNIST.
    r4 = client.post("/v1/models/mnist_digits:predict", json={"instances": (x[:3] / 255.0).tolist()})
    np.testing.assert_allclose(r4.json()["predictions"], preds, atol=1e-6)


def test_tf_serving_status_and_metadata(client):
    status = client.get("/v1/models/mnist_digits").json()
    assert status["model_version_status"][0]["state"] == "AVAILABLE"
    meta = client.get("/v1/models/mnist_digits/metadata").json()
    sig = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert [d["size"] for d in sig["inputs"]["image"]["tensor_shape"]["dim"]] == ["-1", "28", "28", "1"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"instances": [[[0.0] * 27] * 28]}, "shape [28, 28, 1]"),
        ({"instances": [[[0.0] * 28] * 28], "inputs": []}, "exactly one"),
        ({"instances": [[["a"] * 28] * 28]}, "numbers"),
        ({"instances": []}, "at least 1 item"),
        ({"nothing": 1}, "nothing: Extra inputs are not permitted"),
        ({}, "exactly one"),
    ],
)
def test_tf_serving_bad_bodies(client, body, fragment):
    r = client.post("/v1/models/mnist_digits:predict", json=body)
    assert r.status_code == 400 and fragment in r.json()["error"]


def test_tf_serving_unknown_model(client):
    r = client.post("/v1/models/resnet:predict", json={"instances": [[[0.0] * 28] * 28]})
    assert r.status_code == 404 and "Servable not found" in r.json()["error"]


# ------------------------------------------------------------------ models and feature maps

def test_model_registry_lists_the_shipped_model(client):
    models = client.get("/api/models").json()
    shipped = models[0]
    assert shipped["id"] == "mnist_digits" and shipped["shipped"] is True
    assert shipped["test_accuracy"] >= 0.993
    detail = client.get("/api/models/mnist_digits").json()
    assert detail["architecture"]["layers"][0]["type"] == "Conv2D"
    assert client.delete("/api/models/mnist_digits").status_code == 403
    assert client.get("/api/models/mnist_digits").status_code == 200  # still there


def test_download_loads_with_keras(client, tmp_path):
    import keras

    r = client.get("/api/models/mnist_digits/download")
    assert r.status_code == 200
    path = tmp_path / "m.keras"
    path.write_bytes(r.content)
    model = keras.saving.load_model(path, compile=False, safe_mode=True)
    x, y = mnist_test()
    probs = model(x[:20, :, :, None].astype("float32") / 255.0, training=False)
    assert (np.argmax(probs, axis=1) == y[:20]).mean() >= 0.95


def test_feature_maps_of_every_layer(client):
    x, y = mnist_test()
    r = client.post("/api/models/mnist_digits/feature-maps", files=upload(as_canvas_png(x[7])))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["label"] == int(y[7])
    layers = [(lay["name"], lay["type"], lay["shape"], len(lay["channels"])) for lay in body["layers"]]
    assert layers == [
        ("conv1", "Conv2D", [26, 26, 32], 32), ("conv2", "Conv2D", [24, 24, 32], 32),
        ("pool1", "MaxPooling2D", [12, 12, 32], 32), ("conv3", "Conv2D", [10, 10, 64], 64),
        ("conv4", "Conv2D", [8, 8, 64], 64), ("pool2", "MaxPooling2D", [4, 4, 64], 64),
    ]
    first = Image.open(io.BytesIO(base64.b64decode(body["layers"][0]["channels"][0].split(",")[1])))
    assert first.size == (26, 26)
    assert body["kernels"]["layer"] == "conv1" and body["kernels"]["shape"] == [3, 3, 1, 32]
    assert len(body["kernels"]["weights"]) == 32 and np.array(body["kernels"]["weights"][0]).shape == (3, 3)
    assert body["input"].startswith("data:image/png;base64,")


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize(
    ("kwargs", "status", "field", "fragment"),
    [
        ({"files": upload(b"")}, 422, "file", "empty"),
        ({"files": upload(as_canvas_png(mnist_test()[0][0])[:200])}, 422, "file", "truncated"),
        ({"files": upload(b"hello, not an image at all", "text/plain")}, 422, "file", "not an image"),
        ({"files": upload(png_claiming(50_000, 50_000))}, 413, "file", "limit of 40000000 pixels"),
        ({"files": upload(b"\x89PNG" + b"\0" * (16 << 20))}, 413, "file", "upload limit"),
        ({"files": upload(encode(Image.new("L", (280, 280), 255), "PNG"))}, 422, "file", "no digit found"),
        ({"json": {"pixels": [[0] * 28, [0] * 27]}}, 422, "pixels", "ragged"),
        ({"json": {"pixels": [[300] * 28] * 28}}, 422, 0, "less than or equal to 255"),
        ({"json": {"pixels": [[-1] * 28] * 28}}, 422, 0, "greater than or equal to 0"),
        ({"json": {"pixels": [[0] * 28] * 28}}, 422, "pixels", "no digit found"),
        ({"json": {"pixels": [[[0, 0]] * 28] * 28}}, 422, "pixels", "C 1, 3 or 4"),
        ({"json": {"image": "data:text/plain;base64,aGVsbG8="}}, 422, "image", "should match pattern"),
        ({"json": {"image": "data:image/png;base64,aGVsbG8="}}, 422, "image", "not an image"),
        ({"json": {"image": "data:image/png;base64,a"}}, 422, "image", "malformed"),
        ({"json": {}}, 422, "body", "exactly one"),
        ({"json": {"pixels": [[0]], "image": "data:image/png;base64,"}}, 422, "body", "exactly one"),
    ],
)
def test_bad_input(client, kwargs, status, field, fragment):
    r = client.post("/predict", **kwargs)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert detail[0]["loc"][-1] == field, detail
    assert fragment in detail[0]["msg"]


def test_nan_pixels(client):
    raw = '{"pixels": [' + ",".join(["[" + ",".join(["NaN"] * 28) + "]"] * 28) + "]}"
    r = client.post("/predict", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422 and "finite number" in r.text


@pytest.mark.parametrize(("model", "status"), [("no_such_model", 404), ("../../etc/passwd", 422),
                                               ("a" * 65, 422), ("%2e%2e", 422)])
def test_unknown_or_malformed_model(client, model, status):
    x, _ = mnist_test()
    r = client.post("/predict", params={"model": model}, json={"pixels": x[0].tolist()})
    assert r.status_code == status, r.text
    assert r.json()["detail"][0]["loc"] == ["query", "model"]
