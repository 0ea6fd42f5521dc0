"""Training you can watch, replay, compare, reproduce and export (issue 10): the session's
application with its real worker training the book's model on real MNIST digits; its
server-sent events on the wire and a real browser through a real uvicorn."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import signal
import time
import zipfile

import httpx
import keras
import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.conftest import browser_page, run_async, wait_job
from tests.digits_data import DATA

SEEDED = {"architecture": "mnist_book", "dataset": "mnist",
          "training": {"optimizer": "adam", "learning_rate": 0.002, "batch_size": 32, "epochs": 2,
                       "train_samples": 600, "validation_split": 0.2, "seed": 7}}
# Many small steps: long enough to be watched while its first epoch runs.
LONG = {"architecture": "mnist_book", "dataset": "mnist",
        "training": {"optimizer": "sgd", "learning_rate": 0.01, "batch_size": 2, "epochs": 5,
                     "train_samples": 3000, "validation_split": 0.1, "seed": 1}}
TINY = {"architecture": "mnist_book", "dataset": "mnist",
        "training": {"batch_size": 64, "epochs": 1, "train_samples": 200}}


def with_training(body: dict, **changes) -> dict:
    return {**body, "training": {**body["training"], **changes}}


@pytest.fixture(scope="module")
def srv(server):
    return server


@pytest.fixture(scope="module")
def c(client):
    return client


def submit(c, body) -> str:
    r = c.post("/api/jobs", json=body)
    assert r.status_code == 202, r.text
    return r.json()["id"]


@pytest.fixture(scope="module")
def seeded(c):
    """Two jobs with seed 7 and one with seed 8, otherwise alike, trained to the end."""
    ids = [submit(c, SEEDED), submit(c, SEEDED), submit(c, with_training(SEEDED, seed=8))]
    jobs = [wait_job(c, j, ("succeeded", "failed")) for j in ids]
    assert all(j["status"] == "succeeded" for j in jobs), [j["error"] for j in jobs]
    return jobs


def test_the_same_seed_gives_the_same_model(seeded, c):
    a, b, other = seeded
    assert a["training"]["seed"] == b["training"]["seed"] == 7
    ra, rb, ro = a["result"], b["result"], other["result"]
    assert ra["test_accuracy"] == rb["test_accuracy"]
    assert ra["test_loss"] == rb["test_loss"] and ra["confusion_matrix"] == rb["confusion_matrix"]
    assert a["progress"]["history"] == b["progress"]["history"]
    # Another seed: another model.
    assert (ro["test_accuracy"], ro["test_loss"]) != (ra["test_accuracy"], ra["test_loss"])
    # The seed is shown on the job's page and on its model's card.
    assert 'id="job-seed">7<' in c.get(f"/jobs/{a['id']}").text
    assert 'id="model-seed">7<' in c.get(f"/models/{ra['model_id']}").text
    # Per-class accuracy is the confusion matrix's diagonal over its rows.
    cm = np.array(ra["confusion_matrix"])
    assert ra["per_class_accuracy"] == pytest.approx((np.diag(cm) / cm.sum(axis=1)).tolist(), abs=1e-5)


def test_a_seed_is_chosen_and_recorded_when_none_is_given(c):
    job_id = submit(c, TINY)
    seed = c.get(f"/api/jobs/{job_id}").json()["training"]["seed"]
    assert isinstance(seed, int) and seed >= 0
    c.post(f"/api/jobs/{job_id}/cancel")


def png_array(url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))


def test_the_timelapse_has_a_frame_before_training_and_after_each_epoch(seeded, c):
    job = seeded[0]
    lapse = c.get(f"/api/jobs/{job['id']}/timelapse").json()
    frames = lapse["frames"]
    assert [f["epoch"] for f in frames] == [0, 1, 2] and lapse["epochs"] == 2
    with np.load(DATA / "mnist.npz") as f:
        assert lapse["probe"]["label"] == int(f["y_test"][lapse["probe"]["index"]])
    for f in frames:
        assert f["kernel_shape"] == [5, 5, 1, 32] and len(f["kernels"]) == 32
        assert f["map_shape"] == [24, 24, 32] and len(f["maps"]) == 32
    # The kernels formed: the first frame's images are not the last frame's.
    first, last = frames[0], frames[-1]
    assert any(not np.array_equal(png_array(a), png_array(b))
               for a, b in zip(first["kernels"], last["kernels"], strict=True))
    # Validation accuracy: near chance before training, what Keras reported after each epoch.
    assert first["val_accuracy"] < 0.4
    history = job["progress"]["history"]
    assert [f["val_accuracy"] for f in frames[1:]] == [h["val_accuracy"] for h in history]
    # A page that has the first frames asks only for the rest.
    rest = c.get(f"/api/jobs/{job['id']}/timelapse", params={"from_epoch": 2}).json()
    assert [f["epoch"] for f in rest["frames"]] == [2] and rest["frames"][0] == last


def test_steps_arrive_during_the_first_epoch_and_the_queue_counts_down(make_playground):
    """A worker that takes one job at a time (CNNPG_WORKER_JOBS=1), so that jobs queue
    behind the long one (the session's worker would train them all at once, in turn)."""
    pg = make_playground(workers=1, worker_jobs=1)
    c, srv = pg.client, pg.live
    long_id = submit(c, LONG)
    # Streamed to the job page as server-sent events: panels with per-step points, while
    # the first epoch is still running.
    step_counts: list[int] = []
    with httpx.stream("GET", f"{srv.url}/jobs/{long_id}/events", timeout=120) as events:
        assert events.headers["content-type"].startswith("text/event-stream")
        name = None
        data: list[str] = []
        for line in events.iter_lines():
            if line.startswith("event: "):
                name, data = line[7:], []
            elif line.startswith("data: "):
                data.append(line[6:])
            elif line == "" and name == "panel":
                html = "\n".join(data)
                steps = json.loads(html.split("data-steps='", 1)[1].split("'", 1)[0])
                history = json.loads(html.split("data-history='", 1)[1].split("'", 1)[0])
                assert history == [], "the first epoch should still be running"
                if steps:
                    step_counts.append(len(steps))
                if len(step_counts) >= 3:
                    break
    assert step_counts == sorted(step_counts) and step_counts[-1] > step_counts[0]
    job = c.get(f"/api/jobs/{long_id}").json()
    p = job["progress"]
    assert p["batches"] == 1350  # 2,700 images / 2
    steps = p["steps"]
    assert [s["step"] for s in steps] == sorted({s["step"] for s in steps}) and len(steps) <= 300
    assert all(0 <= s["accuracy"] <= 1 and s["loss"] > 0 for s in steps)
    assert p["images_per_second"] > 0 and p["eta_seconds"] > 0

    # Two jobs wait behind it: 1st and 2nd, with an estimated start.
    first, second = submit(c, TINY), submit(c, TINY)
    # Both estimates from one listing: two requests would each see the running job's time
    # left at a different moment, and the second can be the smaller by more than a tiny job.
    listed = {j["id"]: j for j in c.get("/api/jobs").json()}
    a, b = listed[first], listed[second]
    assert (a["queue_position"], b["queue_position"]) == (1, 2)
    assert 0 < a["start_in_seconds"] <= b["start_in_seconds"]
    assert c.get(f"/api/jobs/{first}").json()["queue_position"] == 1
    assert c.get(f"/api/jobs/{second}").json()["queue_position"] == 2
    assert c.get(f"/api/jobs/{long_id}").json()["queue_position"] is None
    # A job that never started has no timelapse (yet).
    r = c.get(f"/api/jobs/{second}/timelapse")
    assert r.status_code == 404 and r.json()["detail"][0]["loc"] == ["path", "job_id"]
    assert "waiting in the queue" in r.text

    # The worker is killed mid-epoch: the frames it recorded stay readable.
    deadline = time.monotonic() + 120
    while c.get(f"/api/jobs/{long_id}").json()["progress"].get("frames", 0) < 2:
        assert time.monotonic() < deadline, "epoch 1 did not end"
        time.sleep(0.2)
    os.kill(int(job["worker"].rsplit(":", 1)[1]), signal.SIGKILL)
    assert wait_job(c, long_id, ("failed",), timeout=20)["status"] == "failed"
    lapse = c.get(f"/api/jobs/{long_id}/timelapse").json()
    assert [f["epoch"] for f in lapse["frames"]][:2] == [0, 1]

    # The next job starts (on the restarted worker), and the other moves up from 2nd (above)
    # to 1st. A restarted worker is forked ready within a second, so it may already have
    # taken the first job when this looks.
    positions = []
    deadline = time.monotonic() + 60
    while (job := c.get(f"/api/jobs/{second}").json())["status"] == "queued":
        assert time.monotonic() < deadline, job
        positions.append(job["queue_position"])
        time.sleep(0.1)
    assert positions and positions[-1] == 1 and set(positions) <= {1, 2}
    assert positions == sorted(positions, reverse=True)
    assert wait_job(c, second, ("succeeded", "failed"), timeout=60)["status"] == "succeeded"


def test_the_step_curve_only_grows_and_does_not_jump_at_epoch_boundaries():
    """The per-step curve: fixed stride from the job's length (it never loses a point a
    learner has seen), and each batch's own loss, not Keras' running mean that restarts at
    every epoch."""
    from app.training.trainer import StepLog

    epochs, batches = 5, 1000
    log = StepLog(epochs * batches, batches, limit=300)
    counts, step, truth, keras_said = [], 0, {}, {}
    for _ in range(epochs):
        running = 0.0
        for b in range(1, batches + 1):
            step += 1
            value = 1.0 / (1 + step / 500)  # each batch's loss, falling smoothly
            running += (value - running) / b  # what Keras logs: the mean over the epoch so far
            log.add(step, b, running, 1 - running)
            truth[step], keras_said[step] = value, running
            counts.append(len(log.points))
    assert counts == sorted(counts) and 250 <= counts[-1] <= 300 and log.stride == 17
    error = max(abs(p["loss"] - truth[p["step"]]) / truth[p["step"]] for p in log.points)
    raw = max(abs(keras_said[p["step"]] - truth[p["step"]]) / truth[p["step"]] for p in log.points)
    assert error < 0.03 < 0.2 < raw  # the running mean is 20% off and jumps at each epoch


def arch(first_layer: dict, *more: dict) -> dict:
    return {"name": "probe_model", "input_shape": [28, 28, 1], "layers": [
        first_layer, {"type": "MaxPooling2D", "pool_size": 2}, *more, {"type": "Flatten"},
        {"type": "Dense", "units": 10, "activation": "softmax"}]}


def test_compare_lists_exactly_the_fields_that_differ(c):
    conv = {"type": "Conv2D", "filters": 8, "kernel_size": 3, "activation": "relu"}
    base = {"dataset": "mnist", "training": {"learning_rate": 0.01, "epochs": 1, "seed": 3,
                                             "train_samples": 200}}

    def queued(body: dict) -> str:  # compared as recorded: they need not train
        job_id = submit(c, body)
        c.post(f"/api/jobs/{job_id}/cancel")
        return job_id

    one = queued({**base, "architecture": arch(conv)})
    # The same layer written the long way (Keras' defaults spelled out) is the same setting.
    same = queued({**base, "architecture": arch({**conv, "kernel_size": [3, 3],
                                                  "strides": [1, 1], "padding": "valid"})})
    two = queued({**base, "training": {**base["training"], "learning_rate": 0.1},
                  "architecture": arch({**conv, "filters": 16})})
    deeper = queued({**base, "architecture": arch(conv, {"type": "Dropout", "rate": 0.5})})

    r = c.get("/api/compare", params={"jobs": f"{one},{same}"})
    assert r.status_code == 200 and r.json()["differences"] == []
    cmp = c.get("/api/compare", params={"jobs": f"{one},{two}"}).json()
    assert cmp["differences"] == [
        {"field": "training.learning_rate", "values": [0.01, 0.1]},
        {"field": "architecture.layers.0.filters", "values": [8, 16]}]
    assert [j["id"] for j in cmp["jobs"]] == [one, two]
    assert [s["total_params"] for s in cmp["summaries"]] == [13_610, 27_210]
    cmp = c.get("/api/compare", params={"jobs": f"{one},{deeper},{two}"}).json()
    fields = {d["field"]: d["values"] for d in cmp["differences"]}
    assert fields["architecture.layers.2.type"] == ["Flatten", "Dropout", "Flatten"]
    assert fields["architecture.layers.2.rate"] == [None, 0.5, None]
    assert fields["architecture.layers.4.type"] == [None, "Dense", None]
    assert set(fields) >= {"training.learning_rate", "architecture.layers.0.filters"}
    assert "architecture.layers.0.kernel_size" not in fields and "dataset" not in fields

    # The page: the URL is the comparison; ticked boxes come back to it.
    r = c.get("/compare", params=[("jobs", one), ("jobs", two)], follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/compare?jobs={one},{two}"
    html = c.get(f"/compare?jobs={one},{two}").text
    assert html.count('class="differs"') == 2

    # Bad input: a 4xx that names the field.
    nine = ",".join(f"{i:012x}" for i in range(9))
    for jobs, status, fragment in [(one, 422, "at least two jobs"), (f"{one},{one}", 422, "twice"),
                                   (f"{one},000000000000", 404, "no job with id"),
                                   (nine, 422, "over the limit of 8"), ("nope,zzz", 422, "")]:
        r = c.get("/api/compare", params={"jobs": jobs})
        assert r.status_code == status, (jobs, r.text)
        assert r.json()["detail"][0]["loc"] == ["query", "jobs"] and fragment in r.text


@pytest.mark.parametrize("seed", [-1, "7", 1.5, 2**32, True])
def test_a_seed_must_be_a_non_negative_integer(c, seed):
    r = c.post("/api/jobs", json=with_training(TINY, seed=seed))
    assert r.status_code == 422
    assert [d["loc"] for d in r.json()["detail"]] == [["body", "training", "seed"]]


def test_downloads_predict_what_the_keras_model_predicts(seeded, c, tmp_path):
    model_id = seeded[0]["result"]["model_id"]
    with np.load(DATA / "mnist.npz") as f:
        x = (f["x_test"][:16, :, :, None] / 255.0).astype(np.float32)
    path = tmp_path / "m.keras"
    path.write_bytes(c.get(f"/api/models/{model_id}/download", params={"format": "keras"}).content)
    want = keras.saving.load_model(path).predict(x, verbose=0)

    from ai_edge_litert.interpreter import Interpreter

    r = c.get(f"/api/models/{model_id}/download", params={"format": "tflite"})
    assert r.status_code == 200 and f'filename="{model_id}.tflite"' in r.headers["content-disposition"]
    lite = Interpreter(model_content=r.content)
    lite.allocate_tensors()
    got = []
    for image in x:
        lite.set_tensor(lite.get_input_details()[0]["index"], image[None])
        lite.invoke()
        got.append(lite.get_tensor(lite.get_output_details()[0]["index"])[0])
    np.testing.assert_allclose(np.array(got), want, atol=1e-5)

    import tensorflow as tf

    r = c.get(f"/api/models/{model_id}/download", params={"format": "savedmodel"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        names = set(zf.namelist())
        assert {f"{model_id}/1/saved_model.pb", f"{model_id}/model_card.json"} <= names
        assert any(n.startswith(f"{model_id}/1/variables/variables.") for n in names)
        card = json.loads(zf.read(f"{model_id}/model_card.json"))
        zf.extractall(tmp_path / "serving")
    assert card["seed"] == 7 and card["total_params"] == 62_346
    assert card["test_accuracy"] == pytest.approx(seeded[0]["result"]["test_accuracy"])
    assert card["dataset"]["classes"] == [str(d) for d in range(10)]
    served = tf.saved_model.load(str(tmp_path / "serving" / model_id / "1"))
    signature = served.signatures["serving_default"]
    out = next(iter(signature(tf.constant(x)).values())).numpy()
    np.testing.assert_allclose(out, want, atol=1e-5)

    r = c.get(f"/api/models/{model_id}/download", params={"format": "onnx"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "format"]


def test_the_model_page_has_its_card_curves_and_snippets(seeded, c):
    job = seeded[0]
    model_id = job["result"]["model_id"]
    html = c.get(f"/models/{model_id}").text
    assert f"/explain?model={model_id}" in html and f"/draw?model={model_id}" in html
    assert f'{c.base_url}/predict?model={model_id}' in html.replace("&#39;", "'")
    assert f"/v1/models/{model_id}:predict" in html and "tensorflow/serving" in html
    assert "62,346" in html and 'id="per-class"' in html
    assert json.loads(html.split("data-history='", 1)[1].split("'", 1)[0]) == job["progress"]["history"]
    assert c.get("/models").status_code == 200 and model_id in c.get("/models").text
    # Train again: the builder, prefilled with the job's architecture and settings.
    builder = c.get("/builder", params={"job": job["id"]}).text
    assert 'name="seed" value="7"' in builder and 'name="learning_rate" value="0.002"' in builder
    assert 'name="train_samples" value="600"' in builder


def test_only_its_owner_may_delete_a_model_from_its_page(seeded, c, visitor):
    model_id = seeded[2]["result"]["model_id"]
    assert 'id="model-delete"' in c.get(f"/models/{model_id}").text  # c holds the owner token
    stranger = visitor.get(f"/models/{model_id}")
    assert stranger.status_code == 200 and 'id="model-delete"' not in stranger.text
    r = visitor.post(f"/models/{model_id}/delete", headers={"HX-Request": "true"})
    assert r.status_code == 200 and "only whoever created" in r.text  # shown in the page
    r = c.post(f"/models/{model_id}/delete", headers={"HX-Request": "true"})
    assert r.status_code == 204 and r.headers["hx-redirect"] == "/models"
    assert c.get(f"/api/models/{model_id}").status_code == 404


def test_one_reader_per_watched_job_however_many_pages_watch():
    from app.web.live import LiveJobs, Update

    reads: list[str] = []

    def read(job_id: str) -> Update:
        reads.append(job_id)
        n = len(reads)
        return Update(n, (("panel", f"<p>{n}</p>"),), done=n >= 6)

    async def scenario() -> tuple[list[list[str]], int, int]:
        live = LiveJobs(read, interval=0.05)

        async def page() -> list[str]:
            return [data for update in [u async for u in live.follow("job")]
                    for _, data in update.events]

        pages = await asyncio.gather(*(page() for _ in range(40)))
        return pages, live.readers, live.watchers("job")

    pages, readers, watchers = run_async(scenario())
    assert len(reads) == 6  # one read per interval for all forty pages, until the job ended
    assert all(p[-1] == "<p>6</p>" for p in pages) and readers == 0 and watchers == 0

    async def leaving() -> tuple[int, int]:
        live = LiveJobs(lambda job_id: Update(time.monotonic(), ()), interval=0.01)
        stream = live.follow("job")
        await stream.__anext__()
        await stream.aclose()  # the tab closed
        await asyncio.sleep(0.05)
        return live.readers, live.watchers("job")

    assert run_async(leaving()) == (0, 0)  # nobody watching: nothing reads

    async def shutting_down() -> list[int]:
        live = LiveJobs(lambda job_id: Update(time.monotonic(), ()), interval=0.01)
        pages = asyncio.gather(*(asyncio.wait_for(_drain(live.follow("job")), 5)
                                 for _ in range(3)))
        await asyncio.sleep(0.05)
        live.close()  # SIGTERM: every stream ends, so the server need not wait for them
        return await pages

    assert all(n > 0 for n in run_async(shutting_down()))


async def _drain(stream) -> int:
    return len([u async for u in stream])


# ------------------------------------------------------------------ in the browser


@pytest.mark.browser
def test_drag_the_epoch_slider_and_compare_two_jobs(seeded, browser, srv):
    a, _, other = seeded
    with browser_page(browser, srv.url) as pg:
        pg.goto(f"{srv.url}/jobs/{a['id']}")
        replay = pg.locator("#replay")
        expect(replay).to_have_attribute("data-frames", "3")
        expect(replay).to_have_attribute("data-epoch", "2")  # the last frame first
        kernel = pg.locator("#replay-kernels img").first
        trained = kernel.get_attribute("src")
        pg.locator("#epoch-slider").scroll_into_view_if_needed()  # below the results
        box = pg.locator("#epoch-slider").bounding_box()
        pg.mouse.move(box["x"] + box["width"] - 3, box["y"] + box["height"] / 2)
        pg.mouse.down()
        pg.mouse.move(box["x"] + 2, box["y"] + box["height"] / 2, steps=8)
        pg.mouse.up()
        expect(replay).to_have_attribute("data-epoch", "0")
        expect(pg.locator("#epoch-out")).to_contain_text("before training")
        assert kernel.get_attribute("src") != trained
        assert pg.url.endswith("?epoch=0")
        expect(pg.locator("#replay-maps img")).to_have_count(32)
        # The URL opens the replay where it was.
        pg.goto(f"{srv.url}/jobs/{a['id']}?epoch=1")
        expect(replay).to_have_attribute("data-epoch", "1")
        expect(pg.locator("html")).to_have_attribute("data-chart-points", "2")

        # Tick two jobs on the Jobs page (the list refreshes meanwhile) and compare them.
        pg.goto(f"{srv.url}/jobs")
        pg.check(f"#pick-{a['id']}")
        pg.check(f"#pick-{other['id']}")
        pg.wait_for_timeout(1500)
        expect(pg.locator(f"#pick-{a['id']}")).to_be_checked()
        pg.click("#compare-ticked")
        pg.wait_for_url("**/compare?jobs=*")
        assert sorted(pg.url.split("jobs=", 1)[1].split(",")) == sorted([a["id"], other["id"]])
        expect(pg.locator("#compare-legend li")).to_have_count(2)
        expect(pg.locator("#compare-settings tr.differs")).to_have_count(1)
        expect(pg.locator("#compare-settings tr.differs")).to_have_attribute(
            "data-field", "training.seed")
        pg.check("#only-differences")
        expect(pg.locator("#compare-settings tr.same").first).to_be_hidden()
        expect(pg.locator("#compare-results tr[data-field=test_accuracy] td")).to_have_count(2)
        assert pg.locator("#loss-chart").bounding_box()["height"] > 100


@pytest.mark.browser
def test_the_jobs_list_is_pushed_as_jobs_move_without_polling(browser, srv, c):
    with browser_page(browser, srv.url) as pg:
        requests: list[str] = []
        pg.on("request", lambda r: requests.append(r.url))
        pg.goto(f"{srv.url}/jobs")
        job = submit(c, with_training(SEEDED, epochs=1))
        row = pg.locator(f"#job-rows tr[data-job='{job}']")
        expect(row).to_be_visible(timeout=20_000)  # pushed: the page did not reload
        expect(row).to_have_attribute("data-status", "succeeded", timeout=120_000)
        assert not [u for u in requests if "/jobs/rows" in u]  # one stream, no polling
        assert sum("/jobs/events" in u for u in requests) == 1
