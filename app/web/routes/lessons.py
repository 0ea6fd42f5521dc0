"""Lessons: the pages (one per lesson, each a sequence of live steps) and the JSON API that
lists them and checks their exercises (`app/classroom/lessons.py` does the checking)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup, escape
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.classroom import lessons as L
from app.errors import InvalidInput, NotFound
from app.lab.kernels import KERNELS
from app.networks.architecture import ArchitectureSpec, check
from app.networks.presets import get_preset
from app.web.dependencies import SettingsDep
from app.web.routes.architectures import SummaryOut, summary_out
from app.web.schemas import BODY_ERRORS, responses
from app.web.templating import templates

router = APIRouter(tags=["lessons"])
pages = APIRouter(include_in_schema=False)

Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]


def inline_code(text: str) -> Markup:
    """Lesson text with `code` spans; everything else escaped."""
    parts = str(escape(text)).split("`")
    return Markup("".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts)))


templates.env.filters["inline_code"] = inline_code


class BlankOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    kind: L.BlankKind


class ExerciseOut(BaseModel):
    id: str
    kind: L.ExerciseKind = Field(description='"layer": fill in one Keras layer\'s arguments '
                                 '(send the whole model); "model": send an architecture spec; '
                                 '"numbers": send {"answer": [numbers]}.')
    prompt: str
    hint: str
    layer_type: str | None
    blanks: list[BlankOut]
    start: dict[str, Any] | None = Field(description="The model the learner starts from.")
    labels: list[str] = Field(description="What each number is, for numbers exercises.")


class StepOut(BaseModel):
    id: str
    title: str
    text: list[str]
    kernel_lab: str | None = Field(description="The Kernel Lab state the step shows, as a link.")
    exercise: ExerciseOut | None
    train: str | None = Field(description="A preset to train (POST /api/jobs with it).")


class LessonItem(BaseModel):
    id: str
    title: str
    summary: str
    source: str = Field(description="The lesson text(s) it follows.")
    preset: str
    dataset: str
    reported_test_accuracy: float | None
    steps: int
    exercises: int


class LessonOut(BaseModel):
    id: str
    title: str
    summary: str
    source: str
    preset: str
    dataset: str
    reported_test_accuracy: float | None
    steps: list[StepOut]


def _exercise_out(e: L.Exercise) -> ExerciseOut:
    return ExerciseOut(id=e.id, kind=e.kind, prompt=e.prompt, hint=e.hint,
                       layer_type=e.layer_type,
                       blanks=[BlankOut.model_validate(b) for b in e.blanks],
                       start=e.start or None, labels=list(e.labels))


def _item(lesson: L.Lesson) -> dict[str, Any]:
    return {"id": lesson.id, "title": lesson.title, "summary": lesson.summary,
            "source": lesson.source, "preset": lesson.preset, "dataset": lesson.dataset,
            "reported_test_accuracy": lesson.reported_test_accuracy,
            "steps": len(lesson.steps), "exercises": len(lesson.exercises())}


@router.get("/api/lessons", response_model=list[LessonItem])
def list_lessons() -> list[LessonItem]:
    """The lessons, each following one of the texts the playground teaches from."""
    return [LessonItem.model_validate(_item(x)) for x in L.LESSONS]


@router.get("/api/lessons/{lesson_id}", response_model=LessonOut)
def lesson_detail(lesson_id: L.LessonId) -> LessonOut:
    """A lesson's steps, with its exercises (not their answers) and Kernel Lab links."""
    lesson = L.get_lesson(lesson_id)
    assert lesson is not None  # the path only takes the lessons' ids
    steps = [StepOut(id=s.id, title=s.title, text=list(s.paragraphs),
                     kernel_lab=s.lab_state.url if s.lab_state else None,
                     exercise=_exercise_out(s.exercise) if s.exercise else None, train=s.train)
             for s in lesson.steps]
    item = _item(lesson)
    del item["exercises"]
    return LessonOut.model_validate({**item, "steps": steps})


class ArchitectureAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    architecture: ArchitectureSpec = Field(description="The learner's model (as the Model "
                                           "Builder and POST /api/jobs take it).")


class NumbersAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer: list[Number] = Field(min_length=1, max_length=8, description="The numbers asked "
                                 "for, in order.")


class CheckOut(BaseModel):
    correct: bool
    message: str = Field(description="What is right, or the first thing that is not.")
    hint: str | None = Field(description="A nudge when the answer is wrong.")
    summary: SummaryOut | None = Field(description="The learner's model, as model.summary() "
                                       "counts it, when it can be built.")


