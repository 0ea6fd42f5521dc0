"""Lessons: every page renders, every exercise accepts the right answer and refuses a
wrong one (through the JSON API and through the page's own forms), progress is kept in
the browser, and the pages pass axe.

The right answers are written here from the lessons themselves, not read from the code
under test; the numbers that Keras can count are counted by Keras."""

from __future__ import annotations

import copy
import json
import threading
import time

import keras
import numpy as np
import pytest
from playwright.sync_api import expect

from app.classroom.lesson_files import shipped_lessons
from app.lab.convolution import correlate, pool
from app.networks.architecture import ArchitectureSpec, build_model
from tests.conftest import ADMIN, ROOT, assert_accessible, browser_page


def conv(filters, k, act="relu"):
    return {"type": "Conv2D", "filters": filters, "kernel_size": [k, k], "activation": act}


POOL = {"type": "MaxPooling2D", "pool_size": [2, 2]}
CIFAR_HIDDEN = [conv(16, 3), POOL, conv(32, 3), POOL, {"type": "Flatten"},
                {"type": "Dense", "units": 64, "activation": "relu"}]
COURSE = [conv(32, 3), conv(64, 3), POOL, {"type": "Dropout", "rate": 0.25}, {"type": "Flatten"},
          {"type": "Dense", "units": 128, "activation": "relu"}, {"type": "Dropout", "rate": 0.5},
          {"type": "Dense", "units": 10, "activation": "softmax"}]
BOOK = [conv(32, 5), POOL, conv(64, 5), POOL, {"type": "Flatten"},
        {"type": "Dense", "units": 10, "activation": "softmax"}]


LESSONS = shipped_lessons()


def model(shape, layers):
    return {"name": "mine", "input_shape": shape, "layers": layers}


# exercise → (the right answer as the API takes it, as the page's fields take it)
RIGHT = {
    "build-a-cnn.border": [30],
    "build-a-cnn.input": [32, 32, 3],
    "build-a-cnn.conv2d": ({"filters": "16", "kernel_size": "(3, 3)", "activation": "'relu'"},
                           model([32, 32, 3], [conv(16, 3)])),
    "build-a-cnn.pooling": ({"pool_size": "2, 2"}, model([32, 32, 3], [conv(16, 3), POOL])),
    "build-a-cnn.hidden": model([32, 32, 3], CIFAR_HIDDEN),
    "build-a-cnn.output": ({"units": "10", "activation": "softmax"},
                           model([32, 32, 3], [*CIFAR_HIDDEN, {"type": "Dense", "units": 10,
                                                               "activation": "softmax"}])),
    "build-a-cnn.params": [448],
    "convolution-by-hand.cell": [2],
    "convolution-by-hand.pool": [4],
    "convolution-by-hand.padding": [5, 5],
    "convolution-by-hand.relu": [0],
    "convolution-by-hand.model": model([28, 28, 1], COURSE),
    "sizes-and-parameters.window": [24, 24],
    "sizes-and-parameters.shared": [832],
    "sizes-and-parameters.pooling": [12, 12, 32],
    "sizes-and-parameters.second": [51264],
    "sizes-and-parameters.stride": [2, 2],
    "sizes-and-parameters.model": model([28, 28, 1], BOOK),
    "receptive-fields.field": [25],
    "receptive-fields.stack": [6],
    "receptive-fields.relu": [0, 3],
    "receptive-fields.average": [4, 3.25],
    "receptive-fields.model": model([28, 28, 1], BOOK),
}


def api_answer(exercise_id):
    right = copy.deepcopy(RIGHT[exercise_id])
    if isinstance(right, tuple):
        return {"architecture": right[1]}
    if isinstance(right, dict):
        return {"architecture": right}
    return {"answer": right}


