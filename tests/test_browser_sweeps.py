"""A sweep in Debian's chromium, as a learner makes one: the lesson's model in the Builder,
"Sweep…", two learning rates, the page live while the session's real worker trains the
runs, the chart, what mattered, the table sorted, and the best run opened."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import assert_accessible, browser_page, wait_until

pytestmark = pytest.mark.browser


def test_a_sweep_of_the_lesson_model_from_the_builder_to_the_best_run(browser, server, client):
    with browser_page(browser, server.url) as pg:
        pg.goto(pg.base_url + "/builder?preset=mnist_book")
        expect(pg.locator("#total-params")).to_have_text("62,346")
        # Small runs: 300 images, one epoch (the lesson's model and optimizer as they are).
        pg.fill("input[name=epochs]", "1")
        pg.fill("input[name=train_samples]", "300")
        pg.click("#sweep")
        pg.wait_for_url(re.compile(r"/sweeps/new\?"))
        expect(pg.locator("#sweep-runs-count")).to_have_text("3 runs")  # 0.001, 0.01, 0.1
        pg.fill("#values0", "0.01, 0.1")
        expect(pg.locator("#sweep-runs-count")).to_have_text("2 runs")
        expect(pg.locator(".sweep-grid li")).to_have_count(2)
        assert_accessible(pg, "the sweep form")

        pg.click("#sweep-start")
        pg.wait_for_url(re.compile(r"/sweeps/[0-9a-f]{12}$"))
        sweep_id = pg.url.rsplit("/", 1)[1]
        assert_accessible(pg, "a sweep while it runs")
        # Live: the page follows the runs to the end (server-sent events, no reload).
        expect(pg.locator("#sweep-panel")).to_have_attribute("data-status", "finished",
                                                             timeout=120_000)
        sweep = client.get(f"/api/sweeps/{sweep_id}").json()
        assert [j["status"] for j in sweep["jobs"]] == ["succeeded", "succeeded"], sweep
        assert len({j["seed"] for j in sweep["jobs"]}) == 1
        assert [j["values"]["training.learning_rate"] for j in sweep["jobs"]] == [0.01, 0.1]

        lines = pg.locator("polyline.run-line")
        expect(lines).to_have_count(2)
        expect(pg.locator("polyline.run-line.pending")).to_have_count(0)
        expect(pg.locator("#parallel .axis-label")).to_have_text(["learning rate", "test accuracy"])
        expect(pg.locator(".effect-sentence")).to_contain_text("moved the mean test accuracy by")

        # Pointing at a row highlights the same run's line, and the other way round.
        second = sweep["jobs"][1]["id"]
        pg.hover(f"#sweep-runs tr[data-job='{second}']")
        expect(pg.locator(f"polyline[data-job='{second}']")).to_have_class(re.compile(r"\bhl\b"))
        first = sweep["jobs"][0]["id"]
        pg.locator(f"polyline[data-job='{first}']").hover(force=True)
        expect(pg.locator(f"#sweep-runs tr[data-job='{first}']")).to_have_class(re.compile(r"\bhl\b"))

        # Sorted by test accuracy, the best run first, and the address keeps the order.
        pg.click("button.sort[data-key=accuracy]")
        best = sweep["best"]
        expect(pg.locator("#sweep-runs tbody tr").first).to_have_attribute("data-job", best)
        expect(pg.locator("#sweep-runs tbody tr").first).to_contain_text("★ best")
        wait_until(pg, "location.search.includes('sort=accuracy')")
        assert_accessible(pg, "a finished sweep")

        expect(pg.locator("#train-best")).to_have_attribute("href", f"/builder?job={best}")
        pg.click("#open-best")
        pg.wait_for_url(f"**/jobs/{best}")
        expect(pg.locator("#test-accuracy")).to_be_visible()
