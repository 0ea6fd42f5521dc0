"""Classes over HTTP: make one (administrator), join one (students), the teacher's dashboard.

JSON: `POST /api/classes`, `POST /api/classes/{code}/join`, `GET /api/classes/{code}`.
Pages: `/classes` (join, sign in as the teacher, or make a class), `/classes/join?code=…`
(what the projector's QR code opens) and `/classes/{code}` (the dashboard, live).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from app.classroom.classes import CODE_PATTERN, NAME_MAX, Board, Classes, job_fraction
from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.storage.tables import JobRow, utcnow
from app.training.jobs import JobStatus
from app.training.queueing import QueueSpot, time_left
from app.training.sweeps import SweepStore
from app.web.dependencies import ClassesDep, JobsDep, SweepsDep, TeacherTokenDep, TokenDep
from app.web.errors import error_items
from app.web.public_links import public_link
from app.web.schemas import BODY_ERRORS, UtcDatetime, responses
from app.web.schemas.jobs import JobPath
from app.web.templating import describe_errors, templates
from app.web.tokens import TEACHER_COOKIE, give_teacher_token, give_token

api = APIRouter(tags=["classes"])
pages = APIRouter(include_in_schema=False)

CodePath = Annotated[str, Path(pattern=CODE_PATTERN, description="The class code, e.g. K7M2QX "
                               "(case does not matter).")]
NICKNAME_CEILING = 32  # CNNPG_MAX_NICKNAME_LENGTH may set a lower limit (24 by default)


class ClassCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=NAME_MAX, pattern=r"\S",
                      description="What the class is called, e.g. \"Year 11, Tuesday\".")


class ClassCreated(BaseModel):
    code: str = Field(description="What students type to join (or open join_url).")
    teacher_token: str = Field(description="Shown once: send it as X-Owner-Token to see the "
                               "dashboard and cancel the class's jobs.")
    name: str
    expires: UtcDatetime
    join_url: str = Field(description="The whole link students open to join: on "
                          "CNNPG_PUBLIC_URL, else on the address this request was sent to.")


class JoinRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nickname: str = Field(min_length=1, max_length=NICKNAME_CEILING, pattern=r"\S",
                          description="How the teacher will see you (no e-mail, no account).")


class Joined(BaseModel):
    code: str
    class_name: str
    nickname: str
    owner_token: str = Field(description="Your owner token (also set as the cnnpg_owner "
                             "cookie and the X-Owner-Token header): the jobs you submit with "
                             "it carry your nickname.")


class ClassJob(BaseModel):
    id: str
    name: str
    dataset: str
    status: JobStatus
    fraction: float = Field(description="How far it is, 0 to 1.")
    epoch: int | None
    epochs: int | None
    test_accuracy: float | None
    model_id: str | None
    created: UtcDatetime
    queue_position: int | None = Field(
        None, description="While queued: its place in the queue (1: the next to start).")
    start_in_seconds: float | None = Field(
        None, description="While queued: about how long until it starts (null: unknown).")
    eta_seconds: float | None = Field(
        None, description="While running: about how long until it ends, counting the jobs "
        "it shares its worker with.")


class ClassModel(BaseModel):
    id: str
    name: str
    dataset: str
    test_accuracy: float | None
    created: UtcDatetime


class LessonProgressOut(BaseModel):
    lesson: str = Field(description="The lesson's id (GET /api/lessons).")
    steps: int = Field(description="How many steps the lesson has.")
    done: list[str] = Field(description="The steps done, in the lesson's order: an exercise "
                            "answered right, a step read and left, the lesson's model trained.")


class LearnerOut(BaseModel):
    nickname: str
    joined: UtcDatetime
    jobs: list[ClassJob]
    models: list[ClassModel]
    best_test_accuracy: float | None
    best_by_dataset: dict[str, float]
    lessons: list[LessonProgressOut] = Field(description="Their progress through each lesson.")


class ClassLesson(BaseModel):
    id: str
    title: str
    steps: int


class StandingOut(BaseModel):
    rank: int
    nickname: str
    test_accuracy: float
    model_id: str | None


class ClassOut(BaseModel):
    code: str
    name: str
    created: UtcDatetime
    expires: UtcDatetime
    expired: bool
    max_size: int
    learners: list[LearnerOut]
    leaderboard: dict[str, list[StandingOut]] = Field(
        description="Per dataset, each learner's best test accuracy, best first.")
    lessons: list[ClassLesson] = Field(description="The lessons the learners' progress is "
                                       "counted in, in order.")


def _job_out(job: JobRow, spot: QueueSpot | None = None) -> ClassJob:
    p: dict[str, Any] = job.progress or {}
    result: dict[str, Any] = job.result or {}
    eta = time_left(job, time.time()) if job.status == "running" else None
    return ClassJob(id=job.id, name=job.name, dataset=job.dataset,
                    status=job.status,
                    fraction=round(job_fraction(job), 4), epoch=p.get("epoch"),
                    epochs=p.get("epochs") or (job.training or {}).get("epochs"),
                    test_accuracy=result.get("test_accuracy"), model_id=result.get("model_id"),
                    created=job.created,
                    queue_position=spot.position if spot and job.status == "queued" else None,
                    start_in_seconds=spot.start_in_seconds if spot and job.status == "queued"
                    else None, eta_seconds=None if eta is None else round(eta, 1))


def class_out(board: Board) -> ClassOut:
    k = board.klass
    return ClassOut(
        code=k.code, name=k.name, created=k.created, expires=k.expires, expired=board.expired,
        max_size=board.max_size,
        learners=[LearnerOut(
            nickname=ln.nickname, joined=ln.joined,
            jobs=[_job_out(j, board.spots.get(j.id)) for j in ln.jobs],
            models=[ClassModel(id=m.id, name=m.name, dataset=m.dataset,
                               test_accuracy=m.test_accuracy, created=m.created)
                    for m in ln.models],
            best_test_accuracy=ln.best_test_accuracy, best_by_dataset=ln.best_by_dataset,
            lessons=[LessonProgressOut(lesson=x.id, steps=len(x.steps),
                                       done=ln.lessons.get(x.id, [])) for x in board.lessons],
        ) for ln in board.learners],
        lessons=[ClassLesson(id=x.id, title=x.title, steps=len(x.steps)) for x in board.lessons],
        leaderboard={d: [StandingOut(rank=s.rank, nickname=s.nickname,
                                     test_accuracy=s.test_accuracy, model_id=s.model_id)
                         for s in rows] for d, rows in board.leaderboard.items()},
    )


def join_path(code: str) -> str:
    return f"/classes/join?code={code}"


@api.post("/api/classes", status_code=201, response_model=ClassCreated,
             responses={**BODY_ERRORS, **responses(
                 e403="Not the administrator token (CNNPG_ADMIN_TOKEN), or none is configured",
                 e422="A bad name")})
def create_class(body: ClassCreate, request: Request, classes: ClassesDep,
                 token: TokenDep) -> ClassCreated:
    """Make a class (the administrator token, in `X-Owner-Token`): its code, for students to
    join, and its teacher token, for the dashboard. The teacher token is shown only here."""
    made = classes.create(body.name, token)
    return ClassCreated(code=made.code, teacher_token=made.teacher_token, name=made.name,
                        expires=made.expires, join_url=public_link(request, join_path(made.code)))


@api.post("/api/classes/{code}/join", status_code=201, response_model=Joined,
             responses={**BODY_ERRORS, **responses(
                 e404="No class with this code, or it has closed",
                 e409="The nickname is taken in this class",
                 e422="An empty or too long nickname, or the class is full "
                      "(CNNPG_MAX_CLASS_SIZE)")})
def join_class(code: CodePath, body: JoinRequest, classes: ClassesDep) -> Response:
    """Join a class with a nickname: the answer is a new owner token (also set as the
    `cnnpg_owner` cookie); jobs submitted with it, and the models they train, carry the
    nickname, which only you and your teacher see."""
    joined = classes.join(code, body.nickname)
    out = Joined(code=joined.code, class_name=joined.class_name, nickname=joined.nickname,
                 owner_token=joined.token)
    return give_token(JSONResponse(out.model_dump(), status_code=201), joined.token)


@api.get("/api/classes/{code}", response_model=ClassOut,
            responses=responses(e403="Not this class's teacher token",
                                e404="No class with this code"))
def get_class(code: CodePath, classes: ClassesDep, token: TeacherTokenDep) -> ClassOut:
    """The class for its teacher (the teacher token in `X-Owner-Token`): every learner with
    their jobs and models, their best test accuracy per dataset, their progress through
    each lesson, and a leaderboard."""
    return class_out(classes.board(code, token))


# ---------------------------------------------------------------- pages


def _messages(exc: Exception) -> list[str]:
    if isinstance(exc, InvalidInput | NotFound):
        return describe_errors(error_items(exc.field, exc.message))
    return [str(exc)]


def _classes_page(request: Request, classes: Classes, token: str | None,
                  **context: Any) -> Response:
    learner = classes.learner(token)
    teaching = classes.teaches(request.cookies.get(TEACHER_COOKIE))
    context.setdefault("code", "")
    klass = classes.get(learner.class_code) if learner is not None else None
    return templates.TemplateResponse(request, "classes.html", {
        "active": "classes", "learner": learner, "teaching": teaching, "errors": [],
        "closed": klass if klass is not None and klass.expires <= utcnow() else None,
        "visitor_jobs": classes.settings.visitor_jobs, **context})


@pages.get("/classes", response_class=HTMLResponse)
def classes_page(request: Request, classes: ClassesDep, token: TokenDep) -> Response:
    return _classes_page(request, classes, token)


@pages.get("/classes/join", response_class=HTMLResponse)
def join_page(request: Request, classes: ClassesDep, token: TokenDep, code: str = "") -> Response:
    """What the projector's QR code opens: the join form with the code filled in."""
    return _classes_page(request, classes, token, code=code[:16], focus="join")