def _check(exercise_id: str, answer: ArchitectureSpec | list[float], max_layers: int,
           max_params: int) -> L.Verdict:
    found = L.get_exercise(exercise_id)
    if found is None:
        raise NotFound("path.exercise_id", f"no exercise {exercise_id!r}")
    _, exercise = found
    if isinstance(answer, ArchitectureSpec):
        return L.check_architecture(exercise, answer, max_layers=max_layers,
                                    max_params=max_params)
    return L.check_numbers(exercise, answer)


@router.post("/api/exercises/{exercise_id}/check", response_model=CheckOut,
             responses={**BODY_ERRORS, **responses(e422="Not an answer")})
def check_exercise(exercise_id: L.ExerciseId, body: ArchitectureAnswer | NumbersAnswer,
                   settings: SettingsDep) -> CheckOut:
    """Check a lesson's exercise: a model (an architecture spec) for "layer" and "model"
    exercises, numbers for "numbers" ones. A wrong answer is not an error: the answer is
    `correct: false` with what differs and a hint."""
    answer = body.architecture if isinstance(body, ArchitectureAnswer) else list(body.answer)
    v = _check(exercise_id, answer, settings.max_layers, settings.max_params)
    return CheckOut(correct=v.correct, message=v.message, hint=v.hint,
                    summary=summary_out(v.summary) if v.summary else None)


# ---------------------------------------------------------------- pages


@pages.get("/lessons", response_class=HTMLResponse)
def lessons_page(request: Request) -> Response:
    return templates.TemplateResponse(request, "lessons.html",
                                      {"active": "lessons", "lessons": L.LESSONS})


def _preset_summary(name: str) -> Any:
    preset = get_preset(name)
    return None if preset is None else check(ArchitectureSpec.model_validate(preset.architecture))


@pages.get("/lessons/{lesson_id}", response_class=HTMLResponse)
def lesson_page(request: Request, lesson_id: Annotated[str, Path(max_length=64)]) -> Response:
    lesson = L.get_lesson(lesson_id)
    if lesson is None:
        return templates.TemplateResponse(request, "lessons.html", {
            "active": "lessons", "lessons": L.LESSONS,
            "errors": [f"There is no lesson {lesson_id!r}: pick one below."]})
    summaries = {s.summary_of: _preset_summary(s.summary_of) for s in lesson.steps if s.summary_of}
    presets = {s.train: get_preset(s.train) for s in lesson.steps if s.train}
    return templates.TemplateResponse(request, "lesson.html", {
        "active": "lessons", "lesson": lesson, "summaries": summaries, "presets": presets,
        "kernels": KERNELS, "spec_text": L.spec_text})


@pages.post("/lessons/exercises/{exercise_id}", response_class=HTMLResponse)
async def exercise_form(request: Request, exercise_id: Annotated[str, Path(max_length=80)],
                        settings: SettingsDep) -> Response:
    """The lesson page's Check button: the learner's blanks, model or numbers, from its
    form (field names depend on the exercise), checked; the verdict comes back as HTML."""
    found = L.get_exercise(exercise_id)
    if found is None:
        raise NotFound("path.exercise_id", f"no exercise {exercise_id!r}")
    _, exercise = found
    form = await request.form(max_files=0, max_fields=64)
    kind: Literal["layer", "model", "numbers"] = exercise.kind
    try:
        answer: ArchitectureSpec | list[float]
        if kind == "layer":
            answer = L.architecture_from_blanks(
                exercise, {b.name: str(form.get(b.name, "")) for b in exercise.blanks})
        elif kind == "model":
            answer = parse_model(str(form.get("architecture", "")))
        else:
            answer = L.parse_numbers([str(v) for v in form.getlist("answer")])
        verdict = _check(exercise_id, answer, settings.max_layers, settings.max_params)
    except InvalidInput as exc:
        verdict = L.Verdict(False, f"{exc.field}: {exc.message}", exercise.hint)
    return templates.TemplateResponse(request, "partials/verdict.html",
                                      {"v": verdict, "exercise": exercise})


def parse_model(text: str) -> ArchitectureSpec:
    """The model textarea: JSON as the Model Builder and the API write it."""
    if not text.strip():
        raise InvalidInput("architecture", "the model is empty")
    try:
        return ArchitectureSpec.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        if first["type"] == "json_invalid":
            raise InvalidInput("architecture", "this is not valid JSON: check the commas, "
                               "brackets and quotes (" + str(first["msg"]) + ")") from None
        loc = ".".join(str(p) for p in first["loc"] if not str(p)[:1].isupper())
        raise InvalidInput(loc or "architecture", str(first["msg"])) from None

