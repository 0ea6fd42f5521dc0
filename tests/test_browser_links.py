"""A link for every state, and the keyboard: the Model Builder, Draw and Explain keep their
state in their address as it changes; the address opened in another browser page shows the
same state; a link whose state cannot work opens the nearest one that does and says what
changed. Draw and Explain used with the keyboard alone (Tab, Enter, arrows).

(The Kernel Lab's link is tested in test_browser_teach_lab.py, Compare's with real jobs in
test_browser_access.py.)"""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from tests.conftest import browser_page, wait_until
from tests.test_browser_explain import stroke_on

pytestmark = pytest.mark.browser

def settled(pg, url_holder: str = "") -> None:
    """Until no request is in flight and the page has written its state into its address
    (after the builder's 300 ms pause in typing, when it sends what was typed)."""
    pg.wait_for_timeout(350)
    pg.wait_for_load_state("networkidle")
    wait_until(pg, "!document.querySelector('.htmx-request')")
    if url_holder:
        wait_until(pg, f"document.querySelector('{url_holder}') && "
                   f"document.querySelector('{url_holder}').dataset.url === "
                   "location.pathname + location.search")
    pg.wait_for_timeout(150)


# ------------------------------------------------------------------------------ Builder

BUILDER_FORM = """() => {
  const out = {};
  for (const el of document.getElementById("builder-form").elements) {
    if (!el.name || ["preset_choice", "add_type", "action"].includes(el.name)) continue;
    out[el.name] = el.value;
  }
  return out;
}"""


def builder_state(pg) -> dict:
    return {"form": pg.evaluate(BUILDER_FORM),
            "summary": pg.locator("#summary").inner_text(),
            "layers": pg.locator(".layer-row[data-index]").evaluate_all(
                "rows => rows.map(r => r.dataset.type)")}


def test_builder_state_set_in_the_ui_reopens_from_its_link(page, browser):
    pg = page
    pg.goto(pg.base_url + "/builder")
    expect(pg.locator("#total-params")).to_have_text("62,346")
    settled(pg, "#summary")
    assert pg.url.endswith("/builder?preset=mnist_book")  # a preset as it is: by name
    assert pg.locator("[data-share] .share-copy").is_visible()

    pg.select_option("#preset-choice", "mnist_course_dropout")
    pg.click("button.load-preset")
    expect(pg.locator(".layer-row[data-index]")).to_have_count(8)
    pg.fill("input[name='l0.filters']", "24")
    pg.fill("input[name='l0.kernel_size']", "5,3")
    pg.select_option("select[name='l0.padding']", "same")
    pg.select_option("select[name='l1.activation']", "tanh")
    pg.select_option("#add-type", "BatchNormalization")
    pg.click("button.add-layer")
    expect(pg.locator(".layer-row[data-index]")).to_have_count(9)
    # Added before the output layer, not after the softmax.
    expect(pg.locator(".layer-row[data-index='7']")).to_have_attribute("data-type", "BatchNormalization")
    pg.click(".layer-row[data-index='7'] button[title='Move up']")
    expect(pg.locator(".layer-row[data-index='6']")).to_have_attribute("data-type", "BatchNormalization")
    pg.click(".layer-row[data-index='3'] button.remove")  # the first Dropout
    expect(pg.locator(".layer-row[data-index]")).to_have_count(8)
    pg.select_option("select[name=dataset]", "fashion_mnist")  # the layers are drawn again
    settled(pg, "#summary")
    expect(pg.locator(".dataset-note")).to_contain_text("Fashion")
    pg.select_option("select[name=optimizer]", "sgd")
    pg.fill("input[name=learning_rate]", "0.05")
    pg.fill("input[name=epochs]", "3")
    pg.fill("input[name=seed]", "7")
    pg.fill("input[name=name]", "my_net")
    expect(pg.locator("#train")).to_be_enabled()
    settled(pg, "#summary")
    query = parse_qs(urlparse(pg.url).query)
    assert query["l"][0] == "Conv2D(f=24,k=5x3,p=same,a=relu)", query["l"]
    assert query["l"][1] == "Conv2D(f=64,k=3x3,a=tanh)"
    assert "BatchNormalization" in query["l"] and "Dropout(r=0.25)" not in query["l"]
    assert (query["dataset"], query["optimizer"], query["learning_rate"], query["epochs"],
            query["seed"], query["name"]) == (["fashion_mnist"], ["sgd"], ["0.05"], ["3"],
                                              ["7"], ["my_net"])
    assert len(pg.url) < 500, pg.url  # short enough for a QR code on the projector
    before = builder_state(pg)
    assert before["form"]["l0.kernel_size"] == "5,3"
    with browser_page(browser, pg.base_url) as other:
        other.goto(pg.url)
        settled(other, "#summary")
        assert builder_state(other) == before
        assert other.url == pg.url
        expect(other.locator("#link-notice")).to_have_count(0)