def wrong_answer(exercise_id):
    """The right answer with one mistake a learner makes."""
    body = api_answer(exercise_id)
    if "answer" in body:
        body["answer"][-1] += 1
    else:
        layers = body["architecture"]["layers"]
        last = layers[-1]
        if "filters" in last:
            last["filters"] *= 2
        elif last["type"] == "MaxPooling2D":
            last["type"] = "AveragePooling2D"
        elif "units" in last:
            last["units"] = 64 if last["units"] == 10 else 10
        else:
            layers.pop()
    return body


def test_the_right_answers_are_right_by_keras():
    """The facts the exercises ask about, counted by Keras and by the Kernel Lab's maths."""
    def shape_params(shape, *layers):
        m = keras.Sequential([keras.Input(shape), *layers])
        return m.output_shape[1:], m.count_params()

    assert shape_params((32, 32, 3), keras.layers.Conv2D(16, 3))[1] == RIGHT["build-a-cnn.params"][0]
    assert shape_params((32, 32, 3), keras.layers.Conv2D(16, 3))[0][1] == RIGHT["build-a-cnn.border"][0]
    assert shape_params((28, 28, 1), keras.layers.Conv2D(32, 5))[1] == 832
    assert shape_params((28, 28, 1), keras.layers.Conv2D(32, 5))[0][:2] == (24, 24)
    assert shape_params((24, 24, 32), keras.layers.MaxPooling2D(2))[0] == (12, 12, 32)
    assert shape_params((12, 12, 32), keras.layers.Conv2D(64, 5))[1] == 51264
    assert shape_params((5, 5, 1), keras.layers.Conv2D(1, 3, strides=2))[0][:2] == (2, 2)
    assert shape_params((5, 5, 1), keras.layers.Conv2D(1, 3, padding="same"))[0][:2] == (5, 5)
    lesson = np.array([[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0],
                       [0, 1, 1, 0, 0]], dtype=np.float32)  # the course task's 5×5 image
    x_filter = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], dtype=np.float32)
    fmap = correlate(lesson, x_filter, 1, "valid")
    assert fmap[1, 0] == RIGHT["convolution-by-hand.cell"][0]
    window = fmap[:2, :2]
    assert [float(pool(window, "max", 2, 2)[0, 0]), float(pool(window, "average", 2, 2)[0, 0])] \
        == RIGHT["receptive-fields.average"]
    # The whole models: the course's, the workshop's and the book's, as Keras counts them.
    for spec, params in ((model([28, 28, 1], COURSE), 1_199_882), (model([28, 28, 1], BOOK), 62_346),
                         (RIGHT["build-a-cnn.output"][1], 79_530)):
        assert build_model(ArchitectureSpec.model_validate(spec)).count_params() == params


def test_lessons_api_lists_every_lesson(client):
    lessons = client.get("/api/lessons").json()
    assert [x["id"] for x in lessons] == ["build-a-cnn", "convolution-by-hand",
                                          "sizes-and-parameters", "receptive-fields"]
    assert {x["preset"] for x in lessons} == {"cifar_model_intro", "mnist_course_dropout",
                                              "mnist_book", "mnist_book_10_epochs"}
    assert {x["id"]: x["reported_test_accuracy"] for x in lessons}["sizes-and-parameters"] == 0.9704
    seen = set()
    for item in lessons:
        detail = client.get(f"/api/lessons/{item['id']}").json()
        assert len(detail["steps"]) == item["steps"]
        for step in detail["steps"]:
            if step["exercise"]:
                seen.add(step["exercise"]["id"])
                assert "numbers" not in step["exercise"]  # the answers stay on the server
    assert seen == set(RIGHT)
    # Lessons are the application's own (CNNPG_LESSONS_DIR adds some): an id of the right
    # form that names none is a 404 naming it, one of the wrong form a 422.
    missing = client.get("/api/lessons/nope")
    assert missing.status_code == 404 and "'nope'" in missing.json()["detail"][0]["msg"]
    assert client.get("/api/lessons/Not%20an%20id").status_code == 422


