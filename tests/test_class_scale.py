"""A class at scale (issue 20): jobs trained in turn and fairly, reproducible alongside
others, visitors held to their own quotas, each job's place and expected start, the device.

The policy is tested as the pure functions it is; the quotas against applications with no
worker (jobs just wait); fairness and reproducibility against the session's real worker."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from types import SimpleNamespace

import pytest

from app.training.fairshare import FairShare, Turn, Waiting, forecast, pick, waiting_order
from app.training.queueing import queue_spots
from tests.conftest import ADMIN, ROOT, wait_job
from tests.job_bodies import TINY_JOB

# A small model with dropout (its seeds are state too), a few seconds of training.
DROPOUT_JOB = {"architecture": {"name": "tiny_dropout", "input_shape": [28, 28, 1], "layers": [
    {"type": "Conv2D", "filters": 6, "kernel_size": 3, "activation": "relu"},
    {"type": "MaxPooling2D", "pool_size": 2}, {"type": "Dropout", "rate": 0.3},
    {"type": "Flatten"}, {"type": "Dense", "units": 10, "activation": "softmax"}]},
    "dataset": "mnist", "training": {"epochs": 2, "train_samples": 300, "batch_size": 32,
                                     "validation_split": 0.1, "seed": 11}}


def tiny(seed: int, samples: int = 200) -> dict:
    return {**TINY_JOB, "training": {**TINY_JOB["training"], "seed": seed,
                                     "train_samples": samples}}


def make_class(client, learners: int, admin: str = ADMIN) -> tuple[str, str, list[str]]:
    """A class with `learners` learners: its code, the teacher token, the learners' tokens."""
    made = client.post("/api/classes", json={"name": "scale"},
                       headers={"X-Owner-Token": admin}).json()
    tokens = [client.post(f"/api/classes/{made['code']}/join",
                          json={"nickname": f"n{i}-{secrets.token_hex(2)}"}).json()["owner_token"]
              for i in range(learners)]
    return made["code"], made["teacher_token"], tokens


def post_job(client, body: dict, token: str | None = None):
    return client.post("/api/jobs", json=body,
                       headers={"X-Owner-Token": token} if token else {})


# ------------------------------------------------------------------ the policy


def test_members_first_new_jobs_first_then_the_least_served_owner():
    turns = [Turn("a1", "A", False, 1, True, 9.0), Turn("a2", "A", False, 2, True, 1.0),
             Turn("b1", "B", False, 3, True, 2.0), Turn("v1", "V", True, 0, False)]
    served = {"A": 10.0, "B": 2.0, "V": 0.0}
    assert pick(turns, served) == "b1"  # B has had less than A; the visitor waits
    turns.append(Turn("c1", "C", False, 5))  # a member's job that has not started yet
    assert pick(turns, served) == "c1"
    assert pick([t for t in turns if t.owner == "V"], served) == "v1"  # alone, a visitor trains
    # One owner's jobs share one owner's share: A's three against B's one.
    ends = forecast([Turn("a1", "A", False, 1, work_left=3.0), Turn("a2", "A", False, 2,
                     work_left=3.0), Turn("a3", "A", False, 3, work_left=3.0),
                     Turn("b1", "B", False, 4, work_left=3.0),
                     Turn("v1", "V", True, 5, work_left=1.0)])
    assert ends["b1"] == pytest.approx(6.0)  # half the worker, though A has three
    assert ends["a1"] == pytest.approx(ends["a3"]) == pytest.approx(12.0)
    assert ends["v1"] == pytest.approx(13.0)  # after every member's job


def test_an_owner_who_arrives_starts_level_not_with_a_credit():
    fair = FairShare()
    fair.join("a1", "A", False)
    fair.charge("a1", 100.0, True, 50.0)  # A has trained alone for 100 s
    fair.join("b1", "B", False)
    assert fair.owner_served["B"] == 100.0  # level with A, so A is not starved for 100 s
    fair.charge("b1", 1.0, True, 10.0)
    assert fair.pick() == "a1"


