"""Classes end to end: the session's application with its real worker; the administrator
makes a class in the browser (through a real uvicorn), two students join (one in the
browser, one through the API), each trains a small model on the tests/data digits, the
teacher's dashboard shows both live, the teacher cancels one job, and a student can neither
see the dashboard nor another student's nickname. Then every kind of bad input, and axe on
the class pages."""

from __future__ import annotations

import sqlite3

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import ADMIN, assert_accessible, browser_page, wait_job

TINY = {"name": "tiny", "input_shape": [28, 28, 1], "layers": [
    {"type": "Conv2D", "filters": 4, "kernel_size": 3, "activation": "relu"},
    {"type": "MaxPooling2D", "pool_size": 2}, {"type": "Flatten"},
    {"type": "Dense", "units": 10, "activation": "softmax"}]}
QUICK = {"architecture": "mnist_book", "dataset": "mnist",
         "training": {"optimizer": "adam", "learning_rate": 0.002, "batch_size": 32, "epochs": 1,
                      "train_samples": 1000}}
SLOW = {"architecture": TINY, "dataset": "mnist",
        "training": {"optimizer": "adam", "batch_size": 16, "epochs": 40, "train_samples": 3000}}


@pytest.fixture(scope="module")
def class_server(server):
    return server


@pytest.fixture(scope="module")
def cc(client):
    return client


def make_class(cc, name="Year 11") -> dict:
    r = cc.post("/api/classes", json={"name": name}, headers={"X-Owner-Token": ADMIN})
    assert r.status_code == 201, r.text
    return r.json()


def join(cc, code, nickname) -> httpx.Response:
    return cc.post(f"/api/classes/{code}/join", json={"nickname": nickname})


