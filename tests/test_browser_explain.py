"""Explain in Debian's chromium: draw, open a conv2 channel, pick a cell, read its sums against
the JSON API, run Grad-CAM, and reopen the URL to find the same view; Draw's Grad-CAM and its
link here; a model uploaded through the Models page."""

from __future__ import annotations

import base64
import re
from urllib.parse import parse_qs, urlparse

import keras
import numpy as np
import pytest
from playwright.sync_api import expect

from tests.conftest import ROOT
from tests.explain_models import digits_model
from tests.test_browser_draw import stroke

pytestmark = pytest.mark.browser


def stroke_on(pg, selector, points):
    """One mouse stroke through canvas coordinates (0–280) on the canvas at `selector`."""
    pad = pg.locator(selector)
    box = pad.bounding_box()

    def at(p):
        return {"clientX": box["x"] + p[0] * box["width"] / 280,
                "clientY": box["y"] + p[1] * box["height"] / 280,
                "pointerId": 1, "pointerType": "mouse", "isPrimary": True, "bubbles": True,
                "buttons": 1}

    pad.dispatch_event("pointerdown", at(points[0]))
    for p in points[1:]:
        pad.dispatch_event("pointermove", at(p))
    pad.dispatch_event("pointerup", {**at(points[-1]), "buttons": 0})


def number(pg, selector: str) -> float:
    return float(pg.locator(selector).inner_text().replace("−", "-"))


def seven():
    return [(70 + i * 14, 60) for i in range(11)] + [(210 - i * 6, 60 + i * 12) for i in range(1, 18)]


def test_a_conv2_cell_explained_and_its_url_restored(page):
    page.goto(page.base_url + "/explain")
    stroke_on(page, "#ex-pad", seven())
    expect(page.locator("#ov")).to_have_attribute("data-label", "7")
    expect(page.locator("#saliency-overlay")).to_have_attribute("src", re.compile(r"^data:image/png"))

    page.locator('button.tile[data-layer="conv2"][data-channel="5"]').click()
    view = page.locator("#neuron-view")
    expect(view).to_have_attribute("data-layer", "conv2")
    expect(view).to_have_attribute("data-channel", "5")
    expect(page.locator("#neuron-view .channel-card")).to_have_count(32)  # one per conv1 channel
    # The input the page keeps in its URL, exactly what the network saw; Keras on it here.
    px = parse_qs(urlparse(page.url).query)["px"][0]
    x = np.frombuffer(base64.urlsafe_b64decode(px + "=" * (-len(px) % 4)), np.uint8)
    x = (x.astype(np.float32) / 255).reshape(1, 28, 28, 1)
    shipped = keras.saving.load_model(ROOT / "models" / "mnist_digits.keras", compile=False)
    conv2 = np.asarray(keras.Model(shipped.inputs[0], shipped.get_layer("conv2").output)(x))[0]
    r, c = (int(v) for v in np.unravel_index(int(np.argmax(conv2[:, :, 5])), conv2.shape[:2]))
    assert conv2[r, c, 5] > 0
    # Pick the cell where channel 5 responds most, on the output map.
    output_map = page.locator("#neuron-view .conv-result .map.pickable .map-box").last
    box = output_map.bounding_box()
    output_map.click(position={"x": (c + 0.5) * box["width"] / 24, "y": (r + 0.5) * box["height"] / 24})
    expect(page.locator("#cell-breakdown")).to_be_visible()
    expect(view).to_have_attribute("data-cell", f"{r},{c}")

    terms, bias = number(page, "#terms-sum"), number(page, "#channel-bias")
    pre, activated = number(page, "#cell-pre"), number(page, "#cell-activated")
    output = number(page, "#cell-output")
    assert pre == pytest.approx(terms + bias, abs=2e-5)
    assert activated == pytest.approx(max(pre, 0.0), abs=1e-6)  # conv2's ReLU
    assert output == pytest.approx(activated, abs=1e-5)
    # The URL holds the drawing as the network saw it, in 256 grey levels: Keras on that.
    assert output == pytest.approx(float(conv2[r, c, 5]), rel=1e-3)
    query = parse_qs(urlparse(page.url).query)
    assert query["layer"] == ["conv2"] and query["channel"] == ["5"] and query["cell"] == [f"{r},{c}"]
    cell = f"{r},{c}"

    # Grad-CAM for another class.
    page.select_option("#ex-target", "3")
    expect(page.locator("#saliency-view")).to_have_attribute("data-class", "3")

    # The URL restores the same view, from exactly the input it holds.
    page.goto(page.url)
    expect(page.locator("#neuron-view")).to_have_attribute("data-cell", cell)
    assert number(page, "#cell-output") == pytest.approx(float(conv2[r, c, 5]), rel=1e-5)
    assert number(page, "#cell-pre") == pytest.approx(number(page, "#terms-sum") + bias, abs=2e-5)
    expect(page.locator("#saliency-view")).to_have_attribute("data-class", "3")
    expect(page.locator("#ov")).to_have_attribute("data-label", "7")


def test_dense_and_softmax_views_from_a_test_image(page):
    page.goto(page.base_url + "/explain?model=mnist_digits&source=test&class=4")
    expect(page.locator("#ov-test")).to_contain_text("true class 4")
    strip = page.locator('img.strip.clickable[data-layer="probabilities"]')
    box = strip.bounding_box()
    strip.click(position={"x": box["width"] * 4.5 / 10, "y": box["height"] / 2})
    expect(page.locator("#neuron-view")).to_have_attribute("data-channel", "4")
    expect(page.locator("#softmax-table tbody tr")).to_have_count(10)
    assert number(page, "#cell-pre") != 0
    expect(page.locator("#softmax-formula")).to_contain_text("p4 = e")


def test_draw_shows_where_it_looked_and_links_here(page):
    page.goto(page.base_url + "/draw")
    stroke(page, seven(), "touch")
    expect(page.locator("#prediction")).to_have_attribute("data-label", "7")
    expect(page.locator("#draw-gradcam")).to_have_attribute("src", re.compile(r"^data:image/png"))
    page.click("#explain-link")
    expect(page.locator("#ov")).to_have_attribute("data-label", "7")
    expect(page.locator("#saliency-overlay")).to_be_visible()


def test_upload_a_model_on_the_models_page(page, tmp_path):
    path = tmp_path / "browser-digits.keras"
    digits_model(seed=8).save(path)
    page.goto(page.base_url + "/models")
    page.set_input_files('#upload-form input[name="file"]', str(path))
    page.select_option('#upload-form select[name="dataset"]', "mnist")
    page.select_option('#upload-form select[name="input_range"]', "0-255")
    page.click("#upload-form button[type=submit]")
    expect(page.locator("#upload-result")).to_contain_text("browser-digits")
    row = page.locator("#models-table tbody tr").filter(has_text="browser-digits")
    expect(row).to_contain_text("uploaded")
    model_id = row.get_attribute("data-model")
    assert page.request.get(f"{page.base_url}/api/models/{model_id}").json()["input_range"] == "0-255"
    row.get_by_role("link", name="Explain").click()
    expect(page).to_have_url(re.compile(f"model={model_id}"))
    page.goto(page.base_url + "/models")
    page.on("dialog", lambda d: d.accept())
    page.locator(f'#models-table tr[data-model="{model_id}"] button').click()
    expect(page.locator(f'#models-table tr[data-model="{model_id}"]')).to_have_count(0)
