"""TensorFlow Serving's REST API as TF Serving answers it: status, metadata (`signature_def`
as TF Serving writes it), `:predict` in the row and columnar formats with any content type
(curl -d sends a form's), errors as `{"error": …}`; driven by plain `requests` against a
real uvicorn and compared with Keras on the same tensor."""

from __future__ import annotations

import json

import numpy as np
import pytest
import requests

from tests.conftest import ROOT
from tests.digits_data import mnist_test

MODEL = "mnist_digits"


@pytest.fixture(scope="module")
def keras_model(playground):
    # Not while the application's warm-up thread imports TensorFlow: two threads importing
    # it at once deadlock in Python's import locks.
    assert playground.services.models.warmed.wait(120)
    import keras

    return keras.saving.load_model(ROOT / "models" / "mnist_digits.keras", safe_mode=True)


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    x, _ = mnist_test()
    return (x[:4] / 255.0).astype(np.float32)[..., None]


def test_status_as_tf_serving_writes_it(server):
    r = requests.get(f"{server.url}/v1/models/{MODEL}", timeout=10)
    assert r.json() == {"model_version_status": [{"version": "1", "state": "AVAILABLE", "status": {
        "error_code": "OK", "error_message": ""}}]}


def test_metadata_as_tf_serving_writes_it(server):
    meta = requests.get(f"{server.url}/v1/models/{MODEL}/metadata", timeout=10).json()
    assert meta["model_spec"] == {"name": MODEL, "signature_name": "", "version": "1"}
    signature = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["method_name"] == "tensorflow/serving/predict"
    image = signature["inputs"]["image"]
    assert image == {"dtype": "DT_FLOAT", "name": "serving_default_image:0", "tensor_shape": {
        "dim": [{"size": s, "name": ""} for s in ("-1", "28", "28", "1")], "unknown_rank": False}}
    probs = signature["outputs"]["probabilities"]
    assert [d["size"] for d in probs["tensor_shape"]["dim"]] == ["-1", "10"]
    assert meta["metadata"]["class_names"] == [str(i) for i in range(10)]


def test_row_and_columnar_formats_match_keras(server, keras_model, digits):
    url = f"{server.url}/v1/models/{MODEL}:predict"
    want = np.asarray(keras_model(digits, training=False))
    rows = requests.post(url, json={"instances": digits.tolist()}, timeout=30).json()
    np.testing.assert_allclose(rows["predictions"], want, atol=1e-5)
    columns = requests.post(url, json={"inputs": digits.tolist()}, timeout=30).json()
    assert set(columns) == {"outputs"}
    np.testing.assert_allclose(columns["outputs"], want, atol=1e-5)
    named = requests.post(url, json={"inputs": {"image": digits.tolist()}}, timeout=30).json()
    np.testing.assert_allclose(named["outputs"], want, atol=1e-5)
    one = requests.post(url, json={"instances": digits[:1].tolist()}, timeout=30).json()  # LiteRT
    np.testing.assert_allclose(one["predictions"], want[:1], atol=1e-5)


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded", "text/plain",
                                          "application/octet-stream"])
def test_a_json_body_whatever_its_content_type(server, digits, content_type):
    """TF Serving reads the body as JSON whatever the header says: curl -d sends a form's
    content type, other clients none."""
    headers = {"content-type": content_type} if content_type else {}
    r = requests.post(f"{server.url}/v1/models/{MODEL}:predict", timeout=30, headers=headers,
                      data=json.dumps({"instances": digits[:2].tolist()}).encode())
    assert r.status_code == 200, r.text
    assert len(r.json()["predictions"]) == 2


@pytest.mark.parametrize(("body", "status", "fragment"), [
    ('{"instances": [1, 2', 400, "JSON"),
    (json.dumps({"signature_name": "predict_images", "instances": [[[0.0] * 28] * 28]}), 400,
     'Serving signature name: "predict_images" not found'),
    (json.dumps({"instances": [[[0.0] * 28] * 27]}), 400, "shape [28, 28, 1]"),
    (json.dumps({"instances": [{"pixels": [[0.0] * 28] * 28}]}), 400, '"image"'),
    (json.dumps({"inputs": {"pixels": []}}), 400, '"image"'),
    (json.dumps({"instances": [[[0.0] * 28] * 28] * 257}), 400, "at most 256"),
])
def test_bad_bodies_are_errors_in_tf_servings_shape(server, body, status, fragment):
    r = requests.post(f"{server.url}/v1/models/{MODEL}:predict", data=body, timeout=30)
    assert r.status_code == status and fragment in r.json()["error"], r.text


def test_unknown_model_and_a_body_over_the_limit(server, make_playground):
    r = requests.get(f"{server.url}/v1/models/resnet/metadata", timeout=10)
    assert r.status_code == 404 and "Servable not found for request: Latest(resnet)" in r.json()["error"]
    pg = make_playground(max_request_bytes=4096)
    r = pg.client.post(f"/v1/models/{MODEL}:predict", content=b"{" + b" " * 5000 + b"}")
    assert r.status_code == 413 and "CNNPG_MAX_REQUEST_BYTES" in r.json()["error"]