@pytest.mark.parametrize("exercise_id", sorted(RIGHT))
def test_each_exercise_accepts_the_right_answer_and_refuses_a_wrong_one(client, exercise_id):
    right = client.post(f"/api/exercises/{exercise_id}/check", json=api_answer(exercise_id))
    assert right.status_code == 200, right.text
    assert right.json()["correct"] is True, right.json()
    wrong = client.post(f"/api/exercises/{exercise_id}/check", json=wrong_answer(exercise_id))
    assert wrong.status_code == 200, wrong.text
    verdict = wrong.json()
    assert verdict["correct"] is False and verdict["hint"], verdict


def test_a_wrong_model_is_told_where_it_differs(client):
    body = api_answer("sizes-and-parameters.model")
    body["architecture"]["layers"][2]["kernel_size"] = [3, 3]
    verdict = client.post("/api/exercises/sizes-and-parameters.model/check", json=body).json()
    assert not verdict["correct"]
    assert verdict["message"].startswith("Layer 3 (Conv2D): kernel_size is (3, 3)")
    assert verdict["summary"]["total_params"] == 832 + 18_496 + 16_010  # still counted
    body["architecture"]["layers"] = BOOK[:4]
    verdict = client.post("/api/exercises/sizes-and-parameters.model/check", json=body).json()
    assert "the next is a Flatten layer" in verdict["message"]
    # A model that cannot be built says why instead of failing.
    body["architecture"]["layers"] = [conv(32, 29)]
    verdict = client.post("/api/exercises/sizes-and-parameters.model/check", json=body).json()
    assert not verdict["correct"] and "cannot be built" in verdict["message"]
    # The wrong kind of answer is a wrong answer, not an error.
    verdict = client.post("/api/exercises/build-a-cnn.params/check", json=body).json()
    assert not verdict["correct"] and "numbers" in verdict["message"]


# ---------------------------------------------------------------- the pages


def answer_on_page(pg, step, exercise_id, right: bool):
    section = pg.locator(f"#step-{step}")
    form = section.locator("form.exercise")
    kind = form.get_attribute("data-kind")
    body = api_answer(exercise_id) if right else wrong_answer(exercise_id)
    if kind == "layer":
        blanks = RIGHT[exercise_id][0]
        if not right:
            blanks = {**blanks, next(iter(blanks)): "7"}
        for name, text in blanks.items():
            form.locator(f"input[name={name}]").fill(text)
    elif kind == "model":
        form.locator("textarea").fill(json.dumps(body["architecture"], indent=1))
    else:
        boxes = form.locator("input[name=answer]")
        for i, v in enumerate(body["answer"]):
            boxes.nth(i).fill(str(v))
    form.locator("button[type=submit]").click()
    verdict = form.locator(".verdict [data-correct]")
    expect(verdict).to_have_attribute("data-correct", "true" if right else "false")
    if not right:
        expect(form.locator(".verdict .hint")).to_contain_text("Hint:")


