"""The pages where a teacher or a learner stumbled (issue 19), in Debian's chromium: a phone
(390×844) and a projector (1366×800 in projector mode) as well as a desktop."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import assert_accessible, browser_page, wait_until
from tests.test_browser_draw import stroke

pytestmark = pytest.mark.browser

PHONE = {"viewport": (390, 844), "is_mobile": True, "has_touch": True}
PROJECTOR_SCREEN = (1366, 800)


def lab_settled(pg) -> None:
    pg.wait_for_load_state("networkidle")
    wait_until(pg, "window.cnnpgLab && window.cnnpgLab.renders > 0 && "
                   "!document.querySelector('#results.htmx-request')")


def box(pg, selector: str) -> dict:
    found = pg.locator(selector).first.bounding_box()
    assert found, selector
    return found


def test_the_picked_cells_window_is_marked_on_the_input_too(page):
    page.goto(page.base_url + "/kernel-lab?source=sample:cat&kernel=horizontal_edge&stride=2"
              "&pool=max&cell=10,20")
    lab_settled(page)
    window = page.locator("figure[data-stage=input] .window-mark")
    expect(window).to_have_count(1)
    # Stride 2, no padding: output cell (10, 20) reads input rows 20–22, columns 40–42.
    assert (window.get_attribute("data-rows"), window.get_attribute("data-cols")) == ("20,22", "40,42")
    image, mark = box(page, "figure[data-stage=input] canvas"), window.bounding_box()
    assert image["x"] <= mark["x"] and mark["x"] + mark["width"] <= image["x"] + image["width"] + 1
    centre_y = image["y"] + 21.5 / 300 * image["height"]  # where row 21 is drawn
    assert abs(mark["y"] + mark["height"] / 2 - centre_y) < 2
    # It follows the picked cell, by keyboard as by mouse.
    page.locator("figure[data-stage=feature_map] canvas").focus()
    page.keyboard.press("ArrowRight")
    expect(window).to_have_attribute("data-cols", "42,44")
    # A pooled cell's window is marked on the map it pools.
    page.locator("figure[data-stage=pooled] canvas").click(position={"x": 12, "y": 8})
    wait_until(page, "document.getElementById('pool_cell').value")
    r, c = (int(v) for v in page.input_value("#pool_cell").split(","))
    pool = page.locator("figure[data-stage=feature_map] .pool-window")  # 2×2, stride 2
    expect(pool).to_have_attribute("data-rows", f"{2 * r},{2 * r + 1}")
    expect(pool).to_have_attribute("data-cols", f"{2 * c},{2 * c + 1}")
    assert_accessible(page, "the lab with a picked cell")


def test_on_a_phone_the_menu_folds_and_the_prediction_is_under_the_canvas(browser, server):
    with browser_page(browser, server.url, **PHONE) as pg:
        pg.goto(server.url + "/draw")
        header = box(pg, "header.site")
        assert header["height"] < 0.08 * 844, header  # once 45% of the screen
        nav, toggle = pg.locator("#site-nav"), pg.locator(".menu-toggle")
        expect(nav).to_be_hidden()
        toggle.click()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        expect(nav.locator("a[href='/kernel-lab']")).to_be_visible()
        expect(nav.locator("a").first).to_be_focused()
        assert_accessible(pg, "the phone's menu, open")
        pg.keyboard.press("Escape")
        expect(nav).to_be_hidden()
        expect(toggle).to_be_focused()

        # Draw: the prediction shows under the canvas, on the same screen as the drawing.
        stroke(pg, [(140, 40 + i * 10) for i in range(21)], "touch")
        expect(pg.locator("#prediction")).to_have_attribute("data-label", "1")
        canvas, label = box(pg, "#pad"), box(pg, ".big-label")
        assert pg.evaluate("() => window.scrollY") == 0
        assert canvas["y"] >= 0 and label["y"] + label["height"] <= 844, (canvas, label)
        assert canvas["y"] + canvas["height"] <= label["y"]  # under it, not beside the maps
        # The heatmap's colour scale, low to high, beside it.
        expect(pg.locator("#draw-heat-legend img")).to_be_visible()
        expect(pg.locator("#draw-heat-legend")).to_contain_text("low")
        assert box(pg, "#draw-layers")["y"] > label["y"]  # the maps come after
        assert_accessible(pg, "Draw on a phone")


def test_the_heat_legend_sits_beside_draws_heatmap_on_a_desktop(page):
    page.goto(page.base_url + "/draw")
    stroke(page, [(140, 40 + i * 10) for i in range(21)])
    expect(page.locator("#prediction")).to_have_attribute("data-label", "1")
    page.wait_for_load_state("networkidle")  # the last update swapped in
    heat, legend = page.evaluate("""() => ["#draw-gradcam", "#draw-heat-legend img"].map(s => {
      const r = document.querySelector(s).getBoundingClientRect();
      return {x: r.x, y: r.y, width: r.width, height: r.height};
    })""")
    assert abs(legend["x"] - heat["x"]) < 4 and 0 <= legend["y"] - (heat["y"] + heat["height"]) < 40
    src = page.locator("#draw-heat-legend img").get_attribute("src")
    assert src.startswith("data:image/png;base64,")
    # The menu stays open on a desktop: every link in the header, no button.
    expect(page.locator("#site-nav a[href='/builder']")).to_be_visible()
    expect(page.locator(".menu-toggle")).to_be_hidden()


def test_in_projector_mode_the_lab_shows_its_maps_first(browser, server):
    with browser_page(browser, server.url, viewport=PROJECTOR_SCREEN) as pg:
        pg.goto(server.url + "/kernel-lab?source=sample:cat&kernel=horizontal_edge&relu=true"
                "&pool=max")
        pg.locator("#projector-toggle").click()
        expect(pg.locator("html")).to_have_class(re.compile(r"\bprojector\b"))
        lab_settled(pg)
        pg.evaluate("() => window.scrollTo(0, 0)")
        assert box(pg, "header.site")["height"] < 100  # the links fold behind Menu
        for stage in ("input", "feature_map", "activated"):
            panel = box(pg, f"figure[data-stage={stage}] canvas")
            assert panel["y"] + panel["height"] <= PROJECTOR_SCREEN[1], (stage, panel)
        assert box(pg, "#lab-form")["y"] > box(pg, ".panels")["y"]  # the controls after
        expect(pg.locator("#lab-form")).to_be_visible()  # out of the way, not gone
        assert_accessible(pg, "the lab on a projector")