@pytest.mark.browser
def test_a_class_from_creation_to_the_leaderboard(browser, class_server, cc):
    url = class_server.url
    with browser_page(browser, url) as teacher, browser_page(browser, url) as ada:
        # The administrator makes the class with the form; this browser is now the teacher's.
        teacher.goto(url + "/classes")
        teacher.fill("#new input[name=name]", "Tuesday CNNs")
        teacher.fill("#new input[name=admin_token]", ADMIN)
        teacher.click("#new button[type=submit]")
        code = teacher.locator(".big-code").inner_text().strip()
        teacher_token = teacher.locator(".teacher-token").inner_text().strip()
        assert len(code) == 6 and len(teacher_token) >= 32
        assert_accessible(teacher, "class created")
        # The join link is shown whole, on the address this browser reached the server by.
        join_link = teacher.locator(f"a.join-link[href='{url}/classes/join?code={code}']")
        expect(join_link).to_have_text(f"{url}/classes/join?code={code}")
        teacher.goto(url + "/classes")  # this browser stays the teacher's
        expect(teacher.locator(".notice")).to_contain_text("signed in as the teacher of Tuesday CNNs")
        teacher.click("text=open its dashboard")
        expect(teacher.locator("#class-board")).to_contain_text("Nobody has joined yet")

        # Ada joins in her browser from the join link (what the QR code opens).
        ada.goto(url + f"/classes/join?code={code}")
        assert ada.input_value("#join input[name=code]") == code
        ada.fill("#join input[name=nickname]", "Ada")
        ada.click("#join button[type=submit]")
        expect(ada.locator("h1 .nickname")).to_have_text("Ada")
        assert_accessible(ada, "joined")
        # Bo joins through the API, with markup in his nickname: it stays text everywhere.
        bo = join(cc, code.lower(), "<b>Bo</b>")
        assert bo.status_code == 201, bo.text
        bo_token = bo.json()["owner_token"]
        assert bo.headers["x-owner-token"] == bo_token

        # Each trains: Ada's quick job from her browser (her cookie), Bo's slow one.
        r = ada.context.request.post(url + "/api/jobs", data=QUICK)
        assert r.status == 202, r.text()
        ada_job = r.json()["id"]
        r = cc.post("/api/jobs", json=SLOW, headers={"X-Owner-Token": bo_token})
        assert r.status_code == 202, r.text
        bo_job = r.json()["id"]

        # The dashboard shows both learners and their jobs, live.
        board = teacher.locator("#class-board")
        expect(board.locator("tr.learner")).to_have_count(2)
        expect(board.locator("tr.learner[data-nickname='<b>Bo</b>'] th")).to_have_text("<b>Bo</b>")
        assert board.locator("b").count() == 0  # shown as text, never as markup
        expect(board.locator(f"[data-job-id='{ada_job}']")).to_be_visible()
        expect(board.locator(f"[data-job-id='{bo_job}']")).to_be_visible()
        done = wait_job(cc, ada_job, lambda j: j["status"] in ("succeeded", "failed"))
        assert done["status"] == "succeeded", done["error"]
        accuracy = done["result"]["test_accuracy"]
        expect(board.locator(f"[data-job-id='{ada_job}']")).to_have_attribute("data-status", "succeeded")
        expect(board.locator(".leaderboard[data-dataset=mnist] tbody tr").first).to_contain_text(
            f"Ada{accuracy * 100:.2f}%")
        wait_job(cc, bo_job, lambda j: j["status"] == "running" and j["progress"].get("batch", 0) > 0)
        running = board.locator(f"[data-job-id='{bo_job}']")
        expect(running).to_have_attribute("data-status", "running")
        expect(running.locator(".progress-text")).to_contain_text("epoch")
        assert_accessible(teacher, "dashboard")

        # The teacher cancels Bo's job from the dashboard.
        running.locator("button.cancel").click()
        expect(board.locator(f"[data-job-id='{bo_job}']")).to_have_attribute(
            "data-status", "cancelled", timeout=20_000)
        assert cc.get(f"/api/jobs/{bo_job}").json()["status"] == "cancelled"

        # The class as JSON, for the teacher: both learners, their jobs and models, the best.
        klass = cc.get(f"/api/classes/{code}", headers={"X-Owner-Token": teacher_token}).json()
        learners = {x["nickname"]: x for x in klass["learners"]}
        assert set(learners) == {"Ada", "<b>Bo</b>"}
        assert learners["Ada"]["best_test_accuracy"] == pytest.approx(accuracy)
        assert learners["Ada"]["best_by_dataset"] == {"mnist": pytest.approx(accuracy)}
        assert [m["id"] for m in learners["Ada"]["models"]] == [done["result"]["model_id"]]
        assert [j["status"] for j in learners["<b>Bo</b>"]["jobs"]] == ["cancelled"]
        assert learners["<b>Bo</b>"]["best_test_accuracy"] is None
        assert [s["nickname"] for s in klass["leaderboard"]["mnist"]] == ["Ada"]

        # A student cannot see the dashboard, in the browser or through the API.
        ada.goto(url + f"/classes/{code}")
        expect(ada.locator("#teacher .errors")).to_contain_text("a learner's token")
        assert ada.locator("#class-board").count() == 0
        r = cc.get(f"/api/classes/{code}", headers={"X-Owner-Token": bo_token})
        assert r.status_code == 403 and "learner" in r.json()["detail"]
        # A student sees only their own nickname.
        jobs = {j["id"]: j for j in ada.context.request.get(url + "/api/jobs").json()}
        assert jobs[ada_job]["nickname"] == "Ada" and jobs[bo_job]["nickname"] is None
        ada.goto(url + "/classes")
        expect(ada.locator(".you-are .nickname")).to_have_text("Ada")
        assert "Bo" not in ada.locator("main").inner_text()
        # Her lesson shows her accuracy beside the book's.
        ada.goto(url + "/lessons/sizes-and-parameters#step-train")
        expect(ada.locator("#step-train .reported")).to_contain_text("97.04%")
        expect(ada.locator("#step-train .yours")).to_contain_text(f"{accuracy * 100:.2f}%")