@pytest.mark.browser
@pytest.mark.parametrize("lesson", LESSONS, ids=lambda x: x.id)
def test_lesson_page_steps_exercises_and_progress(page, lesson):
    page.goto(page.base_url + f"/lessons/{lesson.id}")
    titles = page.locator(".step-list a").all_inner_texts()
    assert titles == [s.title for s in lesson.steps]
    # One step at a time, the first one first.
    expect(page.locator(f"#step-{lesson.steps[0].id}")).to_be_visible()
    expect(page.locator(f"#step-{lesson.steps[1].id}")).to_be_hidden()
    done = 0
    for step in lesson.steps:
        page.goto(page.base_url + f"/lessons/{lesson.id}#step-{step.id}")
        expect(page.locator(f"#step-{step.id}")).to_be_visible()
        if step.lab_state is not None:  # the Kernel Lab, live, in the step
            expect(page.locator(f"#step-{step.id} .lesson-lab-results .lab-output")).to_be_visible()
            href = page.locator(f"#step-{step.id} .open-lab").get_attribute("href")
            assert href.startswith("/kernel-lab?") and f"kernel={step.lab_state.params['kernel']}" in href
        if step.exercise is not None:
            answer_on_page(page, step.id, step.exercise.id, right=False)
            answer_on_page(page, step.id, step.exercise.id, right=True)
            done += 1
            expect(page.locator(".lesson-progress-text")).to_have_text(
                f"{done} of {len(lesson.steps)} steps done")
        if step.train is not None:
            expect(page.locator(f"#step-{step.id} .reported")).to_contain_text(
                "no test accuracy" if lesson.reported_test_accuracy is None
                else f"{lesson.reported_test_accuracy * 100:.2f}%")
            expect(page.locator(f"#step-{step.id} .yours")).to_have_text("no finished job yet")
            link = page.locator(f"#step-{step.id} a[href^='/builder?preset=']")
            assert link.get_attribute("href") == f"/builder?preset={step.train}"
    # axe, with every step shown at once, each embedded Kernel Lab loaded, the verdicts in.
    page.evaluate("() => document.querySelector('.lesson').classList.remove('stepper')")
    for form in page.locator(".lesson-lab").all():
        form.scroll_into_view_if_needed()
        expect(form.locator(".lab-output")).to_be_visible()
    assert_accessible(page, lesson.id)
    # Progress is remembered by the browser: a reload (and the lessons list) still shows it.
    page.reload()
    expect(page.locator(".lesson-progress-text")).to_have_text(
        f"{done} of {len(lesson.steps)} steps done")
    assert page.locator(".step-list li.done").count() == done
    page.goto(page.base_url + "/lessons")
    expect(page.locator(f"[data-progress-for='{lesson.id}']")).to_contain_text(
        f"{done} of {len(lesson.steps)} steps done")


@pytest.mark.browser
def test_the_5x5_example_cell_by_cell(page):
    page.goto(page.base_url + "/lessons/convolution-by-hand#step-slide")
    step = page.locator("#step-slide")
    expect(step.locator(".breakdown strong").first).to_have_text("Feature map cell (0, 0)")
    expect(step.locator(".breakdown .sum").first).to_have_text("4")
    sums = []
    for _ in range(9):
        sums.append(step.locator(".breakdown .sum").first.inner_text())
        title = step.locator(".breakdown strong").first.inner_text()
        step.locator(".cell-next").click()
        expect(step.locator(".breakdown strong").first).not_to_have_text(title)
    assert sums == ["4", "3", "4", "2", "4", "3", "2", "3", "4"]  # the course's feature map
    expect(step.locator(".breakdown strong").first).to_have_text("Feature map cell (0, 0)")
    step.locator("td[data-cell='2,2']").click()
    expect(step.locator(".breakdown strong").first).to_have_text("Feature map cell (2, 2)")
    # The "open in the Kernel Lab" link carries exactly this state.
    href = step.locator(".open-lab").get_attribute("href")
    assert "source=lesson" in href and "kernel=x_filter" in href and "cell=2%2C2" in href


@pytest.mark.browser
def test_home_and_lessons_list_pass_axe(page):
    page.goto(page.base_url + "/")
    assert page.locator("a[href='/lessons']").count() >= 2  # the home page leads to them
    assert_accessible(page, "home")
    page.goto(page.base_url + "/lessons")
    assert_accessible(page, "lessons")


