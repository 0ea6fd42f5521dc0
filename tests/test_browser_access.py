"""Everyone can use it: axe-core on every page, with a real worker so that a job page is seen
while its job runs and once it has finished; and Compare's link (the jobs and "only what
differs"), reopened elsewhere and repaired when it names jobs that are not there.

Pages checked elsewhere too: the Kernel Lab in each of its modes (test_browser_teach_lab.py),
each lesson (test_lessons.py), the class pages and the teacher's dashboard with learners and
a running job (test_classes.py)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from tests.conftest import assert_accessible, browser_page, wait_job, wait_until
from tests.test_browser_explain import seven, stroke_on

pytestmark = pytest.mark.browser

TINY = {"name": "tiny", "input_shape": [28, 28, 1], "layers": [
    {"type": "Conv2D", "filters": 4, "kernel_size": 3, "activation": "relu"},
    {"type": "MaxPooling2D", "pool_size": 2}, {"type": "Flatten"},
    {"type": "Dense", "units": 10, "activation": "softmax"}]}


@pytest.fixture(scope="module")
def access_server(server):
    return server


@pytest.fixture(scope="module")
def jobs(playground):
    """A finished job, and one caught running (with its owner's token, to cancel it)."""
    c = playground.new_client()
    quick = c.post("/api/jobs", json={"architecture": TINY, "dataset": "mnist", "training": {
        "epochs": 2, "train_samples": 600, "validation_split": 0.1, "seed": 1}}).json()["id"]
    done = wait_job(c, quick, lambda j: j["status"] in ("succeeded", "failed"))
    assert done["status"] == "succeeded", done["error"]
    r = c.post("/api/jobs", json={"architecture": TINY, "dataset": "mnist", "training": {
        "epochs": 50, "train_samples": 5000, "batch_size": 8, "learning_rate": 0.003}})
    slow, token = r.json()["id"], r.headers["x-owner-token"]
    yield {"quick": quick, "model": done["result"]["model_id"], "slow": slow, "token": token}
    c.post(f"/api/jobs/{slow}/cancel", headers={"X-Owner-Token": token})


def visit(pg, path: str, label: str = "", idle: bool = True) -> None:
    pg.goto(pg.base_url + path)
    if idle:
        pg.wait_for_load_state("networkidle")
    assert_accessible(pg, label or path)


def test_every_page_passes_axe(browser, access_server, jobs, client):
    c = client
    with browser_page(browser, access_server.url) as pg:
        # A job page while its job runs (its panel pushed live), then cancelled.
        wait_job(c, jobs["slow"], lambda j: j["status"] == "running"
                 and (j["progress"] or {}).get("batch", 0) > 0)
        pg.goto(pg.base_url + f"/jobs/{jobs['slow']}")
        expect(pg.locator("#job-panel .progress-cell")).to_have_attribute("data-status", "running")
        assert_accessible(pg, "a job page while its job runs")
        c.post(f"/api/jobs/{jobs['slow']}/cancel", headers={"X-Owner-Token": jobs["token"]})
        wait_job(c, jobs["slow"], lambda j: j["status"] == "cancelled", 30)

        visit(pg, f"/jobs/{jobs['quick']}", "a finished job's page")
        expect(pg.locator("#test-accuracy")).to_contain_text("%")
        for path in ("/", "/kernel-lab?source=sample:cat&relu=true&pool=max", "/builder", "/jobs",
                     f"/compare?jobs={jobs['quick']},{jobs['slow']}", "/models",
                     "/models/mnist_digits", f"/models/{jobs['model']}", "/datasets",
                     "/datasets/mnist", "/datasets/webcam", "/lessons", "/classes"):
            visit(pg, path)
        # Draw with a drawing; Explain with a convolution's cell, then a dense unit, open.
        pg.goto(pg.base_url + "/draw")
        stroke_on(pg, "#pad", seven())
        expect(pg.locator("#prediction")).to_have_attribute("data-label", "7")
        assert_accessible(pg, "draw, with a drawing")
        pg.goto(pg.base_url + "/explain?model=mnist_digits&source=test&class=7&index=0"
                "&layer=conv2&channel=5&cell=7,9")
        expect(pg.locator("#cell-breakdown")).to_be_visible()
        expect(pg.locator("#saliency-view")).to_be_visible()
        assert_accessible(pg, "explain, a conv2 cell open")
        pg.locator('.strip-box[data-layer="dense"]').focus()
        pg.keyboard.press("End")
        expect(pg.locator("#top-terms")).to_be_visible()
        assert_accessible(pg, "explain, a dense unit open")
        # The API docs, closed and with an operation tried.
        pg.goto(pg.base_url + "/docs")
        expect(pg.locator(".opblock-summary-control").first).to_be_visible()
        assert_accessible(pg, "API docs")
        pg.locator(".opblock-summary-control").first.click()
        pg.locator("button.try-out__btn").first.click()
        pg.locator("button.execute").first.click()
        expect(pg.locator(".live-responses-table").first).to_be_visible()
        assert "#/" in pg.url  # deep links still follow the open operation
        assert_accessible(pg, "API docs, an operation tried")


def test_a_page_that_is_not_there_says_so(client):
    for path in ("/models/not-a-model", "/jobs/0123456789ab", "/no-such-page"):
        r = client.get(path, headers={"accept": "text/html"})
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html"), path
        assert "<h1>Not found</h1>" in r.text and 'id="page-error"' in r.text
    assert client.get("/models/not-a-model").json()["detail"][0]["type"] == "not_found"


def test_compare_state_reopens_from_its_link(browser, access_server, jobs):
    with browser_page(browser, access_server.url) as pg:
        pg.goto(pg.base_url + "/compare")
        pg.select_option("#add-job-choice", jobs["quick"])
        pg.click("#add-job button[type=submit]")
        pg.select_option("#add-job-choice", jobs["slow"])
        pg.click("#add-job button[type=submit]")
        expect(pg.locator("#compare-legend li")).to_have_count(2)
        # It opens with only what differs; every setting is a tick away, and in the link.
        expect(pg.locator("#only-differences")).to_be_checked()
        differing = pg.locator("#compare-settings tbody tr:visible").all_inner_texts()
        assert differing and len(differing) < pg.locator("#compare-settings tbody tr").count()
        assert "only" not in parse_qs(urlparse(pg.url).query)
        pg.uncheck("#only-differences")
        wait_until(pg, "location.search.includes('only=all')")
        query = parse_qs(urlparse(pg.url).query)
        assert query == {"jobs": [f"{jobs['quick']},{jobs['slow']}"], "only": ["all"]}
        shown = pg.locator("#compare-settings tbody tr:visible").all_inner_texts()
        assert len(shown) == pg.locator("#compare-settings tbody tr").count() > len(differing)
        with browser_page(browser, access_server.url) as other:
            other.goto(pg.url)
            expect(other.locator("#only-differences")).not_to_be_checked()
            assert other.locator("#compare-settings tbody tr:visible").all_inner_texts() == shown
            assert other.url == pg.url
            expect(other.locator("[data-share] .share-copy")).to_be_visible()
            # Release 0.2's links: `only=differences` still opens only what differs.
            other.goto(pg.base_url + f"/compare?jobs={jobs['quick']},{jobs['slow']}"
                       "&only=differences")
            expect(other.locator("#only-differences")).to_be_checked()
            wait_until(other, f"location.search === '?jobs={jobs['quick']},{jobs['slow']}'")
            assert other.locator("#compare-settings tbody tr:visible").all_inner_texts() == differing
        # A link naming a job that is not here, one twice and a typo: the rest, said so.
        pg.goto(pg.base_url + f"/compare?jobs={jobs['quick']},0123456789ab,{jobs['slow']},"
                f"{jobs['quick']},oops")
        notice = pg.locator("#link-notice")
        expect(notice).to_contain_text("there is no job 0123456789ab here: left out")
        expect(notice).to_contain_text(f"job {jobs['quick']} was listed twice")
        expect(notice).to_contain_text("'oops' is not a job id")
        expect(pg.locator("#compare-legend li")).to_have_count(2)
        wait_until(pg, f"location.search === '?jobs={jobs['quick']},{jobs['slow']}'")
        pg.goto(pg.base_url + "/compare?jobs=0123456789ab")
        expect(pg.locator("#link-notice")).to_contain_text("a comparison needs two jobs or more")
        assert_accessible(pg, "compare, a repaired link")
