"""The Model Builder and job pages in Debian's chromium, with the session's real worker
training."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from tests.conftest import assert_accessible, browser_page

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def train_server(server):
    return server


@pytest.fixture
def bpage(browser, train_server):
    with browser_page(browser, train_server.url) as pg:
        yield pg


def test_edit_layers_with_a_live_summary(bpage):
    pg = bpage
    pg.goto(pg.base_url + "/builder")
    expect(pg.locator("#total-params")).to_have_text("62,346")
    pg.select_option("#preset-choice", "cifar_model_intro")
    pg.click("button.load-preset")
    expect(pg.locator("#total-params")).to_have_text("79,530")
    expect(pg.locator("select[name=dataset]")).to_have_value("cifar10")
    # The Conv2D formula, with the numbers filled in.
    expect(pg.locator("#layer-info-0")).to_contain_text("((3·3·3) + 1) · 16 = 448")

    # Typing updates the summary; an impossible kernel shows its error beside the layer.
    pg.fill("input[name='l0.filters']", "8")
    expect(pg.locator("#total-params")).not_to_have_text("79,530")
    pg.fill("input[name='l0.kernel_size']", "40")
    expect(pg.locator("#layer-info-0 .layer-error")).to_contain_text(
        "layer 1 (Conv2D): kernel 40×40 is larger than its 32×32 input")  # numbered from 1
    expect(pg.locator("#train")).to_be_disabled()
    # The summary stays, the invalid layer marked in it.
    expect(pg.locator("#summary tr[data-index='0']")).to_have_class("invalid")
    expect(pg.locator("#summary tr[data-index='1']")).to_have_class("unknown")
    pg.fill("input[name='l0.kernel_size']", "3")
    expect(pg.locator("#train")).to_be_enabled()

    # Add, move and remove layers: a layer is added before the output layer.
    n = pg.locator(".layer-row[data-index]").count()
    pg.select_option("#add-type", "Dropout")
    pg.click("button.add-layer")
    expect(pg.locator(".layer-row[data-index]")).to_have_count(n + 1)
    expect(pg.locator(f".layer-row[data-index='{n - 1}']")).to_have_attribute("data-type", "Dropout")
    expect(pg.locator(f".layer-row[data-index='{n}']")).to_have_attribute("data-type", "Dense")
    expect(pg.locator(f".layer-row[data-index='{n - 1}'] .lnum")).to_have_text(str(n))
    # Moved after the softmax: a warning beside it (Keras would build it all the same).
    pg.click(f".layer-row[data-index='{n - 1}'] button[title='Move down']")
    expect(pg.locator(f"#layer-info-{n} .layer-warning")).to_contain_text(
        f"Layer {n + 1} comes after the output layer (layer {n}")
    expect(pg.locator("#train")).to_be_enabled()
    pg.click(f".layer-row[data-index='{n}'] button.remove")
    expect(pg.locator(".layer-row[data-index]")).to_have_count(n)
    expect(pg.locator(".layer-warning")).to_have_count(0)
    assert_accessible(pg, "the builder")


def test_train_from_a_preset_and_watch_the_progress(bpage):
    pg = bpage
    pg.goto(pg.base_url + "/builder")  # starts from the book's MNIST model
    pg.fill("input[name=epochs]", "4")  # long enough to watch, at one refresh a second
    pg.fill("input[name=train_samples]", "3000")
    pg.fill("input[name=batch_size]", "32")
    pg.fill("input[name=learning_rate]", "0.05")
    expect(pg.locator("#train")).to_be_enabled()
    pg.click("#train")
    pg.wait_for_url("**/jobs/*")
    cell = pg.locator("#job-panel .progress-cell")

    def position() -> tuple[str, int]:
        return (cell.get_attribute("data-status"),
                int(cell.get_attribute("data-epoch")) * 1000 + int(cell.get_attribute("data-batch")))

    # The bar moves: the page shows a first batch, then a later batch (or epoch), then the end.
    seen: list[int] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status, where = position()
        if status == "running" and where > 0 and (not seen or where > seen[-1]):
            seen.append(where)
        if len(seen) >= 2 or status in ("succeeded", "failed"):
            break
        pg.wait_for_timeout(200)
    assert len(seen) >= 2, (seen, position())
    expect(pg.locator("#job-status")).to_have_text("succeeded", timeout=120_000)
    expect(pg.locator("#test-accuracy")).to_contain_text("%")
    # Loss and accuracy curves: one point per epoch.
    expect(pg.locator("html")).to_have_attribute("data-chart-points", "4")
    assert pg.locator("table.confusion tbody tr").count() == 10

    pg.goto(pg.base_url + "/jobs")
    expect(pg.locator("#job-rows tr").first).to_have_attribute("data-status", "succeeded")


def test_a_script_for_a_name_is_shown_as_text(bpage, client):
    from tests.job_bodies import QUICK

    name = "<script>alert(1)</script>"
    job = client.post("/api/jobs", json={**QUICK, "name": name}).json()["id"]
    dialogs: list[str] = []
    bpage.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    for path in ("/jobs", f"/jobs/{job}", "/draw"):
        bpage.goto(bpage.base_url + path)
        if path != "/draw":
            expect(bpage.get_by_text(name).first).to_be_visible()
    assert dialogs == []
    client.post(f"/api/jobs/{job}/cancel")