def test_the_new_pages_are_in_the_navigation_with_no_inline_script(client):
    import re

    for path in ("/", "/lessons", *(f"/lessons/{x.id}" for x in LESSONS), "/classes",
                 "/classes/join?code=ABCDEF", "/kernel-lab?source=webcam"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert 'href="/lessons"' in r.text and 'href="/classes"' in r.text, path
        assert 'id="projector-toggle"' in r.text, path
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", r.text), path
        assert not re.search(r"\sstyle=", r.text), path  # no inline style either (CSP)
    # An unknown lesson is a page that says so, with the lessons to pick from.
    r = client.get("/lessons/nope")
    assert r.status_code == 200 and "There is no lesson &#39;nope&#39;" in r.text


# ---------------------------------------------------------------- lessons as files (issue 15)


def readme_lesson() -> str:
    """The example lesson file in README.md ("Lessons as files"): the docs' own example is
    the valid teacher's lesson these tests load."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Lessons as files"):]
    return section[section.index("```yaml\n") + 8:section.index("\n```", section.index("```yaml"))] + "\n"


BAD_KERNEL = """id: bad-kernel
title: A lesson with a typo
kind: worksheet
source: {title: Worksheet 1}
summary: One step.
preset: mnist_book
steps:
  - id: look
    title: Look
    text: Look at it.
    lab:
      source: lesson
      kernel: sharpen_typo
"""


def lessons_playground(make_playground, folder):
    """An application with a teacher's lesson folder, once its start-up has settled: its
    model warm-up thread done, so that closing it never leaves TensorFlow mid-load."""
    pg = make_playground(lessons_dir=folder)
    for thread in threading.enumerate():
        if thread.name == "warm-up":
            thread.join(60)
    return pg


def line_of(text: str, needle: str) -> int:
    return next(i + 1 for i, row in enumerate(text.splitlines()) if needle in row)


def test_every_shipped_lesson_file_loads_and_names_its_text_not_its_file():
    from app.classroom.lesson_files import SHIPPED_DIR, _shipped

    lessons, problems = _shipped()
    assert problems == () and [x.id for x in lessons] == [x.id for x in LESSONS]
    assert sorted(p.name for p in SHIPPED_DIR.iterdir()) == [
        "01-build-a-cnn.yaml", "02-convolution-by-hand.yaml", "03-sizes-and-parameters.yaml",
        "04-receptive-fields.yaml"]
    assert {x.id: (x.kind, x.source.title) for x in lessons} == {
        "build-a-cnn": ("workshop episode", "Build a Convolutional Neural Network"),
        "convolution-by-hand": ("course task", "Convolutional Neural Networks"),
        "sizes-and-parameters": ("book chapter", "Introduction to convolutional neural networks"),
        "receptive-fields": ("tutorial", "CNN Tutorial with Keras")}


def test_learners_see_the_texts_title_and_kind_never_a_file_name(client):
    import re

    file_name = re.compile(r"\d{3}_[0-9a-f]{16}\.txt")
    pages = ["/lessons", "/api/lessons", *(f"/lessons/{x.id}" for x in LESSONS),
             *(f"/api/lessons/{x.id}" for x in LESSONS)]
    for path in pages:
        r = client.get(path)
        assert r.status_code == 200 and not file_name.search(r.text), path
    page = client.get("/lessons/build-a-cnn").text
    assert "Follows “Build a Convolutional Neural Network” (workshop episode)" in page
    listing = {x["id"]: x for x in client.get("/api/lessons").json()}
    assert listing["receptive-fields"]["kind"] == "tutorial"
    assert listing["receptive-fields"]["source"] == "CNN Tutorial with Keras"
    assert "Follows “Introduction to convolutional neural networks” (book chapter)" in \
        client.get("/lessons").text


def test_a_file_names_the_line_of_each_mistake():
    from app.classroom.lesson_files import LessonFileError, read_lesson

    good = readme_lesson()
    assert read_lesson(good, "strides.yaml").id == "strides-quickly"
    # A model the exercise expects that Keras cannot build: the line of that layer.
    bad = good.replace("filters: 8,", "filters: 0,")
    with pytest.raises(LessonFileError) as err:
        read_lesson(bad, "strides.yaml")
    (problem,) = err.value.problems
    assert problem.file == "strides.yaml" and problem.line == line_of(bad, "filters: 0,")
    assert problem.reason.startswith("steps.2.exercise.answer.0.filters:"), problem.reason
    # A number with no label, a missing field, a field that is not one.
    bad = good.replace("labels: [width]", "labels: []")
    with pytest.raises(LessonFileError) as err:
        read_lesson(bad, "strides.yaml")
    assert err.value.problems[0].line == line_of(bad, "labels: []")
    assert "one label per number" in err.value.problems[0].reason
    bad = good.replace("summary:", "summery:")
    with pytest.raises(LessonFileError) as err:
        read_lesson(bad, "strides.yaml")
    reasons = {p.reason.split(":")[0]: p.line for p in err.value.problems}
    # (a missing field: where the mapping it belongs in starts)
    assert reasons == {"summary": line_of(bad, "id: strides"), "summery": line_of(bad, "summery:")}
    # YAML that is not YAML: the line the parser stopped at.
    with pytest.raises(LessonFileError) as err:
        read_lesson("id: x\ntitle: [unclosed\nkind: tutorial\n", "broken.yaml")
    (problem,) = err.value.problems
    assert problem.reason.startswith("not valid YAML") and problem.line in (2, 3, 4)


def test_a_teachers_lesson_folder_adds_lessons_and_reports_broken_files(make_playground,
                                                                        tmp_path):
    folder = tmp_path / "lessons"
    folder.mkdir()
    (folder / "strides.yaml").write_text(readme_lesson())
    (folder / "bad-kernel.yaml").write_text(BAD_KERNEL)
    (folder / "broken.yaml").write_text("id: broken\ntitle: [unclosed\n")
    (folder / "copy.yml").write_text(readme_lesson().replace("id: strides-quickly",
                                                             "id: build-a-cnn"))
    (folder / "notes.txt").write_text("not a lesson")  # only *.yaml and *.yml are read
    c = lessons_playground(make_playground, folder).client
    ids = [x["id"] for x in c.get("/api/lessons").json()]
    assert ids == [x.id for x in LESSONS] + ["strides-quickly"]
    # The teacher's lesson works like the shipped ones: its page, its steps, its exercises.
    detail = c.get("/api/lessons/strides-quickly").json()
    assert [s["id"] for s in detail["steps"]] == ["jump", "size", "layer", "train"]
    assert detail["kind"] == "worksheet" and detail["source"] == "Year 11 worksheet 3"
    page = c.get("/lessons/strides-quickly")
    assert page.status_code == 200 and "worksheet-3.pdf" not in page.text
    check = "/api/exercises/strides-quickly.{}/check"
    assert c.post(check.format("size"), json={"answer": [24]}).json()["correct"] is True
    assert c.post(check.format("size"), json={"answer": [25]}).json()["correct"] is False
    layer = {"architecture": model([28, 28, 1], [
        {"type": "Conv2D", "filters": 8, "kernel_size": 3, "strides": 2}])}
    assert c.post(check.format("layer"), json=layer).json()["correct"] is True
    verdict = c.post("/lessons/exercises/strides-quickly.layer",
                     data={"filters": "8", "kernel_size": "3x3", "strides": "(2, 2)"})
    assert 'data-correct="true"' in verdict.text
    # The broken files are listed on /lessons: file, line, reason; the others still work.
    listing = c.get("/lessons").text
    assert "Lesson files that could not be used" in listing
    assert (f'<code>bad-kernel.yaml</code>, line {line_of(BAD_KERNEL, "sharpen_typo")}: '
            "steps.0.lab.kernel: &#39;sharpen_typo&#39; is not a kernel") in listing
    assert listing.count("<code>bad-kernel.yaml</code>") == 1  # one mistake, said once
    assert "<code>broken.yaml</code>, line 3: not valid YAML" in listing
    assert ("<code>copy.yml</code>, line 2: id: another lesson is already called "
            "&#39;build-a-cnn&#39;") in listing
    assert "notes.txt" not in listing
    assert c.get("/api/lessons/bad-kernel").status_code == 404
    assert c.post("/api/exercises/build-a-cnn.params/check",
                  json={"answer": [448]}).json()["correct"] is True
    # The folder is read again when a file changes: the fixed file is a lesson now.
    (folder / "bad-kernel.yaml").write_text(BAD_KERNEL.replace("sharpen_typo", "sharpen"))
    assert c.get("/api/lessons/bad-kernel").status_code == 200
    assert "bad-kernel.yaml" not in c.get("/lessons").text


def test_a_missing_lessons_folder_is_said_and_the_shipped_lessons_work(make_playground, tmp_path):
    c = lessons_playground(make_playground, tmp_path / "nowhere").client
    assert [x["id"] for x in c.get("/api/lessons").json()] == [x.id for x in LESSONS]
    assert "CNNPG_LESSONS_DIR cannot be read" in c.get("/lessons").text


# ---------------------------------------------------------------- progress on the server (issue 19)


def make_class(client):
    made = client.post("/api/classes", json={"name": "Lessons class"},
                       headers={"X-Owner-Token": ADMIN})
    assert made.status_code == 201, made.text
    return made.json()


def test_a_learners_progress_is_kept_on_the_server_and_the_teacher_sees_it(playground):
    klass = make_class(playground.client)
    learner = playground.new_client()
    joined = learner.post(f"/api/classes/{klass['code']}/join", json={"nickname": "Grace"})
    assert joined.status_code == 201
    token = joined.json()["owner_token"]
    # A right answer on the page counts; a wrong one does not.
    assert 'data-correct="false"' in learner.post("/lessons/exercises/build-a-cnn.border",
                                                  data={"answer": "31"}).text
    assert 'data-correct="true"' in learner.post("/lessons/exercises/build-a-cnn.border",
                                                 data={"answer": "30"}).text
    # So does one through the API, with the owner token.
    right = learner.post("/api/exercises/build-a-cnn.input/check", json={"answer": [32, 32, 3]},
                         headers={"X-Owner-Token": token})
    assert right.json()["correct"] is True
    # A step to read is done once the learner moves on (what the page sends).
    done = learner.post("/lessons/build-a-cnn/progress", data={"step": "kernel"})
    assert done.status_code == 200, done.text
    assert done.json() == {"lesson": "build-a-cnn", "steps": 9,
                           "done": ["kernel", "border", "input"]}
    # ...but an exercise's step only by its answer, the Train step only by training.
    for step, why in (("summary", "answering its exercise"), ("train", "training"),
                      ("nope", "no step")):
        refused = learner.post("/lessons/build-a-cnn/progress", data={"step": step})
        assert refused.status_code == 422 and why in refused.text, refused.text
    # Without an owner token there is nothing to keep it under: the browser keeps it.
    assert playground.new_client().post("/lessons/build-a-cnn/progress",
                                        data={"step": "kernel"}).status_code == 403
    # The learner's pages show it from the server.
    page = learner.get("/lessons/build-a-cnn").text
    assert 'data-progress="server"' in page and 'data-done="kernel border input"' in page
    assert "3 of 9 steps done" in page
    assert "Your progress: 3 of 9 steps done" in learner.get("/lessons").text
    # The teacher sees every learner's progress, in the API and on the dashboard.
    teacher = {"X-Owner-Token": klass["teacher_token"]}
    board = playground.client.get(f"/api/classes/{klass['code']}", headers=teacher).json()
    assert [x["id"] for x in board["lessons"]] == [x.id for x in LESSONS]
    (grace,) = board["learners"]
    assert grace["lessons"][0] == {"lesson": "build-a-cnn", "steps": 9,
                                   "done": ["kernel", "border", "input"]}
    assert all(p["done"] == [] for p in grace["lessons"][1:])
    dashboard = playground.client.get(f"/classes/{klass['code']}", headers=teacher).text
    assert 'data-lesson="build-a-cnn" data-done="3"' in dashboard
    assert "3 of 9" in dashboard
    # Start over: the steps are forgotten, on the server too.
    reset = learner.post("/lessons/build-a-cnn/progress/reset")
    assert reset.json()["done"] == []
    board = playground.client.get(f"/api/classes/{klass['code']}", headers=teacher).json()
    assert board["learners"][0]["lessons"][0]["done"] == []


TRAIN_FAST = {"architecture": "mnist_book", "dataset": "mnist",
              "training": {"optimizer": "sgd", "learning_rate": 0.01, "batch_size": 100,
                           "epochs": 1, "validation_split": 0.0, "train_samples": 300,
                           "seed": 1}}


@pytest.mark.browser
def test_the_train_step_is_done_once_the_model_has_trained(page):
    """Issue 19: the Train step stayed unticked beside the learner's accuracy, because only
    a right answer or moving on marked a step done. It is done when the learner's job has
    trained the lesson's model, on the server and on the page."""
    base = page.base_url
    submitted = page.request.post(base + "/api/jobs", data=TRAIN_FAST)  # this browser's cookie
    assert submitted.status == 202, submitted.text()
    job_id = submitted.json()["id"]
    deadline = time.monotonic() + 180
    while (job := page.request.get(f"{base}/api/jobs/{job_id}").json())["status"] not in (
            "succeeded", "failed", "cancelled"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    assert job["status"] == "succeeded", job
    page.goto(base + "/lessons/sizes-and-parameters#step-train")
    step = page.locator("#step-train")
    expect(step.locator(".yours")).to_contain_text("% test accuracy")
    expect(page.locator("[data-step-item='train']")).to_have_class("done")
    expect(step.locator(".step-done")).to_be_visible()
    expect(page.locator(".lesson-progress-text")).to_have_text("1 of 7 steps done")
    # The server counts it: a fresh page (and the lessons list) show it before any script.
    html = page.request.get(base + "/lessons/sizes-and-parameters").text()
    assert 'data-done="train"' in html and "1 of 7 steps done" in html
    page.goto(base + "/lessons")
    expect(page.locator("[data-progress-for='sizes-and-parameters']")).to_have_text(
        "Your progress: 1 of 7 steps done")
    # A step read is sent to the server as the learner moves on, and survives a new browser
    # profile with the same token (what a class's learner has on another day).
    page.goto(base + "/lessons/sizes-and-parameters#step-window")
    page.evaluate("() => window.localStorage.clear()")
    page.goto(base + "/lessons/receptive-fields#step-field")
    page.locator("#step-field .step-next").click()
    expect(page.locator("[data-step-item='field']")).not_to_have_class("done")  # an exercise
    page.goto(base + "/lessons/build-a-cnn#step-kernel")
    with page.expect_response(lambda r: r.url.endswith("/lessons/build-a-cnn/progress")):
        page.locator("#step-kernel .step-next").click()
    page.evaluate("() => window.localStorage.clear()")
    page.reload()
    expect(page.locator("[data-step-item='kernel']")).to_have_class("done")
    assert_accessible(page, "a lesson with progress from the server")


@pytest.mark.browser
def test_the_dashboard_shows_each_students_lesson_progress(playground, browser, server):
    klass = make_class(playground.client)
    learner = playground.new_client()
    learner.post(f"/api/classes/{klass['code']}/join", json={"nickname": "Ada"})
    learner.post("/lessons/exercises/convolution-by-hand.cell", data={"answer": "2"})
    learner.post("/lessons/convolution-by-hand/progress", data={"step": "padding"})  # refused
    with browser_page(browser, server.url) as pg:
        pg.context.add_cookies([{"name": "cnnpg_teacher", "value": klass["teacher_token"],
                                 "url": server.url + "/classes"}])
        pg.goto(server.url + f"/classes/{klass['code']}")
        row = pg.locator(".lesson-progress-table tr[data-nickname='Ada']")
        steps = len(next(x for x in LESSONS if x.id == "convolution-by-hand").steps)
        expect(row.locator("td[data-lesson='convolution-by-hand'] .progress-text")).to_have_text(
            f"1 of {steps}")
        expect(row.locator("td[data-lesson='build-a-cnn'] .progress-text")).to_have_text("0 of 9")
        assert_accessible(pg, "the dashboard with lesson progress")
