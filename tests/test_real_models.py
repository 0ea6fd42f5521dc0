"""The models learners bring: Keras' own architectures (keras.applications, random weights,
10 classes), saved with model.save() and uploaded as a user would. Each is accepted,
predicts what Keras predicts on a real photo prepared in its input range, and every kind
of layer and operation in it is explained with the numbers Keras computes; the ones over a
limit are refused naming it."""

from __future__ import annotations

import io

import keras
import numpy as np
import pytest
from PIL import Image

from tests.dataset_zips import cifar

SIDE = 32  # the least keras.applications takes: quick forward passes, small pictures
RANGES = {"0-1": (0.0, 1.0), "0-255": (0.0, 255.0), "-1-1": (-1.0, 1.0)}
# (builder, the input range it reads, what its first layers say: sent, or left to them)
ACCEPTED = {
    "MobileNet": (keras.applications.MobileNet, "-1-1", True),
    "MobileNetV2": (keras.applications.MobileNetV2, "-1-1", True),
    "MobileNetV3Small": (keras.applications.MobileNetV3Small, "0-255", False),
    "MobileNetV3Large": (keras.applications.MobileNetV3Large, "0-255", False),
    "EfficientNetB0": (keras.applications.EfficientNetB0, "0-255", False),
    "EfficientNetV2B0": (keras.applications.EfficientNetV2B0, "0-255", False),
}
# Kinds of layers and operations whose neuron is checked against Keras, where a model has them.
CHECKED = ("Conv2D", "DepthwiseConv2D", "BatchNormalization", "ReLU", "Activation", "Add",
           "Multiply", "Rescaling", "Normalization", "GlobalAveragePooling2D", "Dense",
           "ZeroPadding2D", "Reshape", "Flatten")


def keras_bytes(model: keras.Model, tmp_path) -> bytes:
    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    return path.read_bytes()


def upload(client, data: bytes, name: str, **fields: str):
    return client.post("/api/models", data=fields,
                       files={"file": (f"{name}.keras", data, "application/octet-stream")})


def photo(side: int = SIDE) -> tuple[bytes, np.ndarray]:
    """A real CIFAR-10 photo as a PNG, and the 0–1 image the model is given."""
    x, _ = cifar()
    img = Image.fromarray(x[3]).resize((side, side), Image.Resampling.BOX)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue(), np.asarray(img, dtype=np.float32) / 255.0


def close(a: float, b: float, tol: float = 2e-4) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(b))


@pytest.mark.parametrize("name", list(ACCEPTED))
def test_a_real_architecture_is_accepted_predicted_and_explained(name, client, tmp_path):
    build, input_range, send_range = ACCEPTED[name]
    keras.utils.set_random_seed(1)
    model = build(weights=None, input_shape=(SIDE, SIDE, 3), classes=10)
    fields = {"input_range": input_range} if send_range else {}
    r = upload(client, keras_bytes(model, tmp_path), name, **fields)
    assert r.status_code == 201, r.text
    item = r.json()
    assert item["input_range"] == input_range and item["input_shape"] == [SIDE, SIDE, 3]
    model_id = item["id"]
    card = client.get(f"/models/{model_id}").text  # the model card says which pixels it reads
    shown = {"-1-1": "−1–1", "0-255": "0–255"}[input_range]
    assert f'<dd id="model-range">{shown} ' in card

    # /predict with a photo: what Keras gives for the photo in the model's range.
    png, unit = photo()
    lo, hi = RANGES[input_range]
    x = (unit * (hi - lo) + lo).astype(np.float32)
    want = np.asarray(model(x[None], training=False))[0]
    r = client.post("/predict", params={"model": model_id},
                    files={"file": ("p.png", png, "image/png")})
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json()["probabilities"], want, atol=2e-4)

    # Explain: the overview lists every layer and operation; one neuron of each kind equals
    # Keras' output there, and its breakdown adds up to it.
    body = {"input": {"image": "data:image/png;base64," + __import__("base64").b64encode(png).decode()}}
    overview = client.post(f"/api/models/{model_id}/explain", json=body)
    assert overview.status_code == 200, overview.text
    listed = overview.json()["layers"]
    ops = [op for op in model.operations if type(op).__name__ != "InputLayer"]
    assert [la["name"] for la in listed[1:]] == [op.name for op in ops]
    picks = {}
    for op in ops:
        kind = type(op).__name__
        key = kind + (" op" if type(op).__module__.startswith("keras.src.ops") else "")
        if (kind in CHECKED or key.endswith(" op")) and key not in picks:
            picks[key] = op
    outs = keras.Model(model.inputs[0], [op.output for op in picks.values()])(x[None], training=False)
    outs = [outs] if len(picks) == 1 else outs
    for (key, op), out in zip(picks.items(), outs, strict=True):
        out = np.asarray(out)[0]
        where = (*(min(2, d - 1) for d in out.shape[:-1]), min(3, out.shape[-1] - 1))
        ask = {**body, "layer": op.name, "channel": where[-1]}
        if out.ndim == 3:
            ask["cell"] = list(where[:2])
        r = client.post(f"/api/models/{model_id}/neuron", json=ask)
        assert r.status_code == 200, (key, r.text)
        n = r.json()
        assert close(n["output"], float(out[where])), (key, n["output"], float(out[where]))
        for computed in ("activated", "computed"):
            if n.get(computed) is not None:
                assert close(n[computed], n["output"], 5e-4), (key, n)
    assert {"Conv2D", "BatchNormalization", "Dense" if "Dense" in picks else "Conv2D"} <= set(picks)

    # Grad-CAM picks a layer with maps larger than 1×1 by itself.
    r = client.post(f"/api/models/{model_id}/saliency", json=body)
    assert r.status_code == 200, r.text
    cam = r.json()
    chosen = model.get_layer(cam["layer"])
    assert chosen.output.shape[1] * chosen.output.shape[2] > 1
    assert np.array(cam["heatmap"]).shape == (SIDE, SIDE)
    assert client.delete(f"/api/models/{model_id}").status_code == 204


def test_a_range_the_first_layers_contradict_needs_insisting(client, tmp_path):
    keras.utils.set_random_seed(2)
    model = keras.applications.MobileNetV3Small(weights=None, input_shape=(32, 32, 3), classes=4)
    data = keras_bytes(model, tmp_path)
    r = upload(client, data, "v3", input_range="0-1")
    assert r.status_code == 422, r.text
    msg = r.json()["detail"][0]
    assert msg["loc"][-1] == "input_range" and "Rescaling" in msg["msg"] and "insist" in msg["msg"]
    r = upload(client, data, "v3", input_range="0-1", insist="true")
    assert r.status_code == 201 and r.json()["input_range"] == "0-1"
    client.delete(f"/api/models/{r.json()['id']}")


@pytest.mark.parametrize(("build", "limit"), [
    (keras.applications.NASNetMobile, "CNNPG_MAX_UPLOAD_LAYERS"),
    (keras.applications.DenseNet121, "CNNPG_MAX_PARAMS"),
])
def test_architectures_over_a_limit_are_refused_naming_it(build, limit, client, tmp_path):
    model = build(weights=None, input_shape=(32, 32, 3), classes=10)
    before = {m["id"] for m in client.get("/api/models").json()}
    r = upload(client, keras_bytes(model, tmp_path), model.name)
    assert r.status_code == 422, r.text
    assert limit in r.json()["detail"][0]["msg"]
    assert {m["id"] for m in client.get("/api/models").json()} == before
