"""The Open Inference Protocol (KServe v2) over REST, driven by Triton's own client
(`tritonclient[http]`, JSON and binary) and by plain `requests`, against a real uvicorn;
every answer compared with Keras on the same tensor. Bad input is a 4xx with
`{"error": …}` naming the input, what was sent and what was expected, never a 500 (also
under a fuzz of the binary extension's header and sizes)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import requests
import tritonclient.http as httpclient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tritonclient.utils import InferenceServerException

from tests.conftest import ROOT
from tests.digits_data import mnist_test

MODEL = "mnist_digits"
HEADER = "Inference-Header-Content-Length"


@pytest.fixture(scope="module")
def keras_model(playground):
    # Not while the application's warm-up thread imports TensorFlow: two threads importing
    # it at once deadlock in Python's import locks.
    assert playground.services.models.warmed.wait(120)
    import keras

    return keras.saving.load_model(ROOT / "models" / "mnist_digits.keras", safe_mode=True)


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    """Five real test digits as the model's input: [5, 28, 28, 1] FP32 in 0–1."""
    x, _ = mnist_test()
    return (x[:5] / 255.0).astype(np.float32)[..., None]


@pytest.fixture(scope="module")
def triton(server):
    client = httpclient.InferenceServerClient(url=server.url.removeprefix("http://"))
    deadline = time.monotonic() + 60
    while not client.is_server_ready():  # the default model loads at start-up
        assert time.monotonic() < deadline, "the server never became ready"
        time.sleep(0.1)
    yield client
    client.close()


def expected(keras_model, x: np.ndarray) -> np.ndarray:
    return np.asarray(keras_model(x, training=False))


# ------------------------------------------------------------------ tritonclient


def test_health_and_metadata_with_tritonclient(triton):
    assert triton.is_server_live() and triton.is_server_ready()
    server = triton.get_server_metadata()
    assert server["name"] == "cnn-playground" and "binary_tensor_data" in server["extensions"]
    assert triton.is_model_ready(MODEL)
    assert not triton.is_model_ready("no-such-model")
    meta = triton.get_model_metadata(MODEL)
    assert meta["name"] == MODEL
    assert meta["inputs"] == [{"name": "image", "datatype": "FP32", "shape": [-1, 28, 28, 1]}]
    assert meta["outputs"] == [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]}]
    with pytest.raises(InferenceServerException) as err:
        triton.get_model_metadata("no-such-model")
    assert err.value.status() == "404" and "no-such-model" in err.value.message()


@pytest.mark.parametrize("batch", [1, 5], ids=["one (LiteRT)", "batch (TensorFlow)"])
@pytest.mark.parametrize(("binary_in", "binary_out"), [(True, True), (False, False), (True, False),
                                                      (False, True)],
                         ids=["binary", "json", "binary-in-json-out", "json-in-binary-out"])
def test_tritonclient_infer_matches_keras(triton, keras_model, digits, batch, binary_in, binary_out):
    x = digits[:batch]
    inp = httpclient.InferInput("image", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary_in)
    out = httpclient.InferRequestedOutput("probabilities", binary_data=binary_out)
    result = triton.infer(MODEL, [inp], outputs=[out], request_id="req-7")
    probs = result.as_numpy("probabilities")
    assert probs.shape == (batch, 10) and probs.dtype == np.float32
    np.testing.assert_allclose(probs, expected(keras_model, x), atol=1e-5)
    response = result.get_response()
    assert response["id"] == "req-7" and response["model_name"] == MODEL
    assert ("binary_data_size" in (response["outputs"][0].get("parameters") or {})) == binary_out
    assert probs.argmax(axis=1).tolist() == mnist_test()[1][:batch].tolist()


def test_tritonclient_defaults_and_compression(triton, keras_model, digits):
    """tritonclient's defaults (binary input, binary outputs without naming them), and its
    request compression (gzip, deflate)."""
    inp = httpclient.InferInput("image", list(digits.shape), "FP32")
    inp.set_data_from_numpy(digits)
    want = expected(keras_model, digits)
    np.testing.assert_allclose(triton.infer(MODEL, [inp]).as_numpy("probabilities"), want, atol=1e-5)
    for algorithm in ("gzip", "deflate"):
        result = triton.infer(MODEL, [inp], request_compression_algorithm=algorithm)
        np.testing.assert_allclose(result.as_numpy("probabilities"), want, atol=1e-5)