def test_an_invalid_builder_link_opens_the_nearest_valid_state(page):
    pg = page
    pg.goto(pg.base_url + "/builder?dataset=nope&optimizer=adamw2&epochs=999&learning_rate=-1"
            "&name=my%20model&l=Conv2D(f=0,k=3x3,a=nope,zz=1)&l=Nonsense(u=3)"
            "&l=MaxPooling2D(ps=2x2,s=0)&l=Dropout(r=1.5)&l=Flatten&l=Dense(u=10,a=softmax)")
    notice = pg.locator("#link-notice")
    expect(notice).to_be_visible()
    text = notice.inner_text()
    for phrase in ("there is no dataset 'nope' here: using mnist", "optimizer 'adamw2'",
                   "epochs '999' is not valid", "learning rate '-1' is not valid",
                   "using 'my_model'", "layer 2 of the link, 'Nonsense(u=3)'",
                   "'zz=1' is not one of its arguments", "layer 1 (Conv2D): filters 0 is out of "
                   "range: using 1", "layer 1 (Conv2D): activation 'nope' is not valid",
                   "layer 2 (MaxPooling2D): strides 0 is out of range: using 1",
                   "layer 3 (Dropout): rate 1.5 is not valid"):
        assert phrase in text, (phrase, text)
    form = pg.evaluate(BUILDER_FORM)
    assert (form["l0.filters"], form["l0.activation"], form["l1.strides"], form["l2.rate"],
            form["dataset"], form["optimizer"], form["epochs"], form["name"]) == (
        "1", "relu", "1", "0.25", "mnist", "adam", "50", "my_model")
    expect(pg.locator("#train")).to_be_enabled()  # the repaired model trains
    settled(pg, "#summary")
    assert "f=1" in pg.url and "Nonsense" not in pg.url  # the link now says what is shown
    # An unknown preset or job: the book's model, said so; a model that does not fit its
    # input is what the link holds, with the reason beside the layer, as the builder shows it.
    pg.goto(pg.base_url + "/builder?preset=nope")
    expect(pg.locator("#link-notice")).to_contain_text("there is no preset 'nope'")
    expect(pg.locator("#total-params")).to_have_text("62,346")
    pg.goto(pg.base_url + "/builder?job=0123456789ab")
    expect(pg.locator("#link-notice")).to_contain_text("no job with id '0123456789ab'")
    pg.goto(pg.base_url + "/builder?l=Conv2D(f=8,k=40x40)&l=Flatten&l=Dense(u=10,a=softmax)")
    expect(pg.locator("#layer-info-0 .layer-error")).to_contain_text("larger than its 28×28 input")
    expect(pg.locator("#link-notice")).to_have_count(0)


# --------------------------------------------------------------------------------- Draw

