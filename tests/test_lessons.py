"""Lessons: every page renders, every exercise accepts the right answer and refuses a
wrong one (through the JSON API and through the page's own forms), progress is kept in
the browser, and the pages pass axe.

The right answers are written here from the lessons themselves, not read from the code
under test; the numbers that Keras can count are counted by Keras."""

from __future__ import annotations

import copy
import json

import keras
import numpy as np
import pytest
from playwright.sync_api import expect

from app.classroom import lessons as L
from app.lab.convolution import correlate, pool
from app.networks.architecture import ArchitectureSpec, build_model
from tests.conftest import assert_accessible


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
    assert client.get("/api/lessons/nope").status_code == 422  # not one of the lesson ids


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
@pytest.mark.parametrize("lesson", L.LESSONS, ids=lambda x: x.id)
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

    for path in ("/", "/lessons", *(f"/lessons/{x.id}" for x in L.LESSONS), "/classes",
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
