"""Who may do what: owner tokens, the administrator token, read-only shipped models; and
user-provided names shown as text everywhere."""

from __future__ import annotations

import secrets

import httpx
import pytest

from app.classroom import ownership
from app.config import Settings
from app.storage.database import Database
from app.storage.tables import ModelRow
from tests.conftest import ROOT, playground_app
from tests.job_bodies import QUICK

ADMIN = secrets.token_hex(24)
XSS = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def owner_server(tmp_path_factory):
    # No workers: jobs stay queued, so they can be cancelled at leisure.
    # The per-client limit, not the visitors' (tests/test_class_scale.py): many visitors here.
    with playground_app(tmp_path_factory.mktemp("owners"), admin_token=ADMIN,
                        max_queued_per_owner=3, visitor_jobs=100) as pg:
        yield pg


def submit(app, token: str | None = None, **extra) -> httpx.Response:
    headers = {ownership.HEADER: token} if token else {}
    return app.new_client().post("/api/jobs", json={**QUICK, **extra}, headers=headers)


def cancel(app, job_id: str, token: str | None) -> httpx.Response:
    headers = {ownership.HEADER: token} if token else {}
    return app.new_client().post(f"/api/jobs/{job_id}/cancel", headers=headers)


def test_only_the_owner_or_the_admin_may_cancel(owner_server):
    url = owner_server
    r = submit(url)
    alice, job = r.headers[ownership.HEADER], r.json()["id"]
    assert ownership.well_formed(alice)
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and ownership.COOKIE in cookie
    bob = submit(url).headers[ownership.HEADER]
    assert bob != alice

    refused = {
        "missing": cancel(url, job, None),
        "another client's": cancel(url, job, bob),
        "forged": cancel(url, job, secrets.token_urlsafe(32)),
        "malformed": cancel(url, job, "let-me-in"),
    }
    for what, r in refused.items():
        assert r.status_code == 403, (what, r.text)
        assert "owner token" in r.json()["detail"], what
    assert "no owner token was sent" in refused["missing"].json()["detail"]
    assert url.new_client().get(f"/api/jobs/{job}").json()["status"] == "queued"

    r = cancel(url, job, alice)
    assert r.status_code == 200 and r.json()["status"] == "cancelled" and r.json()["yours"]
    job2 = submit(url, bob).json()["id"]
    assert cancel(url, job2, ADMIN).status_code == 200  # the administrator may


def test_the_cookie_is_the_token_in_a_browser_session(owner_server):
    browser = owner_server.new_client()
    job = browser.post("/api/jobs", json=QUICK).json()["id"]
    assert browser.get(f"/api/jobs/{job}").json()["yours"] is True
    assert owner_server.new_client().get(f"/api/jobs/{job}").json()["yours"] is False
    assert browser.post(f"/api/jobs/{job}/cancel").status_code == 200


def test_queue_limit_per_owner(owner_server):
    url = owner_server
    carol = ownership.new_token()
    for _ in range(3):
        assert submit(url, carol).status_code == 202
    r = submit(url, carol)
    assert r.status_code == 429 and "limit per client is 3" in r.json()["detail"][0]["msg"]
    assert submit(url).status_code == 202  # someone else still may
    for job in url.new_client().get("/api/jobs").json():
        if job["status"] == "queued":
            cancel(url, job["id"], ADMIN)


def add_model(srv, owner_token: str, name: str = "trained") -> str:
    """A trained model row, as a worker would store it, owned by owner_token's holder."""
    database = Database(Settings(data_dir=srv.settings.data_dir))
    model_id = f"m-{secrets.token_hex(4)}"
    keras_bytes = (ROOT / "models" / "mnist_digits.keras").read_bytes()
    with database.begin() as s:
        s.add(ModelRow(id=model_id, name=name, owner=ownership.owner_hash(owner_token),
                       dataset="mnist", input_shape=[28, 28, 1],
                       class_names=[str(i) for i in range(10)], test_accuracy=0.99,
                       test_loss=0.03, total_params=1, architecture={}, training={},
                       keras_bytes=keras_bytes, sha256="0" * 64))
    database.dispose()
    return model_id


def test_only_the_owner_or_the_admin_may_delete_a_model(owner_server):
    url = owner_server
    alice, bob = ownership.new_token(), ownership.new_token()
    mine, other = add_model(owner_server, alice), add_model(owner_server, alice)

    def delete(model_id, token):
        return url.new_client().delete(f"/api/models/{model_id}",
                            headers={ownership.HEADER: token} if token else {})

    assert delete(mine, None).status_code == 403
    assert delete(mine, bob).status_code == 403
    assert delete(mine, secrets.token_urlsafe(40)).status_code == 403
    # Everyone may use it.
    assert url.new_client().get(f"/api/models/{mine}").status_code == 200
    assert delete(mine, alice).status_code == 204
    assert delete(other, ADMIN).status_code == 204
    assert url.new_client().get(f"/api/models/{mine}").status_code == 404
    # Shipped models: nobody, not even the administrator.
    r = delete("mnist_digits", ADMIN)
    assert r.status_code == 403 and "read-only" in r.json()["detail"]


def test_names_are_shown_as_text_everywhere(owner_server):
    url = owner_server
    token = ownership.new_token()
    job = submit(url, token, name=XSS).json()["id"]
    model = add_model(owner_server, token, name=XSS)
    pages = ["/jobs", f"/jobs/{job}", f"/jobs/{job}/panel", "/jobs/rows", "/draw",
             f"/draw?model={model}", "/builder"]
    for page in pages:
        html = url.new_client().get(f"{page}", headers={ownership.HEADER: token}).text
        assert XSS not in html, page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in url.new_client().get("/jobs").text
    assert "&lt;script&gt;" in url.new_client().get("/draw").text
    assert url.new_client().get(f"/api/models/{model}").json()["name"] == XSS  # JSON keeps it as data
    cancel(url, job, token)
