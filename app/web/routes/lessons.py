"""Lessons: the pages (one per lesson, each a sequence of live steps) and the JSON API that
lists them and checks their exercises.

The lessons are the application's own (`classes.lessons`: the shipped lesson files and
CNNPG_LESSONS_DIR's, `app/classroom/lesson_files.py`), so ids are checked when a request
comes: an id of the right form that names no lesson is a 404 naming it. Answers are
checked by `app/classroom/exercises.py`. A right answer, and a step read and left, count
as the learner's progress when the request carries their owner token
(`app/classroom/progress.py`); the lesson page sends read steps to
`POST /lessons/{id}/progress` (a part of the page, not of the API).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from markupsafe import Markup, escape
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.classroom import exercises as X
from app.classroom import lessons as L
from app.classroom.lesson_files import Catalog
from app.classroom.ownership import COOKIE
from app.classroom.progress import LessonProgress
from app.errors import Forbidden, InvalidInput, NotFound
from app.lab.kernels import KERNELS
from app.networks.architecture import ArchitectureSpec, check
from app.networks.presets import get_preset
from app.web.dependencies import ClassesDep, SettingsDep, TokenDep
from app.web.schemas import BODY_ERRORS, responses
from app.web.schemas.architectures import SummaryOut, summary_out
from app.web.templating import templates

api = APIRouter(tags=["lessons"])
pages = APIRouter(include_in_schema=False)

Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
LessonPath = Annotated[str, Path(pattern=L.LESSON_ID_PATTERN, max_length=40, description=(
    "A lesson's id, as GET /api/lessons lists them, e.g. build-a-cnn."))]
ExercisePath = Annotated[str, Path(pattern=L.EXERCISE_ID_PATTERN, max_length=81, description=(
    "An exercise's id, <lesson id>.<exercise>, e.g. build-a-cnn.params."))]


async def get_catalog(classes: ClassesDep) -> Catalog:
    return classes.lessons.catalog()


async def get_progress(classes: ClassesDep) -> LessonProgress:
    return classes.progress


CatalogDep = Annotated[Catalog, Depends(get_catalog)]
ProgressDep = Annotated[LessonProgress, Depends(get_progress)]


def find_lesson(catalog: Catalog, lesson_id: str) -> L.Lesson:
    lesson = catalog.get(lesson_id)
    if lesson is None:
        raise NotFound("path.lesson_id", f"no lesson {lesson_id!r}: GET /api/lessons lists "
                       "the lessons there are")
    return lesson


def find_exercise(catalog: Catalog, exercise_id: str) -> tuple[L.Lesson, L.Step, L.Exercise]:
    found = catalog.exercise(exercise_id)
    if found is None:
        raise NotFound("path.exercise_id", f"no exercise {exercise_id!r}: each lesson's "
                       "steps (GET /api/lessons/{lesson_id}) name their exercises")
    return found


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
    kind: str = Field(description="What the text it follows is: a workshop episode, a course "
                      "task, a book chapter, a tutorial…")
    summary: str
    source: str = Field(description="The title of the text it follows.")
    preset: str
    dataset: str
    reported_test_accuracy: float | None
    steps: int
    exercises: int


class LessonOut(BaseModel):
    id: str
    title: str
    kind: str
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
    return {"id": lesson.id, "title": lesson.title, "kind": lesson.kind,
            "summary": lesson.summary, "source": lesson.source.title, "preset": lesson.preset,
            "dataset": lesson.dataset, "reported_test_accuracy": lesson.reported_test_accuracy,
            "steps": len(lesson.steps), "exercises": len(lesson.exercises())}


@api.get("/api/lessons", response_model=list[LessonItem])
def list_lessons(catalog: CatalogDep) -> list[LessonItem]:
    """The lessons, each following one of the texts the playground teaches from (and any
    of the teacher's own, CNNPG_LESSONS_DIR)."""
    return [LessonItem.model_validate(_item(x)) for x in catalog.lessons]


@api.get("/api/lessons/{lesson_id}", response_model=LessonOut,
            responses=responses(e404="No lesson with this id"))
def lesson_detail(lesson_id: LessonPath, catalog: CatalogDep) -> LessonOut:
    """A lesson's steps, with its exercises (not their answers) and Kernel Lab links."""
    lesson = find_lesson(catalog, lesson_id)
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

    answer: list[Number] = Field(min_length=1, max_length=L.MAX_NUMBERS, description="The "
                                 "numbers asked for, in order.")


class CheckOut(BaseModel):
    correct: bool
    message: str = Field(description="What is right, or the first thing that is not.")
    hint: str | None = Field(description="A nudge when the answer is wrong.")
    summary: SummaryOut | None = Field(description="The learner's model, as model.summary() "
                                       "counts it, when it can be built.")


def _check(exercise: L.Exercise, answer: ArchitectureSpec | list[float], max_layers: int,
           max_params: int) -> X.Verdict:
    if isinstance(answer, ArchitectureSpec):
        return X.check_architecture(exercise, answer, max_layers=max_layers,
                                    max_params=max_params)
    return X.check_numbers(exercise, answer)


@api.post("/api/exercises/{exercise_id}/check", response_model=CheckOut,
             responses={**BODY_ERRORS, **responses(e404="No exercise with this id",
                                                   e422="Not an answer")})
def check_exercise(exercise_id: ExercisePath, body: ArchitectureAnswer | NumbersAnswer,
                   settings: SettingsDep, catalog: CatalogDep, progress: ProgressDep,
                   token: TokenDep) -> CheckOut:
    """Check a lesson's exercise: a model (an architecture spec) for "layer" and "model"
    exercises, numbers for "numbers" ones. A wrong answer is not an error: the answer is
    `correct: false` with what differs and a hint. With an owner token (a class's learner,
    say), a right answer counts as that learner's progress through the lesson."""
    lesson, step, exercise = find_exercise(catalog, exercise_id)
    answer = body.architecture if isinstance(body, ArchitectureAnswer) else list(body.answer)
    v = _check(exercise, answer, settings.max_layers, settings.max_params)
    if v.correct:
        progress.record(token, lesson, step)
    return CheckOut(correct=v.correct, message=v.message, hint=v.hint,
                    summary=summary_out(v.summary) if v.summary else None)


# ---------------------------------------------------------------- pages


def _progress_context(token: str | None, progress: LessonProgress,
                      lessons: tuple[L.Lesson, ...]) -> dict[str, Any]:
    """Where the page's progress comes from: the server, for a browser with an owner token
    (a class's learner, or anyone who has trained), else that browser's own storage."""
    owner = progress.owner_of(token)
    if owner is None:
        return {"progress_source": "browser", "done": {}}
    return {"progress_source": "server", "done": progress.by_owner([owner], lessons)[owner]}


@pages.get("/lessons", response_class=HTMLResponse)
def lessons_page(request: Request, catalog: CatalogDep, progress: ProgressDep,
                 token: TokenDep) -> Response:
    return templates.TemplateResponse(request, "lessons.html", {
        "active": "lessons", "lessons": catalog.lessons, "problems": catalog.problems,
        **_progress_context(token, progress, catalog.lessons)})


def _preset_summary(name: str) -> Any:
    preset = get_preset(name)
    return None if preset is None else check(ArchitectureSpec.model_validate(preset.architecture))


@pages.get("/lessons/{lesson_id}", response_class=HTMLResponse)
def lesson_page(request: Request, lesson_id: Annotated[str, Path(max_length=64)],
                catalog: CatalogDep, progress: ProgressDep, token: TokenDep) -> Response:
    lesson = catalog.get(lesson_id)
    if lesson is None:
        return templates.TemplateResponse(request, "lessons.html", {
            "active": "lessons", "lessons": catalog.lessons, "problems": catalog.problems,
            **_progress_context(token, progress, catalog.lessons),
            "errors": [f"There is no lesson {lesson_id!r}: pick one below."]})
    summaries = {s.summary_of: _preset_summary(s.summary_of) for s in lesson.steps if s.summary_of}
    presets = {s.train: get_preset(s.train) for s in lesson.steps if s.train}
    context = _progress_context(token, progress, (lesson,))
    return templates.TemplateResponse(request, "lesson.html", {
        "active": "lessons", "lesson": lesson, "summaries": summaries, "presets": presets,
        "kernels": KERNELS, "spec_text": X.spec_text, "progress_source": context["progress_source"],
        "done": context["done"].get(lesson.id, [])})


@pages.post("/lessons/exercises/{exercise_id}", response_class=HTMLResponse)
async def exercise_form(request: Request, exercise_id: Annotated[str, Path(max_length=81)],
                        settings: SettingsDep, catalog: CatalogDep, progress: ProgressDep,
                        token: TokenDep) -> Response:
    """The lesson page's Check button: the learner's blanks, model or numbers, from its
    form (field names depend on the exercise), checked; the verdict comes back as HTML.
    A right answer counts as the learner's progress (with their owner token)."""
    lesson, step, exercise = find_exercise(catalog, exercise_id)
    form = await request.form(max_files=0, max_fields=64)
    kind: Literal["layer", "model", "numbers"] = exercise.kind
    try:
        answer: ArchitectureSpec | list[float]
        if kind == "layer":
            answer = X.architecture_from_blanks(
                exercise, {b.name: str(form.get(b.name, "")) for b in exercise.blanks})
        elif kind == "model":
            answer = parse_model(str(form.get("architecture", "")))
        else:
            answer = X.parse_numbers([str(v) for v in form.getlist("answer")])
        verdict = _check(exercise, answer, settings.max_layers, settings.max_params)
    except InvalidInput as exc:
        verdict = X.Verdict(False, f"{exc.field}: {exc.message}", exercise.hint)
    if verdict.correct:
        progress.record(token, lesson, step)
    return templates.TemplateResponse(request, "partials/verdict.html",
                                      {"v": verdict, "exercise": exercise})


def _progress_json(lesson: L.Lesson, done: list[str]) -> JSONResponse:
    return JSONResponse({"lesson": lesson.id, "steps": len(lesson.steps), "done": done})


def _learner_token(token: str | None) -> str:
    if not LessonProgress.owner_of(token):
        raise Forbidden(f"progress is kept for an owner token (the {COOKIE} cookie a class "
                        "or a first job gives); without one it stays in the browser")
    return str(token)


@pages.post("/lessons/{lesson_id}/progress")
def read_step(lesson_id: LessonPath, step: Annotated[str, Form(max_length=40)],
              catalog: CatalogDep, progress: ProgressDep, token: TokenDep) -> Response:
    """The lesson page: the learner moved on from a step to read. Steps with an exercise
    are done by a right answer, and the Train step by a trained model, never by this."""
    lesson = find_lesson(catalog, lesson_id)
    token = _learner_token(token)
    found = lesson.step(step)
    if found is None:
        raise InvalidInput("step", f"lesson {lesson.id} has no step {step!r}")
    if not found.read_only:
        raise InvalidInput("step", f"step {step!r} is done by "
                           + ("answering its exercise right" if found.exercise
                              else "training the lesson's model"))
    progress.record(token, lesson, found)
    return _progress_json(lesson, progress.done(token, lesson))


@pages.post("/lessons/{lesson_id}/progress/reset")
def start_over(lesson_id: LessonPath, catalog: CatalogDep, progress: ProgressDep,
               token: TokenDep) -> Response:
    """The lesson page's Start over: the steps done are forgotten (a model trained stays
    trained, so its step stays done)."""
    lesson = find_lesson(catalog, lesson_id)
    token = _learner_token(token)
    progress.clear(token, lesson)
    return _progress_json(lesson, progress.done(token, lesson))


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


router = APIRouter()
router.include_router(api)
router.include_router(pages)