DRAW_STATE = """() => ({
  label: document.getElementById("prediction").dataset.label,
  bars: document.querySelector("#prediction .bars").innerText,
  seen: document.querySelector("#prediction .seen img").getAttribute("src"),
  heat: document.getElementById("draw-gradcam").getAttribute("src"),
  maps: [...document.querySelectorAll("#analysis .map-grid img")].map(i => i.getAttribute("src")),
  canvas: document.getElementById("pad").toDataURL(),
})"""


def test_a_drawing_reopens_from_its_link(page, browser):
    pg = page
    pg.goto(pg.base_url + "/draw")
    stroke_on(pg, "#pad", [(70 + i * 14, 60) for i in range(11)])  # a 7 in two strokes
    stroke_on(pg, "#pad", [(210 - i * 6, 60 + i * 12) for i in range(18)])
    expect(pg.locator("#prediction")).to_have_attribute("data-label", "7")
    settled(pg)
    query = parse_qs(urlparse(pg.url).query)
    assert query["model"] == ["mnist_digits"] and len(query["d"][0]) < 400
    before = pg.evaluate(DRAW_STATE)
    with browser_page(browser, pg.base_url) as other:
        other.goto(pg.url)
        expect(other.locator("#prediction")).to_have_attribute("data-label", "7")
        settled(other)
        assert other.evaluate(DRAW_STATE) == before  # the same canvas, read the same way
        assert other.url == pg.url
    # Undo leaves the first stroke, in the link too; clear empties it.
    pg.click("#undo")
    settled(pg)
    assert parse_qs(urlparse(pg.url).query)["d"][0] != query["d"][0]
    pg.click("#clear")
    expect(pg.locator("#analysis .hint")).to_be_visible()
    settled(pg)
    assert "d=" not in pg.url


def test_an_invalid_draw_link_opens_the_nearest_valid_state(page):
    pg = page
    pg.goto(pg.base_url + "/draw?model=gone&d=%21%21&test=4")
    notice = pg.locator("#link-notice")
    expect(notice).to_contain_text("there is no model 'gone' here: showing mnist_digits")
    expect(notice).to_contain_text("a link holds one input, this one had d and test: kept d")
    expect(notice).to_contain_text("the drawing (d) is not base64url")
    expect(pg.locator("#analysis .hint")).to_be_visible()
    settled(pg)
    assert pg.url.endswith("/draw?model=mnist_digits")
    pg.goto(pg.base_url + "/draw?test=99999")
    expect(pg.locator("#link-notice")).to_contain_text("test image 99999 is not there")
    expect(pg.locator("#draw-test")).to_contain_text("Test image #999")
    off_grid = base64.urlsafe_b64encode(bytes([200, 150, 10, 10])).decode().rstrip("=")
    pg.goto(pg.base_url + "/draw?d=" + off_grid)  # a point off the 140×140 grid
    expect(pg.locator("#link-notice")).to_contain_text("lay outside the canvas: moved to its edge")


# ------------------------------------------------------------------------------ Explain

EXPLAIN_STATE = """() => {
  const f = document.getElementById("explain-form");
  const ov = document.getElementById("ov"), nv = document.getElementById("neuron-view");
  const sv = document.getElementById("saliency-view");
  return {
    form: [...f.elements].filter(e => e.name && (e.type !== "radio" || e.checked))
      .map(e => [e.name, e.value]),
    ov: ov && {...ov.dataset}, neuron: nv && {...nv.dataset}, saliency: sv && {...sv.dataset},
    out: document.getElementById("cell-output") && document.getElementById("cell-output").innerText,
  };
}"""