@pages.post("/classes/join", response_class=HTMLResponse)
def join_form(request: Request, classes: ClassesDep, token: TokenDep,
              code: Annotated[str, Form(max_length=64)] = "",
              nickname: Annotated[str, Form(max_length=200)] = "") -> Response:
    try:
        joined = classes.join(code, nickname, field="code")
    except (InvalidInput, NotFound, Conflict) as exc:
        return _classes_page(request, classes, token, code=code[:16], nickname=nickname[:64],
                             focus="join", errors=_messages(exc))
    response = templates.TemplateResponse(request, "class_joined.html", {
        "active": "classes", "joined": joined})
    return give_token(response, joined.token)


@pages.post("/classes/new", response_class=HTMLResponse)
def new_class_form(request: Request, classes: ClassesDep, token: TokenDep,
                   admin_token: Annotated[str, Form(max_length=256)] = "",
                   name: Annotated[str, Form(max_length=200)] = "") -> Response:
    """The administrator's form: the new class's code and teacher token, shown once."""
    try:
        made = classes.create(name, admin_token.strip() or None)
    except (InvalidInput, Forbidden, Conflict) as exc:
        return _classes_page(request, classes, token, focus="new", class_name=name[:NAME_MAX],
                             errors=_messages(exc))
    response = templates.TemplateResponse(request, "class_created.html", {
        "active": "classes", "made": made, "join_path": join_path(made.code)})
    return give_teacher_token(response, made.teacher_token)


