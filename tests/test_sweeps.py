"""Hyperparameter sweeps over the API: the grid as ordinary jobs of one owner, refusals that
name the setting and the value, the limits, cancelling, what mattered and the best run, the
page, and a class's sweeps on its teacher's dashboard. No worker trains here: runs are
finished by hand where a result is needed (the browser walk trains real ones)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from app.training import builder_link
from app.training.builder import BuilderState
from tests.conftest import playground_app
from tests.job_bodies import TINY_JOB

ADMIN = "sweeps-admin-" + "3c9e1f7a2b4d6e8f0a1c3e5b"


def sweep_of(vary: dict[str, list[Any]], **training: Any) -> dict[str, Any]:
    return {**TINY_JOB, "training": {**TINY_JOB["training"], **training}, "vary": vary}


@pytest.fixture(scope="module")
def pg(tmp_path_factory):
    """One application for the module, with no worker (runs wait in the queue)."""
    with playground_app(tmp_path_factory.mktemp("sweeps"), admin_token=ADMIN, visitor_jobs=1000,
                        max_queued_per_owner=2, max_queued_jobs=1000) as app:
        yield app


def finish(pg, job_id: str, accuracy: float, status: str = "succeeded") -> None:
    """What a worker would do: claim the job, train it (here: say it did) and finish it."""
    jobs = pg.services.jobs
    jobs.claim(job_id, "test-worker")
    result = None if status != "succeeded" else {
        "test_loss": round(1 - accuracy, 4), "test_accuracy": accuracy, "model_id": "none",
        "confusion_matrix": [[1]], "train_seconds": 1.5}
    jobs.finish(job_id, status, result=result)  # type: ignore[arg-type]


def test_the_grid_is_ordinary_jobs_of_one_owner_with_one_seed(pg):
    c = pg.new_client()  # a visitor of its own
    vary = {"training.learning_rate": [0.001, 0.01], "layers.0.filters": [2, 4],
            "training.optimizer": ["adam", "sgd"]}
    r = c.post("/api/sweeps", json=sweep_of(vary, seed=None))
    assert r.status_code == 202, r.text
    token = r.headers["x-owner-token"]
    created = r.json()
    assert len(created["jobs"]) == 8

    sweep = c.get(f"/api/sweeps/{created['id']}").json()
    assert sweep["vary"] == vary and sweep["status"] == "running" and sweep["yours"]
    assert [j["id"] for j in sweep["jobs"]] == created["jobs"]
    # The cartesian product, the first setting varying slowest; every run the same seed.
    grid = [dict(zip(vary, values, strict=True)) for values in itertools.product(*vary.values())]
    assert [j["values"] for j in sweep["jobs"]] == grid
    seeds = {j["seed"] for j in sweep["jobs"]}
    assert len(seeds) == 1 and sweep["training"]["seed"] in seeds
    assert sweep["best"] is None and all(e["points"] is None for e in sweep["mattered"])

    for run in sweep["jobs"]:
        job = c.get(f"/api/jobs/{run['id']}", headers={"X-Owner-Token": token}).json()
        assert job["status"] == "queued" and job["yours"]
        assert job["training"]["learning_rate"] == run["values"]["training.learning_rate"]
        assert job["training"]["optimizer"] == run["values"]["training.optimizer"]
        assert job["architecture"]["layers"][0]["filters"] == run["values"]["layers.0.filters"]
        assert job["training"]["train_samples"] == 300
    assert sweep["jobs"][5]["name"] == "tiny · lr 0.01 · L1 filters 2 · sgd"

    # Varying the seed itself: each run its own.
    r = c.post("/api/sweeps", json=sweep_of({"training.seed": [7, 8]}), headers={"X-Owner-Token": token})
    assert r.status_code == 202, r.text
    assert [j["seed"] for j in c.get(f"/api/sweeps/{r.json()['id']}").json()["jobs"]] == [7, 8]


BAD = [
    ({"training.momentum": [0.9]}, ["vary", "training", "momentum"], "not a training setting"),
    ({"layers.9.filters": [8]}, ["vary", "layers", "9", "filters"], "there is no layer 9"),
    ({"layers.1.filters": [8]}, ["vary", "layers", "1", "filters"],
     "MaxPooling2D, which has no argument 'filters'"),
    ({"optimizer": ["adam"]}, ["vary", "optimizer"], "should match pattern"),
    ({"training.learning_rate": []}, ["vary", "training.learning_rate"], "at least 1 item"),
    ({"training.learning_rate": [0.01, 5]}, ["vary", "training", "learning_rate"],
     "5 is not a valid training.learning_rate here: Input should be less than or equal to 1"),
    ({"training.optimizer": ["adam", "adamx"]}, ["vary", "training", "optimizer"],
     "adamx is not a valid training.optimizer here"),
    ({"layers.0.kernel_size": [3, 40]}, ["vary", "layers", "0", "kernel_size"],
     "40 is not a valid layers.0.kernel_size here"),
    ({"training.epochs": [1, 2, 3], "training.batch_size": [8, 16, 32], "layers.0.filters": [2, 4]},
     ["vary"], "the grid makes 18 runs (3 × 3 × 2 values), over the limit of 12 (CNNPG_MAX_SWEEP_JOBS)"),
    ({"training.epochs": [1, 1]}, ["vary", "training", "epochs"], "1 is given twice"),
    ({f"training.{k}": [1] for k in ("epochs", "batch_size", "seed", "train_samples")}, ["vary"],
     "at most 3"),
]


@pytest.mark.parametrize(("vary", "loc", "message"), BAD, ids=[str(b[0])[:40] for b in BAD])
def test_a_bad_sweep_is_a_422_naming_the_setting_and_the_value(pg, vary, loc, message):
    r = pg.client.post("/api/sweeps", json=sweep_of(vary))
    assert r.status_code == 422, r.text
    detail = r.json()["detail"][0]
    assert detail["loc"][1:] == loc and message in detail["msg"], detail


def test_limits_count_a_sweep_as_one_submission_per_client(pg, monkeypatch):
    c = pg.new_client()  # a visitor of its own
    four = {"training.learning_rate": [0.001, 0.002], "training.batch_size": [16, 32]}
    first = c.post("/api/sweeps", json=sweep_of(four))
    assert first.status_code == 202, first.text
    token = {"X-Owner-Token": first.headers["x-owner-token"]}
    assert c.post("/api/jobs", json=TINY_JOB, headers=token).status_code == 202
    # Two submissions waiting is this client's limit (CNNPG_MAX_QUEUED_PER_OWNER=2).
    r = c.post("/api/sweeps", json=sweep_of({"training.epochs": [1, 2]}), headers=token)
    assert r.status_code == 429, r.text
    assert "you already have 2 jobs waiting (a sweep counts as one)" in r.json()["detail"][0]["msg"]
    # The server's queue counts every run.
    waiting = sum(1 for j in pg.services.jobs.list_jobs(limit=1000) if j.status == "queued")
    monkeypatch.setattr(pg.settings, "max_queued_jobs", waiting + 7)
    others = [pg.new_client() for _ in range(2)]
    assert others[0].post("/api/sweeps", json=sweep_of(four)).status_code == 202
    r = others[1].post("/api/sweeps", json=sweep_of(four))
    assert r.status_code == 429, r.text
    assert f"the queue is full: {waiting + 4} jobs are waiting, the limit is {waiting + 7}" in r.text

    monkeypatch.setattr(pg.settings, "max_sweep_jobs", 3)
    r = c.post("/api/sweeps", json=sweep_of(four))
    assert r.status_code == 422 and "4 runs (2 × 2 values), over the limit of 3" in r.text, r.text


def test_cancel_stops_the_waiting_and_running_runs_and_keeps_the_finished(pg):
    c = pg.new_client()  # a visitor of its own
    r = c.post("/api/sweeps", json=sweep_of({"training.learning_rate": [0.001, 0.01, 0.1]}))
    sweep_id, (done, running, waiting) = r.json()["id"], r.json()["jobs"]
    token = {"X-Owner-Token": r.headers["x-owner-token"]}
    finish(pg, done, 0.8)
    pg.services.jobs.claim(running, "test-worker")

    stranger = pg.new_client()
    r = stranger.post(f"/api/sweeps/{sweep_id}/cancel")
    assert r.status_code == 403 and "only whoever created sweep" in r.text
    assert stranger.post("/api/sweeps/0123456789ab/cancel").status_code == 404

    r = c.post(f"/api/sweeps/{sweep_id}/cancel", headers=token)
    assert r.status_code == 200, r.text
    runs = {j["id"]: j for j in r.json()["jobs"]}
    assert runs[done]["status"] == "succeeded" and runs[done]["test_accuracy"] == 0.8
    assert runs[waiting]["status"] == "cancelled"
    assert runs[running]["status"] == "running"  # until its worker stops it
    assert pg.services.jobs.get(running).cancel_requested
    pg.services.jobs.finish(running, "cancelled", error="cancelled")
    r = c.post(f"/api/sweeps/{sweep_id}/cancel", headers=token)
    assert r.status_code == 409 and "already finished" in r.text
    assert c.get(f"/api/sweeps/{sweep_id}").json()["status"] == "finished"


def finished_sweep(pg) -> tuple[str, list[str]]:
    """Learning rate × optimizer, its four runs finished with these accuracies: the learning
    rate moves the mean by 36 points, the optimizer by 6; run 2 is the best."""
    vary = {"training.learning_rate": [0.001, 0.1], "training.optimizer": ["adam", "sgd"]}
    r = pg.new_client().post("/api/sweeps", json=sweep_of(vary))
    sweep_id, jobs = r.json()["id"], r.json()["jobs"]
    for job_id, accuracy in zip(jobs, (0.90, 0.92, 0.50, 0.60), strict=True):
        finish(pg, job_id, accuracy)
    return sweep_id, jobs


def test_what_mattered_and_the_best_run(pg):
    sweep_id, jobs = finished_sweep(pg)
    sweep = pg.client.get(f"/api/sweeps/{sweep_id}").json()
    assert sweep["status"] == "finished" and sweep["best"] == jobs[1]
    rate, optimizer = sweep["mattered"]
    assert rate["setting"] == "training.learning_rate" and rate["points"] == 36.0
    assert [v["mean"] for v in rate["values"]] == pytest.approx([0.91, 0.55])
    assert (rate["values"][1]["min"], rate["values"][1]["max"]) == (0.5, 0.6)
    assert optimizer["points"] == 6.0 and optimizer["values"][0]["runs"] == 2
    assert pg.client.get("/api/sweeps/0123456789ab").status_code == 404


def test_the_page_draws_the_runs_and_says_what_mattered(pg):
    sweep_id, jobs = finished_sweep(pg)
    c = pg.client
    page = c.get(f"/sweeps/{sweep_id}").text
    assert page.count('class="run-line') == 4 and "pending" not in page
    assert "★ best" in page and f'href="/builder?job={jobs[1]}"' in page
    assert "Learning rate moved the mean test accuracy by 36.0 points: 91.0% with 0.001, " \
           "55.0% with 0.1." in page
    for word in ("adam", "sgd"):  # the optimizer's axis shows its words
        assert f'text-anchor="end">{word}</text>' in page
    assert "sse-connect" not in page  # finished: nothing to follow
    assert f'href="/sweeps/{sweep_id}"' in c.get(f"/jobs/{jobs[0]}").text  # a run links back
    assert c.get("/sweeps/0123456789ab").status_code == 404


def test_a_class_learners_sweep_is_on_the_teachers_dashboard(pg):
    c = pg.new_client()  # a visitor of its own
    klass = c.post("/api/classes", json={"name": "Tuesday"}, headers={"X-Owner-Token": ADMIN}).json()
    learner = pg.new_client()
    ada = learner.post(f"/api/classes/{klass['code']}/join", json={"nickname": "Ada"}).json()
    r = learner.post("/api/sweeps", json=sweep_of({"training.batch_size": [16, 64]}),
                     headers={"X-Owner-Token": ada["owner_token"]})
    assert r.status_code == 202, r.text
    sweep_id = r.json()["id"]
    mine = learner.get(f"/api/sweeps/{sweep_id}", headers={"X-Owner-Token": ada["owner_token"]}).json()
    assert mine["nickname"] == "Ada" and c.get(f"/api/sweeps/{sweep_id}").json()["nickname"] is None

    teacher = {"X-Owner-Token": klass["teacher_token"]}
    board = c.get(f"/classes/{klass['code']}/board", headers=teacher).text
    assert f'href="/sweeps/{sweep_id}"' in board and "batch size" in board and "Ada" in board
    # The teacher may cancel it, as any job of the class.
    assert c.post(f"/api/sweeps/{sweep_id}/cancel", headers=teacher).status_code == 200


def test_the_sweep_form_says_how_many_runs_and_what_is_wrong(pg):
    c = pg.new_client()  # a visitor of its own
    page = c.get("/sweeps/new?preset=mnist_book").text
    assert 'value="0.001, 0.01, 0.1"' in page and "3 runs" in page
    state = "preset=mnist_book"
    r = c.post("/sweeps/new/preview", data={"state": state, "setting0": "training.learning_rate",
                                            "values0": "0.01, 0.1", "setting1": "layers.0.kernel_size",
                                            "values1": "3x3, 5x5, 7x7"})
    assert '<strong id="sweep-runs-count">6 runs</strong>' in r.text
    # How long: from earlier jobs' speed on MNIST here (those finished above), if any.
    assert ("From the speed of" in r.text and "images/s" in r.text) or "No job has trained" in r.text
    r = c.post("/sweeps/new/preview", data={"state": state, "setting0": "training.batch_size",
                                            "values0": "32, many"})
    assert "many is not a valid training.batch_size here" in r.text
    small = BuilderState.from_preset("mnist_book")
    small.settings["train_samples"] = "300"
    state = builder_link.url(small).partition("?")[2]  # what the Builder's Sweep… carries
    r = c.post("/sweeps/new", data={"state": state, "setting0": "training.learning_rate",
                                    "values0": "0.01, 0.1"})
    assert r.status_code == 204 and r.headers["hx-redirect"].startswith("/sweeps/")
    sweep = c.get("/api" + r.headers["hx-redirect"]).json()
    assert sweep["architecture"]["name"] == "mnist_book" and len(sweep["jobs"]) == 2
    assert sweep["training"]["train_samples"] == 300
