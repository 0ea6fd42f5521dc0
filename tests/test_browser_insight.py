"""The insight pages in a browser (strict CSP: every script and style from files): a
channel's page fills in after its progress bar, the embedding map shows an image on hover,
picks a class out from its legend and opens a dot in Explain; axe finds nothing serious."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import assert_accessible

pytestmark = pytest.mark.browser


def test_a_channel_page_fills_in(page):
    page.goto(page.base_url + "/insight/channel?model=mnist_digits&layer=conv1&channel=2")
    expect(page.locator("#insight-channel-view")).to_be_visible(timeout=60_000)
    expect(page.locator("#insight-channel-view img.insight-img")).to_have_count(10)
    assert_accessible(page, "a channel's page")


def test_the_embedding_map_shows_opens_and_picks(page):
    page.goto(page.base_url + "/insight/embedding?model=mnist_digits&count=300&method=pca")
    canvas = page.locator("#embedding-canvas")
    expect(canvas).to_be_visible(timeout=60_000)
    assert_accessible(page, "the embedding map")
    x, y, label, _, index = page.evaluate(
        "() => JSON.parse(document.getElementById('embedding-map').dataset.points)[0]")

    def at() -> tuple[float, float]:  # where the dot is on the screen now
        box = canvas.bounding_box()
        return (box["x"] + (14 + x * 612) * box["width"] / 640,
                box["y"] + (14 + y * 612) * box["height"] / 640)

    canvas.scroll_into_view_if_needed()
    page.mouse.move(*at())
    expect(page.locator("#embedding-tip")).to_be_visible()
    expect(page.locator("#embedding-tip span")).to_contain_text("#")
    legend = page.locator(f'.embedding-legend button[data-class="{label}"]')
    legend.click()
    expect(legend).to_have_attribute("aria-pressed", "true")
    canvas.scroll_into_view_if_needed()
    page.mouse.click(*at())
    page.wait_for_url("**/explain?**", wait_until="commit")
    assert f"index={index}" in page.url and f"class={label}" in page.url
