"""The Kernel Lab's HTTP API against a real server: results, images and every bad input."""

from __future__ import annotations

import io
import re
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT

LESSON = [[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]]
CAT = (ROOT / "static" / "samples" / "cat.png").read_bytes()


def detail_fields(response) -> list[str]:
    return [".".join(str(p) for p in e["loc"][1:]) for e in response.json()["detail"]]


def test_kernel_catalog_has_the_lesson_kernels(client):
    kernels = {k["name"]: k for k in client.get("/api/kernels").json()}
    assert kernels["horizontal_edge"]["matrix"] == [[-1, -1, -1], [0, 0, 0], [1, 1, 1]]
    assert kernels["x_filter"]["matrix"] == [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
    for name in ("identity", "vertical_edge", "sobel_top", "sobel_bottom", "sobel_left",
                 "sobel_right", "laplacian", "outline", "sharpen", "box_blur",
                 "gaussian_blur_3x3", "gaussian_blur_5x5", "emboss"):
        assert kernels[name]["label"] and kernels[name]["description"]
    assert len(kernels["gaussian_blur_5x5"]["matrix"]) == 5
    assert sum(map(sum, kernels["gaussian_blur_5x5"]["matrix"])) == pytest.approx(1.0)


def test_convolve_json_gives_the_lesson_map(client):
    r = client.post("/api/convolve", json={"image": LESSON, "kernel": "x_filter"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["feature_map"] == [[4, 3, 4], [2, 4, 3], [2, 3, 4]]
    assert body["shapes"]["feature_map"] == [3, 3]
    assert body["pooled"] is None


def test_convolve_json_with_relu_and_pooling(client):
    r = client.post("/api/convolve", json={
        "image": LESSON, "kernel": [[-1, -1, -1], [0, 0, 0], [1, 1, 1]], "padding": "same",
        "activation": "relu", "pool": {"type": "max", "size": 2, "stride": 2}})
    body = r.json()
    fmap = np.array(body["feature_map"])
    assert fmap.shape == (5, 5) and fmap.min() < 0
    np.testing.assert_array_equal(body["activated"], np.maximum(fmap, 0))
    a = np.array(body["activated"])
    np.testing.assert_array_equal(body["pooled"], a[:4, :4].reshape(2, 2, 2, 2).max(axis=(1, 3)))
    assert body["ranges"]["feature_map"] == {"min": fmap.min(), "max": fmap.max()}


def test_convolve_rgb_json_filters_each_channel(client):
    rgb = np.stack([np.array(LESSON), np.array(LESSON) * 2, np.zeros((5, 5))], axis=-1)
    body = client.post("/api/convolve", json={"image": rgb.tolist(), "kernel": "x_filter"}).json()
    fmap = np.array(body["feature_map"])
    assert fmap.shape == (3, 3, 3)
    np.testing.assert_array_equal(fmap[:, :, 1], 2 * fmap[:, :, 0])
    assert not fmap[:, :, 2].any()


def test_upload_returns_images_with_shapes(client):
    r = client.post("/api/convolve", data={"source": "upload", "kernel": "sobel_bottom",
                                           "relu": "on", "pool": "max", "pool_size": "2",
                                           "pool_stride": "2"},
                    files={"file": ("cat.png", CAT, "image/png")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["shapes"] == {"input": [300, 451], "kernel": [3, 3], "feature_map": [298, 449],
                              "activated": [298, 449], "pooled": [149, 224]}
    pooled = body["images"]["pooled"][0]
    assert pooled.startswith("data:image/png;base64,")
    import base64
    img = Image.open(io.BytesIO(base64.b64decode(pooled.split(",", 1)[1])))
    assert img.size == (224, 149)
    assert body["ranges"]["feature_map"]["min"] < 0 < body["ranges"]["feature_map"]["max"]
    assert body["ranges"]["activated"]["min"] == 0


def test_a_file_alone_is_the_image_and_a_file_with_another_source_is_refused(client):
    r = client.post("/api/convolve", data={"kernel": "sobel_bottom"},
                    files={"file": ("cat.png", CAT, "image/png")})
    assert r.status_code == 200 and r.json()["shapes"]["input"] == [300, 451]
    r = client.post("/api/convolve", data={"kernel": "sobel_bottom", "source": "sample:astronaut"},
                    files={"file": ("cat.png", CAT, "image/png")})
    assert r.status_code == 422 and detail_fields(r) == ["file"]


def test_upload_per_channel_gives_three_maps(client):
    r = client.post("/api/convolve", data={"source": "sample:cat", "channels": "per_channel",
                                           "kernel": "outline"})
    body = r.json()
    assert body["shapes"]["feature_map"] == [298, 449, 3]
    assert len(body["images"]["feature_map"]) == 3


def test_large_photos_are_scaled_down(client):
    big = Image.new("RGB", (3000, 1500), "white")
    buf = io.BytesIO()
    big.save(buf, "JPEG")
    r = client.post("/api/convolve", data={"source": "upload", "kernel": "identity"},
                    files={"file": ("big.jpg", buf.getvalue(), "image/jpeg")})
    assert r.json()["shapes"]["input"] == [512, 1024]


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "GIF"])
def test_upload_formats(client, fmt):
    buf = io.BytesIO()
    Image.open(io.BytesIO(CAT)).convert("RGB").save(buf, fmt)
    r = client.post("/api/convolve", data={"source": "upload", "kernel": "identity"},
                    files={"file": (f"cat.{fmt.lower()}", buf.getvalue(), "application/octet-stream")})
    assert r.status_code == 200, r.text
    assert r.json()["shapes"]["input"] == [300, 451]


def test_htmx_form_renders_results_in_place(client):
    r = client.post("/kernel-lab/results", headers={"HX-Request": "true"},
                    data={"source": "lesson", "kernel": "x_filter", "cell": "0,1"})
    assert r.status_code == 200
    html = r.text
    assert 'data-stage="feature_map"' in html and "<table" in html
    assert "1×1 + 1×0 + 0×1" in html  # the products behind feature-map cell (0, 1)
    assert '<strong class="sum">3</strong>' in html
    assert "⌊(5 + 2·0 − 3) / 1⌋ + 1 = 3" in html


def test_same_padding_writes_height_and_width_the_same_way(client):
    """The cat is 300 high and 451 wide: with a 4×4 kernel and stride 2 the height pads 1 + 1
    and the width 1 + 2; both lines are written with p₁ + p₂, not one with 2p."""
    html = client.post("/kernel-lab/results", headers={"HX-Request": "true"}, data={
        "source": "sample:cat", "kernel": "custom", "ksize": "5", "k": ["1"] * 25,
        "stride": "2", "padding": "same"}).text
    lines = re.findall(r'<span class="axis">(height|width)</span> <code>([^<]*)</code>', html)
    assert [axis for axis, _ in lines] == ["height", "width"]
    assert lines[0][1] == "⌊(n + p₁ + p₂ − k) / s⌋ + 1 = ⌊(300 + 1 + 2 − 5) / 2⌋ + 1 = 150"
    assert lines[1][1] == "⌊(n + p₁ + p₂ − k) / s⌋ + 1 = ⌊(451 + 2 + 2 − 5) / 2⌋ + 1 = 226"
    assert "p₁ and p₂" in html  # and what they are is said


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"image": LESSON, "kernel": "sobel_diagonal"}, "kernel", "Input should be 'identity'"),
        ({"image": LESSON, "kernel": [[1, 2], [3, 4]]}, "kernel", "odd"),
        ({"image": LESSON, "kernel": [[1, 2, 3], [1, 2], [1, 2, 3]]}, "kernel", "ragged"),
        ({"image": LESSON, "kernel": [[1] * 17] * 17}, "kernel", "at most 15 items"),
        ({"image": LESSON, "kernel": "identity", "stride": 0}, "stride", "greater than or equal to 1"),
        ({"image": LESSON, "kernel": "identity", "padding": "full"}, "padding", "'valid' or 'same'"),
        ({"image": [[1, 2], [3, 4]], "kernel": "identity"}, "kernel", "does not fit a 2×2 image"),
        ({"image": [[1, "a"], [3, 4]], "kernel": "identity"}, "image", ""),
        ({"image": [[1, 2, 3], [4, 5]], "kernel": "identity"}, "image", "ragged"),
        ({"image": LESSON, "kernel": "identity", "pool": {"type": "max", "size": 9}},
         "pool.size", "does not fit"),
        ({"kernel": "identity"}, "image", "Field required"),
    ],
)
def test_bad_json_is_a_422_naming_the_field(client, body, field, fragment):
    r = client.post("/api/convolve", json=body)
    assert r.status_code == 422, r.text
    assert any(f == field or f.startswith(field + ".") for f in detail_fields(r)), r.json()
    assert fragment in r.text


