"""The Kernel Lab, live on the projector: its state in the URL (and back), links with an
invalid state, the maps computed in the browser against the server's maths, an upload
sent once, the webcam (Chromium's fake camera) and a refused one, copy link and QR code,
projector mode, and axe in every mode."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.conftest import (
    COUNT_SENT_BYTES,
    ROOT,
    assert_accessible,
    browser_page,
    sent_bytes,
    wait_until,
)

pytestmark = pytest.mark.browser

FORM_STATE = """() => {
  const out = {};
  for (const el of document.getElementById("lab-form").elements) {
    if (!el.name || (el.type === "radio" && !el.checked)) continue;
    (out[el.name] = out[el.name] || []).push(el.type === "checkbox" ? el.checked : el.value);
  }
  return out;
}"""


def snapshot(pg) -> dict:
    """Everything the lab shows: its controls, its results, the cell worked through."""
    inspect = pg.locator("#inspect")
    return {"form": pg.evaluate(FORM_STATE),
            "results": pg.locator("#lab-output").inner_text(),
            "kernel": pg.locator("#lab-output").get_attribute("data-kernel"),
            "inspect": inspect.inner_text() if inspect.is_visible() else None}


def settled(pg) -> None:
    """Until the lab has drawn what its controls say and written it into the URL."""
    pg.wait_for_load_state("networkidle")
    wait_until(pg, "window.cnnpgLab && !document.querySelector('#results.htmx-request')")
    pg.wait_for_timeout(200)


def test_numeric_state_set_in_the_ui_reopens_from_its_url(page, browser):
    page.goto(page.base_url + "/kernel-lab?source=lesson&kernel=x_filter")
    grid = page.locator("#kernel-grid input")
    grid.nth(4).fill("2")
    expect(page.locator("#lab-output")).to_have_attribute("data-kernel", "custom")
    page.check("input[name=padding][value=same]")
    page.fill("input[name=stride]", "2")
    expect(page.locator("figure[data-stage=feature_map] .shape")).to_have_text("3 × 3")
    page.check("input[name=relu]")
    page.select_option("select[name=pool]", "average")
    page.fill("input[name=pool_stride]", "1")
    expect(page.locator("figure[data-stage=pooled] .shape")).to_have_text("2 × 2")
    page.click("figure[data-stage=feature_map] td[data-cell='2,1']")
    expect(page.locator(".breakdown > strong").first).to_have_text("Feature map cell (2, 1)")
    page.click("figure[data-stage=pooled] td[data-cell='1,0']")
    expect(page.locator(".breakdown > strong").nth(1)).to_have_text("Pooled cell (1, 0)")
    settled(page)
    before = snapshot(page)
    url = page.url
    for expected in ("kernel=custom", "k=2", "padding=same", "stride=2", "relu=true",
                     "pool=average", "pool_stride=1", "cell=2%2C1", "pool_cell=1%2C0"):
        assert expected in url, (expected, url)
    with browser_page(browser, page.base_url) as other:
        other.goto(url)
        settled(other)
        assert snapshot(other) == before
        assert other.url == url


def test_image_state_set_in_the_ui_reopens_from_its_url(page, browser):
    page.goto(page.base_url + "/kernel-lab?source=sample:cat")
    page.select_option("#kernel", "sobel_right")
    page.select_option("select[name=channels]", "per_channel")
    page.check("input[name=padding][value=same]")
    page.fill("input[name=stride]", "2")
    page.check("input[name=relu]")
    page.select_option("select[name=pool]", "max")
    page.fill("input[name=pool_size]", "3")
    expect(page.locator("figure[data-stage=pooled] .shape")).to_have_text("74 × 112 × 3")
    canvas = page.locator("figure[data-stage=feature_map] canvas").first
    box = canvas.bounding_box()
    canvas.click(position={"x": box["width"] * 0.5, "y": box["height"] * 0.25})
    expect(page.locator("#inspect")).to_be_visible()
    settled(page)
    before = snapshot(page)
    assert before["inspect"].startswith("Feature map cell (")
    url = page.url
    for expected in ("source=sample%3Acat", "kernel=sobel_right", "channels=per_channel",
                     "stride=2", "padding=same", "relu=true", "pool=max", "pool_size=3", "cell="):
        assert expected in url, (expected, url)
    with browser_page(browser, page.base_url) as other:
        other.goto(url)
        settled(other)
        assert snapshot(other) == before


def test_an_invalid_link_opens_the_nearest_valid_state_and_says_so(page):
    page.goto(page.base_url + "/kernel-lab?source=sample:dog&kernel=nope&stride=99&padding=diag"
              "&relu=maybe&pool=max&pool_size=0&pool_stride=x&cell=99,99&channels=grey")
    notice = page.locator(".lab-notice")
    expect(notice).to_be_visible()
    text = notice.inner_text()
    for phrase in ("stride 99 is over the limit of 16", "pooling size 0 is less than 1",
                   "pooling stride 'x' is not a whole number", "source 'sample:dog' is not valid",
                   "kernel 'nope' is not valid", "padding 'diag'", "relu 'maybe'",
                   "channels 'grey'", "cell (99,99) is outside"):
        assert phrase in text, (phrase, text)
    state = page.evaluate(FORM_STATE)
    assert state["source"] == ["sample:cat"] and state["kernel"] == ["horizontal_edge"]
    assert state["stride"] == ["16"] and state["padding"] == ["valid"] and state["relu"] == [False]
    assert state["pool_size"] == ["1"] and state["pool_stride"] == ["2"]
    expect(page.locator("#lab-output canvas").first).to_be_visible()
    settled(page)
    assert "stride=16" in page.url and "dog" not in page.url  # the link now says what is shown

    # Settings that are each valid but do not work together, and an upload that is gone.
    k = "&".join(["k=1"] * 49)
    page.goto(page.base_url + f"/kernel-lab?source=lesson&kernel=custom&ksize=7&{k}")
    expect(page.locator(".lab-notice")).to_contain_text('padding set to "same"')
    assert page.evaluate(FORM_STATE)["padding"] == ["same"]
    expect(page.locator("figure[data-stage=feature_map] .shape")).to_have_text("5 × 5")
    page.goto(page.base_url + "/kernel-lab?source=upload&upload=" + "0" * 20)
    expect(page.locator(".lab-notice")).to_contain_text("is no longer on this server")
    assert page.evaluate(FORM_STATE)["source"] == ["sample:cat"]
    page.goto(page.base_url + "/kernel-lab?source=lesson&kernel=custom&k=1&k=zz&k=3")
    expect(page.locator(".lab-notice")).to_contain_text("1 kernel weight was not a number")
    expect(page.locator(".lab-notice")).to_contain_text("padded with zeros")
    assert page.evaluate("() => [...document.querySelectorAll('#kernel-grid input')]"
                         ".map(i => i.value)") == ["1", "0", "3", "0", "0", "0", "0", "0", "0"]
    assert_accessible(page, "lab with a repaired link")


def server_maps(client, pixels: np.ndarray, body: dict) -> dict:
    r = client.post("/api/convolve", json={"image": pixels.tolist(), **body})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize(("kernel", "stride", "channels"), [
    ("sobel_bottom", 2, "gray"), ("sobel_bottom", 2, "per_channel"),
    ("gaussian_blur_5x5", 3, "gray")])
def test_maps_drawn_in_the_browser_are_the_servers_maths(page, client, kernel, stride, channels):
    query = (f"source=sample:cat&kernel={kernel}&padding=same&stride={stride}&relu=true"
             f"&pool=average&pool_size=3&pool_stride=2&channels={channels}")
    page.goto(page.base_url + "/kernel-lab?" + query)
    wait_until(page, "window.cnnpgLab.renders > 0")
    ours = page.evaluate("""() => {
      const out = window.cnnpgLab.last;
      const grab = ms => ms.map(m => ({h: m.h, w: m.w,
        data: Array.from(m.data, v => m.relu && v < 0 ? 0 : v)}));
      return {feature_map: grab(out.feature_map), activated: grab(out.activated),
              pooled: grab(out.pooled)};
    }""")
    png = client.get("/kernel-lab/source.png?source=sample:cat").content
    img = Image.open(io.BytesIO(png))
    pixels = np.asarray(img.convert("L") if channels == "gray" else img, dtype=np.float32)
    theirs = server_maps(client, pixels, {
        "kernel": kernel, "stride": stride, "padding": "same", "activation": "relu",
        "pool": {"type": "average", "size": 3, "stride": 2}})
    for stage in ("feature_map", "activated", "pooled"):
        want = np.asarray(theirs[stage], dtype=np.float32)
        if want.ndim == 2:
            want = want[:, :, None]
        got = np.stack([np.asarray(m["data"], dtype=np.float32).reshape(m["h"], m["w"])
                        for m in ours[stage]], axis=-1)
        assert got.shape == want.shape, stage
        assert np.array_equal(got, want), (stage, np.abs(got - want).max())
    # And the ranges the page prints are the server's, written the same way.
    fm = np.asarray(theirs["feature_map"])
    expect(page.locator("figure[data-stage=feature_map] .min")).to_have_text(f"{fm.min():.4g}")
    expect(page.locator("figure[data-stage=feature_map] .max")).to_have_text(f"{fm.max():.4g}")


def photo_1024(tmp_path) -> str:
    img = Image.open(ROOT / "static" / "samples" / "astronaut.png").convert("RGB")
    path = tmp_path / "photo.png"
    img.resize((1024, 1024), Image.Resampling.LANCZOS).save(path)
    return str(path)


def test_an_upload_is_sent_once(browser, server, tmp_path):
    photo = photo_1024(tmp_path)
    size = Path(photo).stat().st_size
    with browser_page(browser, server.url) as pg:
        pg.add_init_script(COUNT_SENT_BYTES)
        pg.goto(server.url + "/kernel-lab?source=sample:cat")
        pg.select_option("#source", "upload")
        pg.set_input_files("#file", photo)
        expect(pg.locator("figure[data-stage=input] .shape")).to_have_text("1024 × 1024")
        sent = sent_bytes(pg)
        assert [s["url"] for s in sent if s["bytes"]] == ["/kernel-lab/uploads"]
        assert size <= sum(s["bytes"] for s in sent) < size + 1000  # the file, once
        for selector, value in (("#kernel", "vertical_edge"), ("select[name=channels]", "per_channel"),
                                ("select[name=pool]", "max"), ("#kernel", "sharpen")):
            pg.select_option(selector, value)
        pg.check("input[name=relu]")
        pg.fill("input[name=stride]", "3")
        expect(pg.locator("figure[data-stage=pooled] .shape")).to_have_text("170 × 170 × 3")
        assert sum(s["bytes"] for s in sent_bytes(pg)) == sum(s["bytes"] for s in sent)
        settled(pg)
        url = pg.url
        assert "source=upload" in url and "upload=" in url
    # The link opens the same photo elsewhere, without sending it again.
    with browser_page(browser, server.url) as other:
        other.add_init_script(COUNT_SENT_BYTES)
        other.goto(url)
        expect(other.locator("figure[data-stage=pooled] .shape")).to_have_text("170 × 170 × 3")
        assert sum(s["bytes"] for s in sent_bytes(other)) == 0


def test_the_webcam_runs_live_pauses_and_shares_a_frame(camera_browser, server):
    with browser_page(camera_browser, server.url) as pg:
        pg.goto(server.url + "/kernel-lab?source=webcam&kernel=horizontal_edge&relu=true&pool=max")
        wait_until(pg, "window.cnnpgLab.frames > 10")
        # The frame rate, counted in the page over two seconds (bench/lab_latency.py reports it).
        fps = pg.evaluate("""async () => {
          const f0 = window.cnnpgLab.frames, t0 = performance.now();
          await new Promise(r => setTimeout(r, 2000));
          return (window.cnnpgLab.frames - f0) / ((performance.now() - t0) / 1000);
        }""")
        print(f"webcam: {fps:.1f} frames per second at 320×240")
        assert fps >= 10
        expect(pg.locator("figure[data-stage=input] .shape")).to_have_text("240 × 320")
        expect(pg.locator("figure[data-stage=pooled] .shape")).to_have_text("119 × 159")
        assert "source=webcam" in pg.url
        # Pause freezes the frame; a cell of it can then be studied.
        pg.click("#webcam-pause")
        frames = pg.evaluate("() => window.cnnpgLab.frames")
        pg.wait_for_timeout(500)
        assert pg.evaluate("() => window.cnnpgLab.frames") == frames
        canvas = pg.locator("figure[data-stage=feature_map] canvas")
        box = canvas.bounding_box()
        canvas.click(position={"x": box["width"] * 0.5, "y": box["height"] * 0.5})
        title = pg.locator("#inspect strong").first
        expect(title).to_have_text(re.compile(r"Feature map cell \((118|119|120), (158|159|160)\)"))
        r, c = (int(v) for v in re.findall(r"\d+", title.inner_text()))
        value = pg.evaluate(f"() => window.cnnpgLab.last.feature_map[0].data[{r} * 318 + {c}]")
        assert float(value).is_integer()  # whole pixels times a whole-number kernel
        expect(pg.locator("#inspect .sum").first).to_have_text(str(int(value)))
        # Nine products, one per weight of the 3×3 kernel, add up to it.
        terms = pg.locator("#inspect .terms").first.inner_text().split(" + ")
        assert len(terms) == 9
        assert sum(float(a) * float(b) for a, b in (t.split("×") for t in terms)) == value
        assert_accessible(pg, "lab, webcam paused")
        # The frozen frame becomes an upload: sent once, linkable.
        pg.click("#webcam-share")
        expect(pg.locator("#source")).to_have_value("upload")
        expect(pg.locator("figure[data-stage=input] .shape")).to_have_text("240 × 320")
        settled(pg)
        assert "source=upload" in pg.url and "upload=" in pg.url


def test_a_refused_webcam_says_so_and_the_rest_works(page):
    # No camera here (no fake device, no permission): the browser refuses.
    page.goto(page.base_url + "/kernel-lab?source=webcam")
    expect(page.locator("#results .errors")).to_contain_text("No webcam:")
    expect(page.locator("#results .errors")).to_contain_text("the rest of the lab works")
    page.select_option("#source", "sample:cat")
    expect(page.locator("figure[data-stage=feature_map] .shape")).to_have_text("298 × 449")
    expect(page.locator("#webcam-bar")).to_be_hidden()


def test_copy_link_and_qr_code(page):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(page.base_url + "/kernel-lab?source=sample:cat")
    page.select_option("#kernel", "emboss")
    settled(page)
    share = page.locator("[data-share]").first
    share.locator(".share-copy").click()
    expect(share.locator(".share-status")).to_have_text("Link copied")
    assert page.evaluate("() => navigator.clipboard.readText()") == page.url
    share.locator(".share-qr-toggle").click()
    qr = share.locator("img.share-qr")
    expect(qr).to_be_visible()
    wait_until(page, "document.querySelector('img.share-qr').naturalWidth > 0")
    assert "kernel%3Demboss" in qr.get_attribute("src")
    # The QR code follows the state as it changes.
    page.select_option("#kernel", "laplacian")
    expect(qr).to_have_attribute("src", "/share/qr.svg?url=" + page.evaluate(
        "() => encodeURIComponent(location.href)"))
    assert "laplacian" in qr.get_attribute("src")
    svg = page.request.get(page.base_url + qr.get_attribute("src"))
    assert svg.ok and svg.headers["content-type"] == "image/svg+xml"
    assert page.request.get(page.base_url + "/share/qr.svg?url=http://evil.example/").status == 422


def test_projector_mode_is_toggled_and_remembered(page):
    page.goto(page.base_url + "/kernel-lab?source=lesson&kernel=x_filter")
    size = page.evaluate("() => parseFloat(getComputedStyle(document.documentElement).fontSize)")
    toggle = page.locator("#projector-toggle")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    big = page.evaluate("() => parseFloat(getComputedStyle(document.documentElement).fontSize)")
    assert big >= 1.4 * size
    border = page.evaluate("() => parseFloat(getComputedStyle(document.querySelector('.panel'))"
                           ".borderTopWidth)")
    assert border >= 3
    page.goto(page.base_url + "/lessons")  # remembered on every page
    expect(page.locator("html")).to_have_class(re.compile(r"\bprojector\b"))
    assert_accessible(page, "lessons in projector mode")
    page.locator("#projector-toggle").click()
    page.reload()
    expect(page.locator("html")).not_to_have_class("projector")


def test_the_kernel_lab_passes_axe_in_its_modes(page, tmp_path):
    for query in ("source=sample:cat&kernel=horizontal_edge&relu=true&pool=max",
                  "source=sample:astronaut&channels=per_channel&pool=average&cell=10,10",
                  "source=lesson&kernel=x_filter&pool=max&pool_stride=1&relu=true",
                  "source=matrix&matrix=1+2+3%0A4+5+6%0A7+8+9&kernel=identity"):
        page.goto(page.base_url + "/kernel-lab?" + query)
        settled(page)
        assert_accessible(page, query)
    page.select_option("#source", "upload")
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    page.set_input_files("#file", str(bad))
    expect(page.locator("#results .errors")).to_contain_text("file: not an image")
    page.locator(".share-qr-toggle").click()
    assert_accessible(page, "lab with an upload error and the QR code open")