def test_explain_state_reopens_from_its_link(page, browser):
    pg = page
    pg.goto(pg.base_url + "/explain?model=mnist_digits&source=test&class=4")
    expect(pg.locator("#ov-test")).to_contain_text("true class 4")
    first = pg.locator("#ov").get_attribute("data-index")
    pg.locator("#ex-next").click()
    expect(pg.locator("#ov")).not_to_have_attribute("data-index", first)
    pg.locator('button.tile[data-layer="pool1"][data-channel="3"]').click()
    expect(pg.locator("#neuron-view")).to_have_attribute("data-layer", "pool1")
    output_map = pg.locator("#neuron-view .map.pickable .map-box").first
    wait_until(pg, "document.querySelector('#neuron-view .map.pickable img').complete")
    box = output_map.bounding_box()
    output_map.click(position={"x": box["width"] * 0.55, "y": box["height"] * 0.45})
    expect(pg.locator("#cell-breakdown")).to_be_visible()
    pg.check("input[name=method][value=gradient]")
    pg.select_option("#ex-target", "2")
    expect(pg.locator("#saliency-view")).to_have_attribute("data-class", "2")
    expect(pg.locator("#saliency-view")).to_have_attribute("data-method", "gradient")
    settled(pg)
    query = parse_qs(urlparse(pg.url).query)
    assert query["layer"] == ["pool1"] and query["method"] == ["gradient"] and "cell" in query
    before = pg.evaluate(EXPLAIN_STATE)
    assert before["neuron"]["cell"] and before["out"]
    with browser_page(browser, pg.base_url) as other:
        other.goto(pg.url)
        expect(other.locator("#cell-breakdown")).to_be_visible()
        expect(other.locator("#saliency-view")).to_have_attribute("data-class", "2")
        settled(other)
        assert other.evaluate(EXPLAIN_STATE) == before
        assert other.url == pg.url
        assert other.locator("[data-share] .share-qr-toggle").is_visible()


def test_an_invalid_explain_link_opens_the_nearest_valid_state(page):
    pg = page
    pg.goto(pg.base_url + "/explain?model=gone&source=test&class=42&index=99999&layer=conv2"
            "&channel=77&cell=99,3&method=magic&target=12")
    notice = pg.locator("#link-notice")
    for phrase in ("there is no model 'gone' here", "class '42' is not one of mnist_digits's",
                   "test image 99999 is not there", "conv2 has 32 channels (0 to 31), not '77'",
                   "cell (99, 3) is outside conv2's 24×24 map: picked (23, 3)",
                   "method 'magic'", "class '12' is not one of"):
        expect(notice).to_contain_text(phrase)
    view = pg.locator("#neuron-view")
    expect(view).to_have_attribute("data-channel", "31")
    expect(view).to_have_attribute("data-cell", "23,3")
    expect(pg.locator("#ov")).to_have_attribute("data-index", "999")
    pg.goto(pg.base_url + "/explain?layer=nope&channel=1&px=abc")
    expect(pg.locator("#link-notice")).to_contain_text("mnist_digits has no layer 'nope'")
    expect(pg.locator("#link-notice")).to_contain_text("the input in the link (px)")
    expect(pg.locator("#neuron-view")).to_have_count(0)


# ------------------------------------------------------------------------------ keyboard