def _triton_error(triton, name, inputs, outputs=None) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as err:
        triton.infer(name, inputs, outputs=outputs)
    return err.value


def test_tritonclient_errors(triton, digits):
    wrong_type = httpclient.InferInput("image", [1, 28, 28, 1], "FP64")
    wrong_type.set_data_from_numpy(digits[:1].astype(np.float64))
    e = _triton_error(triton, MODEL, [wrong_type])
    assert e.status() == "400" and all(w in e.message() for w in ("'image'", "FP64", "FP32"))

    wrong_shape = httpclient.InferInput("image", [1, 28, 28], "FP32")
    wrong_shape.set_data_from_numpy(digits[:1, :, :, 0])
    e = _triton_error(triton, MODEL, [wrong_shape])
    assert e.status() == "400" and "[1, 28, 28]" in e.message() and "[-1, 28, 28, 1]" in e.message()

    good = httpclient.InferInput("image", [1, 28, 28, 1], "FP32")
    good.set_data_from_numpy(digits[:1])
    e = _triton_error(triton, "no-such-model", [good])
    assert e.status() == "404" and "no-such-model" in e.message()
    e = _triton_error(triton, MODEL, [good], [httpclient.InferRequestedOutput("logits")])
    assert e.status() == "400" and "'logits'" in e.message()
    other = httpclient.InferInput("pixels", [1, 28, 28, 1], "FP32")
    other.set_data_from_numpy(digits[:1])
    e = _triton_error(triton, MODEL, [other])
    assert e.status() == "400" and "'image'" in e.message() and "pixels" in e.message()


# ------------------------------------------------------------------ plain requests


def _binary_request(x: np.ndarray, **parameters) -> tuple[bytes, dict[str, str]]:
    raw = x.astype("<f4").tobytes()
    head = json.dumps({"inputs": [{"name": "image", "shape": list(x.shape), "datatype": "FP32",
                                   "parameters": {"binary_data_size": len(raw)}}],
                       "parameters": parameters}).encode()
    return head + raw, {HEADER: str(len(head))}


def test_requests_json_nested_flat_and_without_content_type(server, keras_model, digits):
    url = f"{server.url}/v2/models/{MODEL}/infer"
    want = expected(keras_model, digits[:2])
    nested = {"inputs": [{"name": "image", "shape": [2, 28, 28, 1], "datatype": "FP32",
                          "data": digits[:2].tolist()}]}
    flat = {"inputs": [{**nested["inputs"][0], "data": digits[:2].ravel().tolist()}]}
    for body in (nested, flat):
        r = requests.post(url, json=body, timeout=30)
        assert r.status_code == 200 and r.headers["content-type"] == "application/json", r.text
        out = r.json()["outputs"][0]
        assert out["name"] == "probabilities" and out["shape"] == [2, 10] and out["datatype"] == "FP32"
        np.testing.assert_allclose(np.reshape(out["data"], out["shape"]), want, atol=1e-5)
    r = requests.post(url, data=json.dumps(flat), timeout=30)  # no content type at all
    assert r.status_code == 200, r.text
    r = requests.post(url, data=json.dumps(flat), timeout=30,
                      headers={"content-type": "application/x-www-form-urlencoded"})  # curl -d
    assert r.status_code == 200, r.text


