"""Pages render with their content, share one layout, and carry the security headers."""

from __future__ import annotations

import re

from app.lab.kernels import KERNELS


def test_kernel_lab_page_lists_the_catalog(client):
    r = client.get("/kernel-lab")
    assert r.status_code == 200
    options = re.findall(r'<option value="([a-z0-9_]+)"', r.text)
    assert [k.name for k in KERNELS] == [o for o in options if o in {k.name for k in KERNELS}]
    assert 'data-stage="feature_map"' in r.text  # results are there before any script runs
    assert "/static/vendor/htmx-2.0.11/htmx.min.js" in r.text


def test_kernel_lab_prefills_from_the_query(client):
    r = client.get("/kernel-lab", params={"source": "lesson", "kernel": "x_filter"})
    assert '<strong class="sum">4</strong>' in r.text  # cell (0, 0) of the lesson's map


def test_every_page_has_the_navigation(client):
    for path in ("/", "/kernel-lab", "/builder", "/jobs", "/draw", "/explain", "/models", "/docs"):
        r = client.get(path)
        assert r.status_code == 200, path
        for label, href in (("Kernel Lab", "/kernel-lab"), ("Model Builder", "/builder"),
                            ("Jobs", "/jobs"), ("Draw", "/draw"), ("API", "/docs")):
            assert f'href="{href}"' in r.text and label in r.text, (path, label)


def test_explain_and_draw_name_every_way_to_begin(client):
    page = client.get("/explain", params={"model": "mnist_digits"}).text
    assert ('<p class="hint" id="explain-begin">Draw a digit, upload an image or pick a test '
            'image to begin.</p>') in page
    page = client.get("/draw", params={"model": "mnist_digits"}).text
    assert ('<p class="hint" id="draw-begin">Draw a digit in the box (or upload an image, or '
            'pick a test image): the prediction updates as you draw.</p>') in page


def test_security_headers_and_no_inline_script(client):
    for path in ("/", "/kernel-lab", "/explain", "/models", "/docs"):
        r = client.get(path)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", r.text), path


def test_vendored_assets_are_served(client):
    assert client.get("/static/vendor/htmx-2.0.11/htmx.min.js").status_code == 200
    assert client.get("/static/vendor/swagger-ui-5.32.0/swagger-ui-bundle.js").status_code == 200
    assert client.get("/static/samples/cat.png").headers["content-type"] == "image/png"


def test_healthz_and_openapi(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/api/convolve"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(body)
    assert "ConvolveRequest" in spec["components"]["schemas"]