@pages.post("/classes/teacher", response_class=HTMLResponse)
def teacher_sign_in(request: Request, classes: ClassesDep, token: TokenDep,
                    code: Annotated[str, Form(max_length=64)] = "",
                    teacher_token: Annotated[str, Form(max_length=256)] = "") -> Response:
    try:
        klass = classes.require_teacher(code, teacher_token.strip() or None, field="code")
    except (InvalidInput, NotFound, Forbidden) as exc:
        return _classes_page(request, classes, token, code=code[:16], focus="teacher",
                             errors=_messages(exc))
    response = RedirectResponse(f"/classes/{klass.code}", status_code=303)
    return give_teacher_token(response, teacher_token.strip())


def _board_context(board: Board, sweeps: SweepStore) -> dict[str, Any]:
    return {"board": board, "out": class_out(board), "join_path": join_path(board.klass.code),
            "sweeps": sweeps.for_class(board.klass.code)}


@pages.get("/classes/{code}", response_class=HTMLResponse)
def dashboard_page(request: Request, code: CodePath, classes: ClassesDep, sweeps: SweepsDep,
                   token: TeacherTokenDep) -> Response:
    """The teacher's dashboard; anyone else gets the teacher sign-in form and the reason."""
    try:
        board = classes.board(code, token)
    except (NotFound, Forbidden) as exc:
        return _classes_page(request, classes, token, code=code.upper(), focus="teacher",
                             errors=_messages(exc))
    return templates.TemplateResponse(request, "class_dashboard.html", {
        "active": "classes", **_board_context(board, sweeps)})


@pages.get("/classes/{code}/board", response_class=HTMLResponse)
def dashboard_board(request: Request, code: CodePath, classes: ClassesDep, sweeps: SweepsDep,
                    token: TeacherTokenDep) -> Response:
    """The dashboard's live part (htmx polls it); refusals come back as the message."""
    board = classes.board(code, token)
    return templates.TemplateResponse(request, "partials/class_board.html",
                                      _board_context(board, sweeps))


@pages.post("/classes/{code}/jobs/{job_id}/cancel", response_class=HTMLResponse)
def dashboard_cancel(request: Request, code: CodePath, job_id: JobPath, classes: ClassesDep,
                     jobs: JobsDep, sweeps: SweepsDep, token: TeacherTokenDep) -> Response:
    """The teacher cancels a job of the class; the board comes back with the news."""
    klass = classes.require_teacher(code, token)
    job = jobs.get(job_id, "path.job_id")
    notice = ""
    if job.class_code != klass.code:
        notice = f"job {job_id} is not a job of class {klass.code}"
    else:
        try:
            row = jobs.request_cancel(job_id, token, "path.job_id")
            notice = (f"Cancelled {row.nickname}'s job {row.name}." if row.status == "cancelled"
                      else f"Cancelling {row.nickname}'s job {row.name}: its worker stops "
                      "within a second or two.")
        except Conflict as exc:
            notice = str(exc)
    board = classes.board(code, token)
    return templates.TemplateResponse(request, "partials/class_board.html",
                                      {**_board_context(board, sweeps), "notice": notice})


router = APIRouter()
router.include_router(api)
router.include_router(pages)