def test_waiting_jobs_are_taken_members_first_then_round_robin_over_owners():
    t = 1_000.0
    waiting = [Waiting("a1", "A", False, t), Waiting("a2", "A", False, t + 1),
               Waiting("a3", "A", False, t + 2), Waiting("v1", "V", True, t - 5),
               Waiting("b1", "B", False, t + 3)]
    assert waiting_order(waiting, {}) == ["a1", "b1", "a2", "a3", "v1"]
    assert waiting_order(waiting, {"A": 2}) == ["b1", "a1", "a2", "a3", "v1"]


def test_each_queued_job_starts_when_a_place_frees_up():
    now = time.time()

    def row(job_id, status, eta=None, speed=None, owner=None, minute=0):
        return SimpleNamespace(
            id=job_id, status=status, owner=owner or job_id, visitor=False, worker="w:1",
            created=dt.datetime(2026, 1, 1, 12, minute), progress={
                "eta_seconds": eta, "images_per_second": speed, "updated": now - 2},
            training={"train_samples": 1000, "epochs": 2, "validation_split": 0.0})

    rows = [row("r1", "running", 12.0, 1000.0), row("r2", "running", 32.0, 1000.0),
            row("q1", "queued", minute=1), row("q2", "queued", minute=2),
            row("q3", "queued", minute=3)]
    spots = queue_spots(rows, places=2, now=now)
    assert [spots[j].position for j in ("q1", "q2", "q3")] == [1, 2, 3]
    assert spots["q1"].start_in_seconds == 10.0  # r1's 12 s, written 2 s ago
    # q2 takes q1's place when q1 ends: 2,000 images at 1,000/s with two jobs sharing, 4 s;
    # q3 the place q2 leaves, before r2 ends at 30 s.
    assert spots["q2"].start_in_seconds == 14.0
    assert spots["q3"].start_in_seconds == 18.0
    assert queue_spots(rows, places=None, now=now)["q1"].start_in_seconds is None
    free = queue_spots(rows, places=10, now=now)
    assert all(s.start_in_seconds == 0.0 for s in free.values())


def test_a_job_taken_while_it_is_read_is_never_queued_without_a_place(make_playground):
    """A job's status and its place in the queue are two reads: a worker that takes the job
    between them once made it "queued" with no place (seen in a fresh-clone run). Here a
    worker claims it right after its row is read, as that worker did."""
    pg = make_playground(admin_token=ADMIN)  # no worker: jobs stay queued until claimed
    c, jobs = pg.client, pg.services.jobs
    first, second = (c.post("/api/jobs", json=TINY_JOB).json()["id"] for _ in range(2))
    assert [j["queue_position"] for j in c.get("/api/jobs").json()] == [2, 1]

    reads = 0

    def read_then_claimed() -> list:
        nonlocal reads
        reads += 1
        rows = [jobs.get(first), jobs.get(second)]
        if reads == 1:
            jobs.claim(first, "vm:1")  # taken between this read and the queue's
        return rows

    rows, spots = jobs.with_spots(read_then_claimed)
    assert reads == 2  # read again, since the first read had a queued job with no place
    assert [(r.status, spots.get(r.id)) for r in rows] == [
        ("running", None), ("queued", spots[second])]
    assert spots[second].position == 1
    # Every answer that shows a queued job shows its place.
    assert c.get(f"/api/jobs/{second}").json()["queue_position"] == 1
    assert c.get(f"/api/jobs/{first}").json()["status"] == "running"
    listed = {j["id"]: j for j in c.get("/api/jobs").json()}
    assert (listed[first]["queue_position"], listed[second]["queue_position"]) == (None, 1)


# ------------------------------------------------------------------ visitors and classes