def tab_to(pg, selector: str, limit: int = 200, key: str = "Tab") -> None:
    """Press Tab (or Shift+Tab) until the focused element matches `selector`."""
    for _ in range(limit):
        pg.keyboard.press(key)
        if pg.evaluate("(s) => document.activeElement && document.activeElement.matches(s)",
                       selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


FOCUS_SHOWN = """() => {
  const el = document.activeElement, s = getComputedStyle(el);
  const rect = el.querySelector && el.querySelector("rect");
  return s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2
    || (rect && getComputedStyle(rect).stroke !== "none");
}"""


def test_draw_by_keyboard_alone(page):
    pg = page
    pg.goto(pg.base_url + "/draw")
    tab_to(pg, "#test-class")
    assert pg.evaluate(FOCUS_SHOWN)
    for _ in range(7):
        pg.keyboard.press("ArrowDown")
    expect(pg.locator("#test-class")).to_have_value("7")
    pg.keyboard.press("Tab")
    assert pg.evaluate("() => document.activeElement.id") == "test-next"
    pg.keyboard.press("Enter")
    expect(pg.locator("#draw-test")).to_contain_text("true class 7")
    expect(pg.locator("#prediction")).to_have_attribute("data-label", "7")
    first = pg.locator("#prediction").get_attribute("data-test")
    pg.keyboard.press("Enter")  # the next 7
    expect(pg.locator("#prediction")).not_to_have_attribute("data-test", first)
    settled(pg)
    index = pg.locator("#prediction").get_attribute("data-test")
    assert parse_qs(urlparse(pg.url).query)["test"] == [index]
    # Every first-layer map is a link to its kernel, reached with Tab, opened with Enter.
    tab_to(pg, "section.layer[data-layer=conv1] svg.tile-links a")
    assert pg.evaluate(FOCUS_SHOWN)
    pg.keyboard.press("Tab")
    label = pg.evaluate("() => document.activeElement.getAttribute('aria-label')")
    assert label.startswith("conv1 map 1:"), label
    pg.keyboard.press("Enter")
    pg.wait_for_url("**/kernel-lab?**")
    expect(pg.locator("#lab-output")).to_have_attribute("data-kernel", "custom")


def test_draw_an_uploaded_image_without_a_pointer(page, tmp_path):
    from PIL import Image

    from tests.digits_data import mnist_test

    x, y = mnist_test()
    i = int((y == 3).nonzero()[0][0])
    path = tmp_path / "three.png"
    Image.fromarray(255 - x[i]).resize((140, 140)).save(path)
    page.goto(page.base_url + "/draw")
    tab_to(page, "#draw-file")
    page.set_input_files("#draw-file", str(path))  # what the file chooser gives
    expect(page.locator("#prediction")).to_have_attribute("data-label", "3")
    settled(page)
    url = page.url
    assert "px=" in url  # the upload as the network saw it: the link shows it elsewhere
    page.goto(url)
    expect(page.locator("#prediction")).to_have_attribute("data-label", "3")


def test_explain_by_keyboard_alone(page):
    pg = page
    pg.goto(pg.base_url + "/explain?model=mnist_digits&source=test&class=7")
    expect(pg.locator("#ov")).to_have_attribute("data-label", "7")
    tab_to(pg, 'button.tile[data-layer="conv2"][data-channel="5"]')
    assert pg.evaluate(FOCUS_SHOWN)
    pg.keyboard.press("Enter")
    expect(pg.locator("#neuron-view")).to_have_attribute("data-channel", "5")
    # The keyboard goes on in the view it opened (not after every tile of the overview).
    wait_until(pg, "document.activeElement.closest('#neuron-view')")
    tab_to(pg, "#neuron .map.pickable .map-box", limit=10)
    assert pg.evaluate(FOCUS_SHOWN)
    cell = pg.locator("#neuron-view")
    for key, want in (("Enter", "0,0"), ("ArrowRight", "0,1"), ("ArrowRight", "0,2"),
                      ("ArrowDown", "1,2"), ("ArrowLeft", "1,1")):
        pg.keyboard.press(key)
        expect(cell).to_have_attribute("data-cell", want)
        wait_until(pg, "document.activeElement.classList.contains('map-box')")  # focus stays
    expect(pg.locator("#cell-breakdown h3")).to_have_text("Cell [1, 1]")
    settled(pg)
    assert parse_qs(urlparse(pg.url).query)["cell"] == ["1,1"]
    # A dense layer's units: a slider (arrow keys, Home, End).
    tab_to(pg, '.strip-box[data-layer="probabilities"]', key="Shift+Tab")
    pg.keyboard.press("End")
    expect(pg.locator("#neuron-view")).to_have_attribute("data-channel", "9")
    pg.keyboard.press("ArrowLeft")
    pg.keyboard.press("ArrowLeft")
    expect(pg.locator("#neuron-view")).to_have_attribute("data-channel", "7")
    expect(pg.locator("#softmax-formula")).to_contain_text("p7 = e")
    assert pg.locator('.strip-box[data-layer="probabilities"]').get_attribute("aria-valuenow") == "7"
