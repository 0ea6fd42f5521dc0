"""The Draw page in Debian's chromium: pointer-event strokes on the canvas, read live."""

from __future__ import annotations

import math

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def stroke(pg, points, pointer_type="mouse"):
    """One stroke through canvas coordinates (0–280), as pointer events."""
    box = pg.locator("#pad").bounding_box()

    def at(p):
        return {"clientX": box["x"] + p[0] * box["width"] / 280,
                "clientY": box["y"] + p[1] * box["height"] / 280,
                "pointerId": 1, "pointerType": pointer_type, "isPrimary": True,
                "bubbles": True, "buttons": 1}

    pad = pg.locator("#pad")
    pad.dispatch_event("pointerdown", at(points[0]))
    for p in points[1:]:
        pad.dispatch_event("pointermove", at(p))
    pad.dispatch_event("pointerup", {**at(points[-1]), "buttons": 0})


def one():
    return [(140, 40 + i * 10) for i in range(21)]


def zero():
    return [(140 + 60 * math.sin(i / 40 * 2 * math.pi), 140 - 90 * math.cos(i / 40 * 2 * math.pi))
            for i in range(41)]


def test_draw_a_one_then_a_zero(page):
    page.goto(page.base_url + "/draw")
    stroke(page, one(), "touch")
    expect(page.locator("#prediction")).to_have_attribute("data-label", "1")
    expect(page.locator(".big-label")).to_have_text("1")
    # The feature maps of every layer, for this drawing: one picture per layer.
    expect(page.locator("section.layer[data-layer=conv1]")).to_have_attribute("data-channels", "32")
    expect(page.locator("section.layer[data-layer=pool2]")).to_have_attribute("data-channels", "64")
    # Each first-layer map opens its kernel: a link over each tile of its picture.
    expect(page.locator("section.layer[data-layer=conv1] svg.tile-links a")).to_have_count(32)
    assert page.locator(".bars progress").count() == 10
    seen = page.locator(".seen img").get_attribute("src")

    page.click("#clear")
    expect(page.locator("#analysis .hint")).to_be_visible()
    stroke(page, zero(), "pen")
    expect(page.locator("#prediction")).to_have_attribute("data-label", "0")
    assert page.locator(".seen img").get_attribute("src") != seen


def test_undo_and_kernel_link(page):
    page.goto(page.base_url + "/draw")
    stroke(page, [(170, 40 + i * 10) for i in range(21)])
    expect(page.locator("#prediction")).to_have_attribute("data-label", "1")
    stroke(page, [(60 + i * 10, 40) for i in range(12)])  # a top bar: now it reads as a 7
    expect(page.locator("#prediction")).not_to_have_attribute("data-label", "1")
    page.click("#undo")
    expect(page.locator("#prediction")).to_have_attribute("data-label", "1")
    # A learned kernel opens in the Kernel Lab as a custom grid.
    href = page.locator("section.layer[data-layer=kernels] a").first.get_attribute("href")
    page.goto(page.base_url + href)
    expect(page.locator("#lab-output")).to_have_attribute("data-kernel", "custom")
