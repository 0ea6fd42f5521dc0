"""Classes: a teacher's short code, the students who join it with a nickname, and the
teacher's view of everything they train.

No accounts: an administrator (CNNPG_ADMIN_TOKEN) makes a class and gets its code and a
teacher token; a student joins with the code and a nickname and gets an owner token, so
the jobs they submit (and the models those jobs train) carry their nickname (the job
store looks it up at submission). The server keeps only SHA-256 hashes of both tokens.
Nicknames are data: they are shown as text wherever they appear, never as markup.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer

from app.classroom import ownership
from app.classroom.lesson_files import LessonLibrary
from app.classroom.lessons import Lesson
from app.classroom.progress import LessonProgress
from app.config import Settings
from app.errors import Conflict, Forbidden, InvalidInput, LimitExceeded, NotFound
from app.storage.database import Database
from app.storage.tables import ClassRow, JobRow, LearnerRow, ModelRow, utcnow
from app.training.queueing import QueueSpot, with_spots

# No 0/O, 1/I/L: a code read off a projector is typed right the first time.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6
CODE_PATTERN = r"^[A-Za-z0-9]{4,16}$"
NAME_MAX = 80


class ClassNotFound(NotFound):
    def __init__(self, code: str, field: str = "code") -> None:
        super().__init__(field, f"no class with the code {code!r}: check the code on the "
                         "board (letters and digits, no O, I or L)")


class ClassExpired(NotFound):
    """A code whose time is over: nobody may join it any more."""

    def __init__(self, code: str, expired: dt.datetime, field: str = "code") -> None:
        super().__init__(field, f"the class {code} closed on {expired:%Y-%m-%d %H:%M} UTC; "
                         "ask your teacher for a new code")


class NicknameTaken(Conflict):
    """Someone in the class already has this nickname (ignoring case)."""


class ClassFull(LimitExceeded):
    """The class has CNNPG_MAX_CLASS_SIZE learners already."""


class NotTeacher(Forbidden):
    """The token is not this class's teacher token (nor the administrator's)."""


def normalize_code(code: str) -> str:
    return code.strip().upper()


def clean_nickname(raw: str, max_length: int) -> str:
    """A nickname as people will read it: NFC, inner spaces collapsed, trimmed; printable
    characters only, 1 to `max_length` of them."""
    nick = re.sub(r"\s+", " ", unicodedata.normalize("NFC", raw)).strip()
    if not nick:
        raise InvalidInput("nickname", "type a nickname (it is how your teacher will see you)")
    if len(nick) > max_length:
        raise LimitExceeded("nickname", f"{len(nick)} characters is over the limit of "
                            f"{max_length} (CNNPG_MAX_NICKNAME_LENGTH)")
    if any(unicodedata.category(ch)[0] == "C" for ch in nick):
        raise InvalidInput("nickname", "use letters, digits, spaces and punctuation only "
                           "(no control or invisible characters)")
    return nick


def nickname_key(nickname: str) -> str:
    """Two nicknames that differ only in case are the same nickname."""
    return nickname.casefold()


def is_admin(token: str | None, admin_token: str | None) -> bool:
    return bool(admin_token and token
                and hmac.compare_digest(token.encode(), admin_token.encode()))


@dataclass(frozen=True)
class Created:
    code: str
    name: str
    teacher_token: str
    expires: dt.datetime


@dataclass(frozen=True)
class Joined:
    code: str
    class_name: str
    nickname: str
    token: str


@dataclass
class LearnerBoard:
    nickname: str
    joined: dt.datetime
    jobs: list[JobRow] = field(default_factory=list)
    models: list[ModelRow] = field(default_factory=list)
    best_by_dataset: dict[str, float] = field(default_factory=dict)
    lessons: dict[str, list[str]] = field(default_factory=dict)  # lesson id → steps done

    @property
    def best_test_accuracy(self) -> float | None:
        return max(self.best_by_dataset.values(), default=None)


@dataclass(frozen=True)
class Standing:
    rank: int
    nickname: str
    dataset: str
    test_accuracy: float
    model_id: str | None


@dataclass
class Board:
    """What the teacher sees: every learner with their jobs and models, and a leaderboard
    per dataset (each learner's best test accuracy, best first)."""

    klass: ClassRow
    learners: list[LearnerBoard]
    leaderboard: dict[str, list[Standing]]
    max_size: int
    lessons: tuple[Lesson, ...] = ()
    # Every queued job's place and expected start (app/training/queueing.py), by job id.
    spots: dict[str, QueueSpot] = field(default_factory=dict)

    @property
    def expired(self) -> bool:
        return self.klass.expires <= utcnow()


def job_fraction(job: JobRow) -> float:
    """How far a job is, 0 to 1, from its epoch and batch."""
    if job.status == "succeeded":
        return 1.0
    p: dict[str, Any] = job.progress or {}
    epochs = p.get("epochs") or (job.training or {}).get("epochs") or 1
    if not p.get("epoch"):
        return 0.0
    batches = p.get("batches") or 1
    return min(1.0, ((p["epoch"] - 1) + (p.get("batch") or 0) / batches) / epochs)


def ranked(rows: list[Standing]) -> list[Standing]:
    """Best first; equal accuracies share a rank (1, 2, 2, 4)."""
    rows = sorted(rows, key=lambda r: (-r.test_accuracy, nickname_key(r.nickname)))
    out: list[Standing] = []
    for i, r in enumerate(rows):
        rank = out[-1].rank if out and out[-1].test_accuracy == r.test_accuracy else i + 1
        out.append(Standing(rank, r.nickname, r.dataset, r.test_accuracy, r.model_id))
    return out


class Classes:
    """Classes and their learners, in the application's database, with what they learn
    from: the application's lessons (the shipped ones and CNNPG_LESSONS_DIR's) and each
    learner's progress through them."""

    def __init__(self, database: Database, settings: Settings,
                 queue: Callable[[], dict[str, QueueSpot]] | None = None) -> None:
        self.database = database
        self.settings = settings
        self.lessons = LessonLibrary(settings.lessons_dir)
        self.progress = LessonProgress(database)
        self.queue = queue or dict  # the queue's places, when the board has jobs waiting

    # ------------------------------------------------------------ teacher side

    def create(self, name: str, token: str | None) -> Created:
        """A new class with a fresh code; only the administrator's token may make one."""
        if not self.settings.admin_token:
            raise Forbidden("classes are made with the administrator token, and this server "
                            "has none: set CNNPG_ADMIN_TOKEN")
        if not is_admin(token, self.settings.admin_token):
            raise Forbidden("only the administrator (CNNPG_ADMIN_TOKEN, sent as the "
                            f"{ownership.HEADER} header) may make a class"
                            + ("" if token else ": no token was sent"))
        name = re.sub(r"\s+", " ", name).strip()
        if not name:
            raise InvalidInput("name", "give the class a name")
        if any(unicodedata.category(ch)[0] == "C" for ch in name):
            raise InvalidInput("name", "use printable characters only")
        teacher = ownership.new_token()
        now = utcnow()
        expires = now + dt.timedelta(days=self.settings.class_days)
        for _ in range(20):
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            try:
                with self.database.begin() as s:
                    if s.get(ClassRow, code) is not None:
                        continue
                    s.add(ClassRow(code=code, name=name[:NAME_MAX], created=now, expires=expires,
                                   teacher=ownership.owner_hash(teacher)))
            except IntegrityError:  # another request took the code meanwhile
                continue
            return Created(code, name[:NAME_MAX], teacher, expires)
        raise Conflict("could not find a free class code; try again")

    def get(self, code: str, field: str = "path.code") -> ClassRow:
        with self.database.session() as s:
            row = s.get(ClassRow, normalize_code(code))
        if row is None:
            raise ClassNotFound(code, field)
        return row

    def teaches(self, token: str | None) -> ClassRow | None:
        """The class this token is the teacher token of, if any."""
        if not ownership.well_formed(token):
            return None
        with self.database.session() as s:
            return s.scalars(select(ClassRow).where(
                ClassRow.teacher == ownership.owner_hash(token))).first()

    def require_teacher(self, code: str, token: str | None, field: str = "path.code") -> ClassRow:
        """The class, if `token` is its teacher's (or the administrator's); else a refusal
        that says why."""
        row = self.get(code, field)
        if is_admin(token, self.settings.admin_token):
            return row
        if ownership.well_formed(token) and hmac.compare_digest(
                ownership.owner_hash(token), row.teacher):
            return row
        if not token:
            reason = f"no teacher token was sent (the {ownership.HEADER} header)"
        elif (other := self.teaches(token)) is not None:
            reason = f"this is the teacher token of another class ({other.code})"
        elif self.learner(token) is not None:
            reason = "this is a learner's token: only the teacher sees the whole class"
        else:
            reason = "this is not the class's teacher token"
        raise NotTeacher(f"only the teacher of class {row.code} may see its dashboard: {reason}")

    def board(self, code: str, token: str | None, field: str = "path.code") -> Board:
        klass = self.require_teacher(code, token, field)
        def class_jobs() -> list[JobRow]:
            with self.database.session() as s:
                return list(s.scalars(select(JobRow).where(JobRow.class_code == klass.code)
                                      .order_by(JobRow.created.desc())))

        jobs, spots = with_spots(class_jobs, self.queue)
        with self.database.session() as s:
            learners = list(s.scalars(select(LearnerRow).where(
                LearnerRow.class_code == klass.code).order_by(LearnerRow.joined, LearnerRow.id)))
            models = list(s.scalars(select(ModelRow).options(defer(ModelRow.keras_bytes))
                                    .where(ModelRow.class_code == klass.code)
                                    .order_by(ModelRow.created.desc())))
        by_nick = {ln.nickname: LearnerBoard(ln.nickname, ln.joined) for ln in learners}
        lessons = self.lessons.catalog().lessons
        progress = self.progress.by_owner([ln.owner for ln in learners], lessons)
        for ln in learners:
            by_nick[ln.nickname].lessons = progress[ln.owner]
        for job in jobs:
            if job.nickname in by_nick:
                by_nick[job.nickname].jobs.append(job)
        for model in models:
            if model.nickname in by_nick:
                by_nick[model.nickname].models.append(model)
        best: dict[tuple[str, str], tuple[float, str | None]] = {}
        for job in jobs:
            acc = (job.result or {}).get("test_accuracy") if job.status == "succeeded" else None
            if job.nickname not in by_nick or not isinstance(acc, int | float):
                continue
            key = (job.nickname, job.dataset)
            if key not in best or acc > best[key][0]:
                best[key] = (float(acc), (job.result or {}).get("model_id"))
        leaderboard: dict[str, list[Standing]] = {}
        for (nick, dataset), (acc, model_id) in best.items():
            by_nick[nick].best_by_dataset[dataset] = acc
            leaderboard.setdefault(dataset, []).append(Standing(0, nick, dataset, acc, model_id))
        for dataset, rows in leaderboard.items():
            leaderboard[dataset] = ranked(rows)
        return Board(klass, list(by_nick.values()), dict(sorted(leaderboard.items())),
                     self.settings.max_class_size, lessons, spots)

    # ------------------------------------------------------------ learner side

    def join(self, code: str, nickname: str, field: str = "path.code") -> Joined:
        """A new learner in the class, with a fresh owner token that carries the nickname."""
        settings = self.settings
        nick = clean_nickname(nickname, settings.max_nickname_length)
        token = ownership.new_token()
        try:
            with self.database.begin() as s:
                klass = s.get(ClassRow, normalize_code(code), with_for_update=True)
                if klass is None:
                    raise ClassNotFound(code, field)
                if klass.expires <= utcnow():
                    raise ClassExpired(klass.code, klass.expires, field)
                size = s.scalar(select(func.count()).select_from(LearnerRow)
                                .where(LearnerRow.class_code == klass.code)) or 0
                if size >= settings.max_class_size:
                    raise ClassFull("code", f"class {klass.code} is full: it has {size} learners, "
                                    f"the limit is {settings.max_class_size} (CNNPG_MAX_CLASS_SIZE)")
                taken = s.scalar(select(LearnerRow.id).where(
                    LearnerRow.class_code == klass.code,
                    LearnerRow.nickname_key == nickname_key(nick)))
                if taken is not None:
                    raise NicknameTaken(f"someone in class {klass.code} is already called "
                                        f"{nick!r}: pick another nickname")
                s.add(LearnerRow(class_code=klass.code, nickname=nick,
                                 nickname_key=nickname_key(nick), joined=utcnow(),
                                 owner=ownership.owner_hash(token)))
                class_code, class_name = klass.code, klass.name
        except IntegrityError as exc:  # two joined with the same nickname at once
            raise NicknameTaken(f"someone in class {normalize_code(code)} is already called "
                                f"{nick!r}: pick another nickname") from exc
        return Joined(class_code, class_name, nick, token)

    def learner(self, token: str | None) -> LearnerRow | None:
        """The learner this owner token was given to, if it was given by a class."""
        if not ownership.well_formed(token):
            return None
        with self.database.session() as s:
            return s.scalars(select(LearnerRow).where(
                LearnerRow.owner == ownership.owner_hash(token))).first()