def test_requests_binary_extension_by_hand(server, keras_model, digits):
    body, headers = _binary_request(digits[:3], binary_data_output=True)
    r = requests.post(f"{server.url}/v2/models/{MODEL}/infer", data=body, timeout=30,
                      headers={**headers, "content-type": "application/octet-stream"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    n = int(r.headers[HEADER])
    head = json.loads(r.content[:n])
    out = head["outputs"][0]
    assert out["parameters"]["binary_data_size"] == 3 * 10 * 4 == len(r.content) - n
    probs = np.frombuffer(r.content[n:], dtype="<f4").reshape(out["shape"])
    np.testing.assert_allclose(probs, expected(keras_model, digits[:3]), atol=1e-5)
    # Binary input, JSON output: an ordinary JSON answer.
    body, headers = _binary_request(digits[:1])
    r = requests.post(f"{server.url}/v2/models/{MODEL}/infer", data=body, headers=headers, timeout=30)
    assert r.status_code == 200 and "data" in r.json()["outputs"][0]


def test_requests_health_and_metadata(server):
    assert requests.get(f"{server.url}/v2/health/live", timeout=10).json() == {"live": True}
    assert requests.get(f"{server.url}/v2/health/ready", timeout=10).json() == {"ready": True}
    assert requests.get(f"{server.url}/v2/models/{MODEL}/ready", timeout=10).json() == {
        "name": MODEL, "ready": True}
    r = requests.get(f"{server.url}/v2/models/nope/ready", timeout=10)
    assert r.status_code == 404 and "nope" in r.json()["error"]


# ------------------------------------------------------------------ bad input

IMAGE = {"name": "image", "shape": [1, 28, 28, 1], "datatype": "FP32"}
ZEROS = [0.0] * 784


@pytest.mark.parametrize(("inputs", "fragments"), [
    ([{**IMAGE, "datatype": "INT32", "data": [0] * 784}], ["'image'", "INT32", "FP32"]),
    ([{**IMAGE, "shape": [1, 28, 28, 3], "data": ZEROS * 3}], ["[1, 28, 28, 3]", "[-1, 28, 28, 1]"]),
    ([{**IMAGE, "shape": [1, 784], "data": ZEROS}], ["[1, 784]", "[-1, 28, 28, 1]"]),
    ([{**IMAGE, "data": ZEROS[:700]}], ["'image'", "700 values", "784"]),
    ([{**IMAGE, "shape": [0, 28, 28, 1], "data": []}], ["batch of 0"]),
    ([{**IMAGE, "shape": [300, 28, 28, 1], "data": [0.0]}], ["batch of 300"]),
    ([{**IMAGE}], ["either data or the binary_data_size"]),
    ([{**IMAGE, "data": [[0.0] * 28] * 28}], ["nested as [28, 28]", "[1, 28, 28, 1]"]),
    ([{**IMAGE, "data": [True] * 784}], ["valid number"]),
    ([{**IMAGE, "data": ["0"] * 784}], ["valid number"]),
    ([{**IMAGE, "name": "pixels", "data": ZEROS}], ["'image'", "'pixels'"]),
    ([{**IMAGE, "data": ZEROS}, {**IMAGE, "data": ZEROS}], ["one input"]),
    ([], ["at least 1 item"]),
    ([{**IMAGE, "shape": ["1", 28, 28, 1], "data": ZEROS}], ["valid integer"]),
])
def test_bad_json_inputs_are_400_naming_the_input(client, inputs, fragments):
    r = client.post(f"/v2/models/{MODEL}/infer", json={"inputs": inputs})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert all(f in error for f in fragments), error


def test_non_finite_values_are_refused(client):
    body = json.dumps({"inputs": [{**IMAGE, "data": ZEROS}]}).replace("0.0]", "NaN]", 1)
    r = client.post(f"/v2/models/{MODEL}/infer", content=body)
    assert r.status_code == 400 and "finite" in r.json()["error"]
    raw = np.zeros((1, 28, 28, 1), "<f4")
    raw[0, 3, 3, 0] = np.inf
    body, headers = _binary_request(raw)
    r = client.post(f"/v2/models/{MODEL}/infer", content=body, headers=headers)
    assert r.status_code == 400 and "infinite" in r.json()["error"]


def test_binary_sizes_that_do_not_match_are_400(client, digits):
    body, headers = _binary_request(digits[:1])
    url = f"/v2/models/{MODEL}/infer"
    cases = [
        (body[:-4], headers, "only 3132 bytes"),          # the data cut short
        (body + b"\0" * 8, headers, "add up to 3136"),     # bytes beyond what the inputs declare
        (body, {HEADER: str(len(body) + 1)}, "whole body"),
        (body, {HEADER: "twelve"}, "whole number"),
        (body, {HEADER: "-3"}, "whole number"),
        (body, {HEADER: "10"}, "JSON"),                  # the JSON part cut short
    ]
    for content, hdrs, fragment in cases:
        r = client.post(url, content=content, headers=hdrs)
        assert r.status_code == 400 and fragment in r.json()["error"], (hdrs, r.text)
    # The size declared for another shape: the input, what was sent, what was expected.
    raw = digits[:1].astype("<f4").tobytes()
    head = json.dumps({"inputs": [{**IMAGE, "shape": [2, 28, 28, 1],
                                   "parameters": {"binary_data_size": len(raw)}}]}).encode()
    r = client.post(url, content=head + raw, headers={HEADER: str(len(head))})
    assert r.status_code == 400
    assert all(f in r.json()["error"] for f in ("'image'", "3136 bytes", "6272")), r.text


def test_unknown_model_bad_name_method_and_compression(client):
    r = client.post("/v2/models/resnet/infer", json={"inputs": [{**IMAGE, "data": ZEROS}]})
    assert r.status_code == 404 and "resnet" in r.json()["error"]
    r = client.get("/v2/models/..bad")
    assert r.status_code == 400 and "error" in r.json()
    r = client.get(f"/v2/models/{MODEL}/infer")
    assert r.status_code == 405 and r.headers["allow"] == "POST" and "error" in r.json()
    r = client.post(f"/v2/models/{MODEL}/infer", content=b"not gzip",
                    headers={"content-encoding": "gzip"})
    assert r.status_code == 400 and "gzip" in r.json()["error"]
    r = client.post(f"/v2/models/{MODEL}/infer", content=b"{}", headers={"content-encoding": "br"})
    assert r.status_code == 400 and "'br'" in r.json()["error"]


def test_a_body_over_the_limit_is_413_in_the_protocols_shape(make_playground, digits):
    pg = make_playground(max_request_bytes=2048, max_json_bytes=2048)
    body, headers = _binary_request(digits[:1])
    r = pg.client.post(f"/v2/models/{MODEL}/infer", content=body, headers=headers)
    assert r.status_code == 413 and "CNNPG_MAX_REQUEST_BYTES" in r.json()["error"]
    r = pg.client.post(f"/v2/models/{MODEL}/infer", json={"inputs": [{**IMAGE, "data": ZEROS}]})
    assert r.status_code == 413 and "CNNPG_MAX_JSON_BYTES" in r.json()["error"]
    import zlib

    bomb = zlib.compress(b" " * 100_000)  # small on the wire, past the limit once expanded
    r = pg.client.post(f"/v2/models/{MODEL}/infer", content=bomb, headers={"content-encoding": "deflate"})
    assert r.status_code == 413 and "expands past" in r.json()["error"]


# ------------------------------------------------------------------ fuzz of the binary header

LATIN1 = st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f")
HEADER_VALUES = st.one_of(st.just("true"), st.integers(-5, 6000).map(str),
                          st.text(LATIN1, max_size=12),
                          st.sampled_from(["", " 12 ", "1e3", "0x10", "²", "99999999999999999999"]))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(header=HEADER_VALUES, size=st.integers(-2, 5000), batch=st.integers(-1, 3),
       tail=st.integers(0, 4000), datatype=st.sampled_from(["FP32", "FP16", "UINT8", "BYTES"]),
       extra=st.binary(max_size=16))
def test_fuzz_of_the_binary_header_never_a_500(client, header, size, batch, tail, datatype, extra):
    """Any header value, declared size, shape, datatype and binary tail: a 200 only when they
    all agree, else a 400 with {"error": …}; never a 500."""
    head = json.dumps({"inputs": [{"name": "image", "shape": [batch, 28, 28, 1], "datatype": datatype,
                                   "parameters": {"binary_data_size": size}}]}).encode()
    body = head + bytes(tail) + extra
    value = str(len(head)) if header == "true" else header
    r = client.post(f"/v2/models/{MODEL}/infer", content=body,
                    headers=[(HEADER.encode(), value.encode("latin-1"))])
    assert r.status_code in (200, 400), r.text
    if r.status_code == 400:
        assert isinstance(r.json()["error"], str)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(size=st.integers(0, 3200), batch=st.integers(0, 2), tail=st.integers(0, 6400),
       datatype=st.sampled_from(["FP32", "FP64", "INT8"]))
def test_fuzz_of_the_declared_sizes_with_a_true_header(client, size, batch, tail, datatype):
    head = json.dumps({"inputs": [{"name": "image", "shape": [batch, 28, 28, 1], "datatype": datatype,
                                   "parameters": {"binary_data_size": size}}]}).encode()
    r = client.post(f"/v2/models/{MODEL}/infer", content=head + bytes(tail),
                    headers={HEADER: str(len(head))})
    fits = datatype == "FP32" and batch >= 1 and size == tail == batch * 3136
    assert r.status_code == (200 if fits else 400), r.text
    if not fits:
        assert isinstance(r.json()["error"], str)


def test_long_lived_objects_are_frozen_out_of_full_collections(playground):
    """A full collection over TensorFlow's half a million objects took a second under load,
    paid by every request waiting (the p99 of /predict): they are frozen once loaded."""
    import gc

    assert playground.services.models.warmed.wait(120)
    assert gc.get_freeze_count() > 100_000