def test_bad_input(make_playground):
    small = make_playground(admin_token=ADMIN, max_class_size=3)
    cc = small.client
    # Only the administrator makes classes.
    assert cc.post("/api/classes", json={"name": "x"}).status_code == 403
    r = cc.post("/api/classes", json={"name": "x"}, headers={"X-Owner-Token": "not-the-admin-" * 3})
    assert r.status_code == 403 and "administrator" in r.json()["detail"]
    assert cc.post("/api/classes", json={"name": "  "},
                   headers={"X-Owner-Token": ADMIN}).status_code == 422
    first, other = make_class(cc), make_class(cc, "Other class")
    code = first["code"]

    # Unknown and expired codes.
    r = join(cc, "ZZZZZZ", "Ann")
    assert r.status_code == 404 and "no class with the code" in r.json()["detail"][0]["msg"]
    with sqlite3.connect(small.settings.data_dir / "playground.db") as db:
        db.execute("UPDATE classes SET expires = '2000-01-01 00:00:00' WHERE code = ?",
                   (other["code"],))
    r = join(cc, other["code"], "Ann")
    assert r.status_code == 404 and "closed" in r.json()["detail"][0]["msg"]

    # Nicknames: empty, too long, invisible characters, taken (whatever the case).
    assert join(cc, code, "").status_code == 422
    assert join(cc, code, "   ").status_code == 422
    r = join(cc, code, "x" * 25)
    assert r.status_code == 422 and "CNNPG_MAX_NICKNAME_LENGTH" in r.json()["detail"][0]["msg"]
    assert join(cc, code, "Ann\u200b").status_code == 422
    assert join(cc, code, "Ann").status_code == 201
    r = join(cc, code, "ANN")
    assert r.status_code == 409 and "already called" in r.json()["detail"]
    # The class is full at CNNPG_MAX_CLASS_SIZE (3 in this application).
    assert join(cc, code, "Ben").status_code == 201
    assert join(cc, code, "Cai").status_code == 201
    r = join(cc, code, "Dee")
    assert r.status_code == 422 and "CNNPG_MAX_CLASS_SIZE" in r.json()["detail"][0]["msg"]

    # A teacher token for another class, and none at all.
    r = cc.get(f"/api/classes/{code}", headers={"X-Owner-Token": other["teacher_token"]})
    assert r.status_code == 403 and f"another class ({other['code']})" in r.json()["detail"]
    assert cc.get(f"/api/classes/{code}").status_code == 403
    assert cc.get("/api/classes/ZZZZZZ", headers={"X-Owner-Token": ADMIN}).status_code == 404
    # The expired class's dashboard still opens for its teacher, and says so.
    r = cc.get(f"/api/classes/{other['code']}", headers={"X-Owner-Token": other["teacher_token"]})
    assert r.status_code == 200 and r.json()["expired"] is True


@pytest.mark.browser
def test_class_forms_say_what_is_wrong(browser, class_server, cc):
    code = make_class(cc)["code"]
    assert join(cc, code, "Eve").status_code == 201
    with browser_page(browser, class_server.url) as pg:
        pg.goto(class_server.url + f"/classes/join?code={code}")
        pg.fill("#join input[name=nickname]", "eve")
        pg.click("#join button[type=submit]")
        expect(pg.locator("#join .errors")).to_contain_text("already called 'eve'")
        assert pg.input_value("#join input[name=code]") == code  # kept for the next try
        pg.fill("#teacher input[name=code]", code)
        pg.fill("#teacher input[name=teacher_token]", "x" * 40)
        pg.click("#teacher button[type=submit]")
        expect(pg.locator("#teacher .errors")).to_contain_text("not the class's teacher token")
        pg.fill("#new input[name=name]", "A class")
        pg.fill("#new input[name=admin_token]", "wrong")
        pg.click("#new button[type=submit]")
        expect(pg.locator("#new .errors")).to_contain_text("only the administrator")
        assert_accessible(pg, "class forms with errors")


def test_the_migration_makes_exactly_the_tables(tmp_path):
    """d12_classes (on top of release 0.1's schema) gives what app/storage/tables.py says."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    from app.storage import migrate
    from app.storage.tables import Base

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    migrate.upgrade(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []
