"""The Datasets pages in Debian's chromium: webcam frames captured into classes (Chromium's
fake camera) and saved as a dataset; a zip uploaded with its progress, its page, the
builder fitted to it; refusals shown in the page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import browser_page
from tests.dataset_zips import cifar_zip, class_images, tiny_png, zip_bytes

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def pages_server(server):
    return server


@pytest.fixture
def pg(camera_browser, pages_server):
    with browser_page(camera_browser, pages_server.url) as page:
        page.context.grant_permissions(["camera"], origin=pages_server.url)
        yield page


def hold(page, button, ms: int) -> None:
    box = button.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.wait_for_timeout(ms)
    page.mouse.up()


def frames(page, i: int) -> int:
    return int(page.locator(".webcam-class").nth(i).get_attribute("data-frames"))


def test_webcam_frames_become_a_dataset(pg, pages_server, client):
    pg.goto(pg.base_url + "/datasets/webcam")
    classes = pg.locator(".webcam-class")
    expect(classes).to_have_count(2)
    names = ["thumbs up", "thumbs down"]
    for i, name in enumerate(names):
        classes.nth(i).locator("input").fill(name)
        hold(pg, classes.nth(i).locator("button.hold"), 1200)
        pg.wait_for_function(f"document.querySelectorAll('.webcam-class')[{i}]"
                             ".querySelectorAll('button.frame').length >= 6")
    expect(pg.locator("#webcam")).to_have_attribute("data-camera", "on")
    # A bad frame is deleted with a click.
    first = frames(pg, 0)
    classes.nth(0).locator("button.frame").first.click()
    expect(classes.nth(0).locator("button.frame")).to_have_count(first - 1)
    counts = {names[0]: first - 1, names[1]: frames(pg, 1)}

    pg.fill("#save-form input[name=name]", "gestures")
    pg.click("#save-dataset")
    pg.wait_for_url(re.compile(r"/datasets/gestures-[0-9a-f]{8}$"))
    dataset_id = pg.url.rsplit("/", 1)[1]
    expect(pg.locator("#dataset-name")).to_have_text("gestures")
    expect(pg.locator("#made-by")).to_contain_text("by you")
    expect(pg.locator("#made-by")).to_contain_text("webcam frames")
    for name, n in counts.items():
        block = pg.locator(f".class-samples[data-class='{name}']")
        train = int(block.locator(".count-train").inner_text())
        test = int(block.locator(".count-test").inner_text())
        assert (train + test, test >= 1) == (n, True)
        expect(block.locator("img")).to_have_count(min(train, 8))
    ds = client.get(f"/api/datasets/{dataset_id}").json()
    assert ds["classes"] == sorted(names) and ds["settings"]["source"] == "webcam"
    assert ds["input_shape"] == [32, 32, 3] and ds["report"]["skipped"] == []


def test_a_zip_uploads_with_progress_and_the_builder_fits_it(pg):
    pg.goto(pg.base_url + "/datasets")
    pg.set_input_files("#upload-form input[name=file]", files=[{
        "name": "cifar3.zip", "mimeType": "application/zip", "buffer": cifar_zip()}])
    pg.fill("#upload-form input[name=name]", "cifar <b>three</b>")
    pg.click("#upload-form button[type=submit]")
    pg.wait_for_url(re.compile(r"/datasets/cifar_b_three_b-[0-9a-f]{8}$"))
    dataset_id = pg.url.rsplit("/", 1)[1]
    expect(pg.locator("#dataset-name")).to_have_text("cifar <b>three</b>")  # shown as text
    expect(pg.locator("#input-shape")).to_have_text("32 × 32 × 3")
    sizes = {name: len(idx) for name, idx in class_images().items()}
    expect(pg.locator(".class-samples .class-name")).to_have_text(sorted(sizes))
    expect(pg.locator(".sample-grid img")).to_have_count(24)
    for name, n in sizes.items():
        block = pg.locator(f".class-samples[data-class='{name}']")
        assert int(block.locator(".count-train").inner_text()) + int(
            block.locator(".count-test").inner_text()) == n

    # Its page leads to the builder, fitted to it: input 32×32×3, three outputs.
    pg.click("text=Build and train a model on it")
    expect(pg.locator("select[name=dataset]")).to_have_value(dataset_id)
    expect(pg.locator(".input-row code")).to_have_text("32, 32, 3")
    expect(pg.locator(".layer-row[data-type=RandomFlip]")).to_have_count(1)
    last = pg.locator(".layer-row[data-type=Dense]").last
    expect(last.locator("input[name$='.units']")).to_have_value("3")
    expect(pg.locator("#train")).to_be_enabled()
    # Picking another dataset fits the input and the output to it.
    pg.select_option("select[name=dataset]", "mnist")
    expect(pg.locator(".input-row code")).to_have_text("28, 28, 1")
    expect(pg.locator(".layer-row[data-type=Dense]").last.locator("input[name$='.units']")
           ).to_have_value("10")
    expect(pg.locator("#train")).to_be_enabled()
    pg.select_option("select[name=dataset]", dataset_id)
    expect(pg.locator(".layer-row[data-type=Dense]").last.locator("input[name$='.units']")
           ).to_have_value("3")

    # Its owner deletes it from its page.
    pg.goto(pg.base_url + f"/datasets/{dataset_id}")
    pg.once("dialog", lambda d: d.accept())
    pg.click("#delete-dataset")
    pg.wait_for_url(re.compile(r"/datasets$"))
    expect(pg.locator(f"tr[data-dataset='{dataset_id}']")).to_have_count(0)


def test_refusals_are_shown_in_the_page(pg):
    pg.goto(pg.base_url + "/datasets")
    one_class = zip_bytes({f"cats/{i}.png": tiny_png(i) for i in range(5)})
    pg.set_input_files("#upload-form input[name=file]", files=[{
        "name": "cats.zip", "mimeType": "application/zip", "buffer": one_class}])
    pg.fill("#upload-form input[name=name]", "cats")
    pg.click("#upload-form button[type=submit]")
    expect(pg.locator("#upload-status .errors")).to_contain_text("one class folder ('cats')")

    # A corrupt image, refused as asked: found while decoding, after the progress bar.
    corrupt = zip_bytes({**{f"{c}/{i}.png": tiny_png(i + (100 if c == "dogs" else 0))
                            for c in ("cats", "dogs") for i in range(4)},
                         "dogs/bad.png": b"\x89PNG broken"})
    pg.set_input_files("#upload-form input[name=file]", files=[{
        "name": "pets.zip", "mimeType": "application/zip", "buffer": corrupt}])
    pg.check("#upload-form input[name=on_bad_file][value=refuse]")
    pg.click("#upload-form button[type=submit]")
    errors = pg.locator("#upload-status .errors")
    expect(errors).to_contain_text("on_bad_file=refuse")
    expect(errors.locator(".file-report li")).to_have_text(["dogs/bad.png: not an image Pillow can read"])
    expect(pg.locator("#dataset-progress")).to_have_attribute("data-status", "failed")
