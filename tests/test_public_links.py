"""Links shown for others to open (the class join link, "copy link" and its QR code, the
model page's snippets) are whole links on the address students can reach: CNNPG_PUBLIC_URL
when it is set, else the address the teacher's browser reached the server by; never a bare
path, and a page opened on 127.0.0.1 says that its links open only on that computer."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from tests.conftest import ADMIN, assert_accessible, browser_page

PUBLIC = "http://10.20.30.40:8000"
LAN = "192.168.1.20:8000"


def test_the_join_link_is_on_the_address_the_teacher_used(client):
    made = client.post("/api/classes", json={"name": "Links"},
                       headers={"X-Owner-Token": ADMIN, "Host": LAN})
    assert made.status_code == 201, made.text
    code = made.json()["code"]
    assert made.json()["join_url"] == f"http://{LAN}/classes/join?code={code}"
    page = client.get(f"/classes/{code}", headers={"X-Owner-Token": made.json()["teacher_token"],
                                                   "Host": LAN})
    link = f"http://{LAN}/classes/join?code={code}"
    assert f'<a class="join-link" href="{link}">{link}</a>' in page.text  # shown whole
    assert "opens only on this computer" not in page.text
    # On 127.0.0.1 the page says that students cannot open it, and how to fix that.
    local = client.get("/kernel-lab", headers={"Host": "127.0.0.1:8000"})
    assert "opens only on this computer" in local.text and "CNNPG_PUBLIC_URL" in local.text
    assert "data-base=" not in local.text  # the browser's own address is used


def test_cnnpg_public_url_is_used_for_every_shared_link(make_playground):
    pg = make_playground(public_url=PUBLIC + "/", admin_token=ADMIN)
    c = pg.client
    assert pg.settings.public_url == PUBLIC  # the trailing slash is dropped
    made = c.post("/api/classes", json={"name": "Public"}, headers={"X-Owner-Token": ADMIN})
    code, teacher = made.json()["code"], made.json()["teacher_token"]
    assert made.json()["join_url"] == f"{PUBLIC}/classes/join?code={code}"
    board = c.get(f"/classes/{code}", headers={"X-Owner-Token": teacher}).text
    assert f">{PUBLIC}/classes/join?code={code}</a>" in board
    assert f'value="{PUBLIC}/classes/join?code={code}"' in board  # the share box's link
    lab = c.get("/kernel-lab", headers={"Host": "127.0.0.1:8000"}).text
    assert f'data-base="{PUBLIC}"' in lab and "opens only on this computer" not in lab
    model = c.get("/models/mnist_digits").text
    assert f"curl -s '{PUBLIC}/predict?model=mnist_digits'" in model
    assert "testserver" not in re.sub(r"<[^>]+>", "", model)
    # The QR code is made for links on the public address and the browser's, nothing else.
    for url, status in ((f"{PUBLIC}/kernel-lab?kernel=sobel_x", 200),
                        ("http://testserver/kernel-lab", 200),
                        ("http://10.20.30.41:8000/kernel-lab", 422)):
        assert c.get("/share/qr.svg?url=" + quote(url, safe="")).status_code == status, url


def test_a_bad_public_url_is_refused_at_start():
    from pydantic import ValidationError

    from app.config import Settings

    for bad in ("10.0.0.1:8000", "http://host/some/path", "ftp://host"):
        with pytest.raises(ValidationError):
            Settings(public_url=bad)


@pytest.mark.browser
def test_copy_link_and_the_qr_code_use_the_public_address(make_playground, browser):
    pg = make_playground(public_url=PUBLIC)
    with browser_page(browser, pg.live.url) as page:
        page.goto(pg.live.url + "/kernel-lab?source=lesson&kernel=x_filter")
        page.locator(".share-qr-toggle").click()
        field = page.locator(".share-url")
        expect(field).to_have_value(PUBLIC + "/kernel-lab?source=lesson&kernel=x_filter")
        qr = page.locator("img.share-qr")
        expect(qr).to_have_attribute("src", "/share/qr.svg?url=" + quote(
            PUBLIC + "/kernel-lab?source=lesson&kernel=x_filter", safe="-_.!~*'()"))
        assert page.request.get(pg.live.url + qr.get_attribute("src")).ok
        assert_accessible(page, "the lab's share box with a public address")
