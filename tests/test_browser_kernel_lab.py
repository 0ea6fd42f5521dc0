"""The Kernel Lab in a real browser: Playwright driving Debian's chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def feature_map_src(pg) -> str:
    """What the feature map shows: photos are drawn in the page, on a canvas."""
    return pg.locator("figure[data-stage=feature_map] canvas").first.evaluate("c => c.toDataURL()")


def test_horizontal_edge_on_the_cat_changes_the_feature_map(page):
    page.goto(page.base_url + "/kernel-lab?source=sample:cat&kernel=identity")
    assert page.locator("#lab-output").get_attribute("data-kernel") == "identity"
    before = feature_map_src(page)
    identity_range = page.locator("figure[data-stage=feature_map] .range").inner_text()

    page.select_option("#kernel", "horizontal_edge")
    page.wait_for_selector("#lab-output[data-kernel=horizontal_edge]")
    assert feature_map_src(page) != before
    # The grid shows the lesson's kernel, and the map is signed (negative minimum).
    weights = [page.locator("#kernel-grid input").nth(i).input_value() for i in range(9)]
    assert weights == ["-1", "-1", "-1", "0", "0", "0", "1", "1", "1"]
    edge_range = page.locator("figure[data-stage=feature_map] .range").inner_text()
    assert edge_range != identity_range and "min -" in edge_range
    assert page.locator("figure[data-stage=feature_map] .shape").inner_text() == "298 × 449"

    # Stride 2 with "same" padding: ⌈300/2⌉ × ⌈451/2⌉.
    page.check("input[name=padding][value=same]")
    page.fill("input[name=stride]", "2")
    expect(page.locator("figure[data-stage=feature_map] .shape")).to_have_text("150 × 226")


def test_numeric_mode_works_through_a_cell(page):
    page.goto(page.base_url + "/kernel-lab?source=lesson&kernel=x_filter")
    cells = page.locator("figure[data-stage=feature_map] td")
    assert [cells.nth(i).inner_text() for i in range(9)] == ["4", "3", "4", "2", "4", "3", "2", "3", "4"]
    page.click("figure[data-stage=feature_map] td[data-cell='1,0']")
    page.wait_for_selector("text=Feature map cell (1, 0)")
    assert page.locator(".breakdown .sum").first.inner_text() == "2"
    # Its receptive field is the 3×3 block of the input starting at row 1, column 0.
    assert page.locator("figure[data-stage=input] td.rf").count() == 9

    page.select_option("select[name=pool]", "max")
    page.wait_for_selector("figure[data-stage=pooled]")
    page.fill("input[name=pool_stride]", "1")
    expect(page.locator("figure[data-stage=pooled] .shape")).to_have_text("2 × 2")
    page.click("figure[data-stage=pooled] td[data-cell='1,1']")
    page.wait_for_selector("text=Pooled cell (1, 1)")
    assert page.locator(".breakdown .sum").nth(1).inner_text() == "4"


def test_custom_kernel_from_the_grid(page):
    page.goto(page.base_url + "/kernel-lab?source=lesson&kernel=identity")
    grid = page.locator("#kernel-grid input")
    grid.nth(4).fill("2")
    page.wait_for_selector("#lab-output[data-kernel=custom]")
    cells = page.locator("figure[data-stage=feature_map] td")
    # 2 × the centre pixels of the lesson image.
    assert [cells.nth(i).inner_text() for i in range(3)] == ["2", "2", "2"]
    assert page.input_value("#kernel") == "custom"


def test_upload_shows_an_error_for_a_non_image(page, tmp_path):
    page.goto(page.base_url + "/kernel-lab")
    page.select_option("#source", "upload")
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    page.set_input_files("#file", str(bad))
    page.wait_for_selector("#results .errors")
    assert "file: not an image" in page.locator("#results .errors").inner_text()
    # The page shows the refusal; nothing is logged as an error (the fixture checks).