def test_nan_pixels_are_refused(client):
    # Python's json (and so Starlette) accepts the NaN literal; the API must not.
    raw = '{"image": [[1, NaN, 0], [0, 1, 0], [0, 0, 1]], "kernel": "identity"}'
    r = client.post("/api/convolve", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert all(f.startswith("image.") for f in detail_fields(r)) and "finite number" in r.text


def test_malformed_json_is_a_422(client):
    r = client.post("/api/convolve", content=b"{not json",
                    headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"


def upload(client, data: bytes, name: str = "x.png"):
    return client.post("/api/convolve", data={"source": "upload", "kernel": "identity"},
                       files={"file": (name, data, "image/png")})


def test_empty_upload(client):
    r = upload(client, b"")
    assert r.status_code == 422 and detail_fields(r) == ["file"]


def test_missing_upload(client):
    r = client.post("/api/convolve", data={"source": "upload", "kernel": "identity"})
    assert r.status_code == 422 and detail_fields(r) == ["file"]


def test_non_image_upload(client):
    r = upload(client, b"%PDF-1.4 this is not a picture" * 10, "doc.pdf")
    assert r.status_code == 422 and "not an image" in r.text and detail_fields(r) == ["file"]


def test_truncated_upload(client):
    r = upload(client, CAT[: len(CAT) // 2])
    assert r.status_code == 422 and "truncated" in r.text and detail_fields(r) == ["file"]


def png_claiming(width: int, height: int) -> bytes:
    """A valid little PNG whose header claims width × height pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (width + 1) * 4)  # a few rows; decoding would need the rest
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_decompression_bomb_refused_before_decoding(client):
    bomb = png_claiming(50_000, 50_000)
    assert len(bomb) < 300_000
    start = time.monotonic()
    r = upload(client, bomb)
    assert time.monotonic() - start < 5
    assert r.status_code == 413
    assert "50000×50000" in r.text and "limit of 40000000 pixels" in r.text
    assert detail_fields(r) == ["file"]


def test_upload_over_the_size_limit(client):
    r = upload(client, b"\x89PNG" + b"\0" * (16 * 1024 * 1024))
    assert r.status_code == 413 and "upload limit of 15728640 bytes" in r.text


def test_request_over_the_body_limits(client):
    r = client.post("/api/convolve", content=b"{" + b" " * (11 * 1024 * 1024) + b"}",
                    headers={"content-type": "application/json"})
    assert r.status_code == 413 and "limit of 10485760 bytes (CNNPG_MAX_JSON_BYTES)" in r.text
    r = client.post("/api/convolve", data={"source": "upload"},
                    files={"file": ("big.png", b"\0" * (21 * 1024 * 1024), "image/png")})
    assert r.status_code == 413 and "limit of 20971520 bytes (CNNPG_MAX_REQUEST_BYTES)" in r.text


def test_unknown_source_and_grid(client):
    r = client.post("/api/convolve", data={"source": "sample:../../etc/passwd", "kernel": "identity"})
    assert r.status_code == 422 and detail_fields(r) == ["source"]
    r = client.post("/api/convolve", data={"source": "lesson", "kernel": "custom",
                                           "ksize": "4", "k": ["1"] * 16})
    assert r.status_code == 422 and detail_fields(r) == ["ksize"]


def test_htmx_errors_render_as_a_message(client):
    r = client.post("/kernel-lab/results", headers={"HX-Request": "true"},
                    data={"source": "matrix", "matrix": "1 2\n3 x", "kernel": "identity"})
    assert r.status_code == 200  # the page shows the refusal; browsers log 4xx loads as errors
    assert 'role="alert"' in r.text and "matrix: row 2 has something that is not a number" in r.text


def test_sixteen_bit_grayscale_png(client):
    ramp = np.tile(np.arange(50, dtype=np.uint16) * 1200, (40, 1))  # 0 … 58,800, left to right
    buf = io.BytesIO()
    Image.fromarray(ramp).save(buf, "PNG")
    r = client.post("/api/convolve", data={"source": "upload", "kernel": "vertical_edge"},
                    files={"file": ("deep.png", buf.getvalue(), "image/png")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["shapes"]["input"] == [40, 50]
    # A left-to-right ramp scaled to 0–255: every vertical-edge response is positive.
    assert body["ranges"]["feature_map"]["min"] > 0