def test_visitors_share_one_quota_a_new_token_does_not_reset(make_playground):
    pg = make_playground(admin_token=ADMIN, visitor_jobs=4, max_queued_jobs=10)
    c = pg.client
    answers = [post_job(pg.new_client(), TINY_JOB).status_code for _ in range(60)]
    assert answers[:4] == [202] * 4 and set(answers[4:]) == {429}
    r = post_job(pg.new_client(), TINY_JOB)
    detail = r.json()["detail"][0]["msg"]
    assert "the visitors' quota is full" in detail and "CNNPG_VISITOR_JOBS" in detail
    assert "have 4 jobs waiting or training" in detail and "join a class" in detail
    # A class is never shut out: its members and teacher train, past the visitors.
    code, teacher, (ada, bo) = make_class(c, 2)
    members = [post_job(pg.new_client(), TINY_JOB, token) for token in (ada, bo, teacher)]
    assert [r.status_code for r in members] == [202] * 3
    members = [r.json()["id"] for r in members]
    # …and take the queue's first places.
    places = {j["id"]: j["queue_position"] for j in c.get("/api/jobs").json()}
    assert sorted(places.values()) == list(range(1, 8))
    assert sorted(places[job_id] for job_id in members) == [1, 2, 3]
    board = c.get(f"/api/classes/{code}", headers={"X-Owner-Token": teacher}).json()
    mine = [j for learner in board["learners"] for j in learner["jobs"]]
    assert sorted(j["queue_position"] for j in mine) == [1, 2]
    assert all(j["start_in_seconds"] is None for j in mine)  # no worker here to tell
    # A member of a class that has closed counts as a visitor, and the class page says so.
    from app.storage.tables import ClassRow, utcnow

    with pg.services.database.begin() as s:
        s.get(ClassRow, code).expires = utcnow() - dt.timedelta(minutes=1)
    r = post_job(pg.new_client(), TINY_JOB, ada)
    assert r.status_code == 429 and f"Your class {code} closed" in r.text
    page = pg.new_client(cookies={"cnnpg_owner": ada}).get("/classes").text
    assert "closed on" in page and "as a visitor now" in page and "stay yours" in page


def test_a_server_for_classes_only(make_playground):
    pg = make_playground(admin_token=ADMIN, visitor_jobs=0)
    r = post_job(pg.new_client(), TINY_JOB)
    assert r.status_code == 403 and "CNNPG_VISITOR_JOBS=0" in r.json()["detail"]
    assert "join a class" in r.json()["detail"]
    _, teacher, (ada,) = make_class(pg.client, 1)
    assert post_job(pg.new_client(), TINY_JOB, teacher).status_code == 202
    assert post_job(pg.new_client(), TINY_JOB, ada).status_code == 202
    assert post_job(pg.new_client(), TINY_JOB, ADMIN).status_code == 202
    # Draw, Explain and the Kernel Lab stay open to everyone.
    visitor = pg.new_client()
    for page in ("/draw", "/explain", "/kernel-lab"):
        assert visitor.get(page).status_code == 200, page
    pixels = [[0] * 28 for _ in range(28)]
    for i in range(6, 22):
        pixels[i][14] = 255
    assert visitor.post("/predict", json={"pixels": pixels}).status_code == 200


def test_storage_quotas_for_visitors_members_and_the_server(make_playground):
    model = (ROOT / "models" / "mnist_digits.keras").read_bytes()
    pg = make_playground(admin_token=ADMIN, visitor_storage_bytes=2 * len(model) + 1000,
                         member_storage_bytes=len(model) + 1000,
                         storage_bytes=4 * len(model) + 1000)

    def upload(token=None):
        return pg.new_client().post(
            "/api/models", files={"file": ("m.keras", model, "application/octet-stream")},
            headers={"X-Owner-Token": token} if token else {})

    answers = [upload() for _ in range(3)]  # three visitors, no tokens
    assert [r.status_code for r in answers[:2]] == [201, 201]
    refused = answers[2]
    detail = refused.json()["detail"][0]["msg"]
    assert refused.status_code == 413 and "the visitors' storage" in detail
    assert "CNNPG_VISITOR_STORAGE_BYTES" in detail and "To free room, delete" in detail
    # A member still has room of their own, until it is full too.
    _, _, (ada, bo, cy) = make_class(pg.client, 3)
    assert upload(ada).status_code == 201
    r = upload(ada)
    assert r.status_code == 413 and "your storage is full" in r.text
    assert "CNNPG_MEMBER_STORAGE_BYTES" in r.text
    # A job whose model would not fit is refused before it waits for nothing.
    r = post_job(pg.new_client(), TINY_JOB, ada)
    assert r.status_code == 413 and "your storage" in r.text
    # The server's total holds everyone's.
    assert upload(bo).status_code == 201
    r = upload(cy)
    assert r.status_code == 413 and "the server's storage is full" in r.text
    # Deleting frees room.
    model_id = answers[0].json()["id"]
    assert pg.client.delete(f"/api/models/{model_id}",
                            headers={"X-Owner-Token": ADMIN}).status_code == 204
    assert upload(cy).status_code == 201


