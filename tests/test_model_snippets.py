"""The model page's copy-ready snippets (curl, requests, tritonclient; /predict, the Open
Inference Protocol, TensorFlow Serving, LiteRT) are copied out of the page as a browser
shows them and run as they are, against the live server they name."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys

import pytest
import requests

from tests.digits_data import as_canvas_png, mnist_test

MODEL = "mnist_digits"
SNIPPET = re.compile(r'<pre id="(snippet-[\w-]+)"><code>(.*?)</code></pre>', re.S)
# Needs Docker and TensorFlow Serving's image, which the build machines do not have.
NOT_HERE = {"snippet-tfserving"}


@pytest.fixture(scope="module")
def snippets(server) -> dict[str, str]:
    page = requests.get(f"{server.url}/models/{MODEL}", timeout=30).text
    return {name: html.unescape(code) for name, code in SNIPPET.findall(page)}


@pytest.fixture(scope="module")
def workdir(server, tmp_path_factory):
    """What the snippets read: an image.png of a digit, and the model's .tflite."""
    folder = tmp_path_factory.mktemp("snippets")
    x, _ = mnist_test()
    (folder / "image.png").write_bytes(as_canvas_png(x[0]))
    tflite = requests.get(f"{server.url}/api/models/{MODEL}/download?format=tflite", timeout=60)
    (folder / f"{MODEL}.tflite").write_bytes(tflite.content)
    return folder


def run(snippet: str, name: str, cwd) -> str:
    python = name not in {"snippet-curl"} and not name.endswith("-curl")
    command = [sys.executable, "-c", snippet] if python else ["bash", "-euo", "pipefail", "-c", snippet]
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, f"{name} failed:\n{snippet}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_every_snippet_names_this_server(snippets, server):
    assert {"snippet-curl", "snippet-python", "snippet-triton", "snippet-oip-python",
            "snippet-oip-curl", "snippet-serving", "snippet-serving-curl",
            "snippet-litert"} <= set(snippets)
    host = server.url.removeprefix("http://")
    for name, code in snippets.items():
        if name != "snippet-litert":
            assert host in code, name


@pytest.mark.parametrize("name", ["snippet-curl", "snippet-python", "snippet-triton",
                                  "snippet-oip-python", "snippet-oip-curl", "snippet-serving",
                                  "snippet-serving-curl", "snippet-litert"])
def test_each_snippet_runs_as_copied(snippets, workdir, name):
    out = run(snippets[name], name, workdir)
    assert "error" not in out.lower(), out
    numbers = re.findall(r"\d(?:\.\d+)?e-\d+|\d\.\d+", out)
    assert len(numbers) >= 10, out  # ten class probabilities, in whatever form
    if name in ("snippet-curl", "snippet-python"):
        assert re.search(r"[\"']label[\"']: ?7\b", out), out  # the digit in image.png


def test_the_snippets_use_the_public_address(make_playground):
    pg = make_playground(public_url="http://192.168.1.20:8000")
    page = pg.client.get(f"/models/{MODEL}").text
    codes = {name: html.unescape(code) for name, code in SNIPPET.findall(page)}
    assert 'InferenceServerClient("192.168.1.20:8000")' in codes["snippet-triton"]
    assert "http://192.168.1.20:8000/v2/models/mnist_digits/infer" in codes["snippet-oip-python"]
    assert "http://192.168.1.20:8000/v1/models/mnist_digits:predict" in codes["snippet-serving-curl"]
    assert "testserver" not in "".join(codes.values())