def test_a_dataset_upload_counts_against_the_visitors_storage(make_playground):
    from tests.dataset_zips import cifar_zip

    data = cifar_zip()
    pg = make_playground(visitor_storage_bytes=len(data) // 2)
    r = pg.new_client().post("/api/datasets", data={"name": "too big"},
                             files={"file": ("d.zip", data, "application/zip")})
    assert r.status_code == 413 and "the visitors' storage" in r.text
    assert pg.client.get("/api/datasets").json()[-1]["builtin"]  # nothing stored


# ------------------------------------------------------------------ the session's worker


def test_a_long_job_does_not_hold_back_the_short_ones_after_it(client):
    code, teacher, (ada, bo) = make_class(client, 2)
    long_job = {"architecture": "mnist_book", "dataset": "mnist", "training": {
        "epochs": 20, "train_samples": 3000, "batch_size": 16, "seed": 2}}
    long_id = post_job(client, long_job, ada).json()["id"]
    more = [post_job(client, tiny(s), ada).json()["id"] for s in (3, 4)]  # ada's three
    short = post_job(client, tiny(5), bo).json()["id"]  # bo's first, after all of them
    try:
        done = wait_job(client, short, ("succeeded", "failed"), timeout=120)
        assert done["status"] == "succeeded", done["error"]
        assert client.get(f"/api/jobs/{long_id}").json()["status"] == "running"
        for job_id in more:
            assert wait_job(client, job_id, ("succeeded", "failed"))["status"] == "succeeded"
        running = wait_job(client, long_id, lambda j: j["status"] != "running"
                           or j["progress"].get("eta_seconds"))
        assert running["status"] == "running" and running["device"].startswith("CPU")
        assert running["progress"]["eta_seconds"] > 0
        board = client.get(f"/api/classes/{code}", headers={"X-Owner-Token": teacher}).json()
        shown = [j for ln in board["learners"] for j in ln["jobs"] if j["id"] == long_id]
        assert shown[0]["eta_seconds"] > 0
        page = client.get(f"/jobs/{long_id}").text
        assert 'id="job-device">on CPU' in page
    finally:
        client.post(f"/api/jobs/{long_id}/cancel", headers={"X-Owner-Token": ada})


def test_the_same_seed_gives_the_same_model_alone_or_alongside_29_others(client):
    """Jobs train in turn inside one worker, swapping their state: each job's numbers are
    its own all the same (its weights, optimizer and dropout seeds, the order of its
    images), so 29 others, of the same model and of another, change nothing."""
    alone = wait_job(client, post_job(client, DROPOUT_JOB).json()["id"])
    assert alone["status"] == "succeeded", alone["error"]
    _, _, tokens = make_class(client, 29)
    # Small ones, of the same model (another seed, fewer images) and of another.
    same_model = {**DROPOUT_JOB, "training": {**DROPOUT_JOB["training"], "seed": None,
                                              "epochs": 1, "train_samples": 100}}
    others = [post_job(client, same_model if i % 3 else tiny(100 + i, 50), token)
              for i, token in enumerate(tokens)]
    together = post_job(client, DROPOUT_JOB, tokens[0]).json()["id"]
    assert all(r.status_code == 202 for r in others), [r.text for r in others]
    job = wait_job(client, together, timeout=240)
    assert job["status"] == "succeeded", job["error"]
    for key in ("test_accuracy", "test_loss", "confusion_matrix"):
        assert job["result"][key] == alone["result"][key], key
    assert job["progress"]["history"] == alone["progress"]["history"]
    # It did train in turn with the others: their times in the worker overlap its own.
    done = [wait_job(client, r.json()["id"], timeout=240) for r in others]
    assert all(j["status"] == "succeeded" for j in done), [j["error"] for j in done]
    def when(j: dict, key: str) -> dt.datetime:
        return dt.datetime.fromisoformat(j[key].replace("Z", "+00:00"))

    overlapping = [j for j in done if when(j, "started") < when(job, "finished")
                   and when(job, "started") < when(j, "finished")]
    assert len(overlapping) >= 20, len(overlapping)
