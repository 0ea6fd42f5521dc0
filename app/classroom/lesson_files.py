"""Lesson files: one YAML file per lesson, read and checked into `Lesson` models.

Why YAML: a lesson is mostly prose (paragraphs, prompts, hints) around a little structure
(steps, a Kernel Lab state, the layers an exercise expects). YAML holds both the way a
teacher would write them by hand: paragraphs as plain text or folded blocks (`>`), layers
as the same JSON-like mappings the API takes, comments where they help. PyYAML (safe
loading only: no tags, no objects) also gives every value's line, so a mistake is
reported at its line, whether YAML itself cannot read it or the `Lesson` model refuses a
field. (TOML reads prose less well and gives no lines for values; Markdown with front
matter would put the steps' structure in headings and lists, which is harder to check.)

The four shipped lessons live in `shipped_lessons/` beside this module (they travel in
the wheel). A teacher may add their own in a folder named by `CNNPG_LESSONS_DIR`: every
`*.yaml`/`*.yml` file in it is read, in the order of the file names, after the shipped
lessons. The folder is read again when a file in it changes, so a teacher sees an edit
on the next page load. A file that cannot be used never stops the server: it becomes a
`LessonProblem` (the file, the line, the reason), which the lessons page lists, and the
other lessons work.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from pydantic import ValidationError

from app.classroom.lessons import Exercise, Lesson, Step

SHIPPED_DIR = Path(__file__).with_name("shipped_lessons")
SUFFIXES = (".yaml", ".yml")
MAX_FILE_BYTES = 256 * 1024
MAX_FILES = 200
MAX_PROBLEMS_PER_FILE = 5


@dataclass(frozen=True)
class LessonProblem:
    """Why a lesson file was left out: its name, the line (1-based, when known), and the
    reason, with the field's path where the lesson model refused one."""

    file: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}, line {self.line}" if self.line else self.file
        return f"{where}: {self.reason}"


class LessonFileError(Exception):
    def __init__(self, problems: list[LessonProblem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


# ---------------------------------------------------------------- one file


def _node_at(root: Any, path: Sequence[str | int]) -> Any:
    """The YAML node at a field path, or the deepest one on the way that exists."""
    node = root
    for part in path:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if getattr(k, "value", None) == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        if child is None:
            break
        node = child
    return node


def _path(error: Any) -> list[str | int]:
    """A pydantic error's place as keys and indexes of the file (a validator's own `at`,
    "answer.2.filters", continues it)."""
    path: list[str | int] = [p for p in error["loc"] if not str(p)[:1].isupper()]
    at = (error.get("ctx") or {}).get("at") if error["type"] == "lesson" else None
    for part in str(at or "").split(".") if at else ():
        path.append(int(part) if part.isdigit() else part)
    return path


def _reason(error: Any, path: list[str | int]) -> str:
    message = error["ctx"]["message"] if error["type"] == "lesson" else error["msg"]
    where = ".".join(str(p) for p in path)
    message = str(message).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def _worth_saying(errors: list[Any]) -> list[Any]:
    """The errors, less "too short" for a list whose only items were refused (their own
    errors say why)."""
    locs = [tuple(e["loc"]) for e in errors]
    return [e for e in errors if not (e["type"] == "too_short" and any(
        len(other) > len(e["loc"]) and other[:len(e["loc"])] == tuple(e["loc"])
        for other in locs))]


def read_lesson(text: str, file: str) -> Lesson:
    """A lesson from a file's text; `LessonFileError` names each problem with its line."""
    try:
        loader = yaml.SafeLoader(text)
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise LessonFileError([LessonProblem(file, mark.line + 1 if mark else None,
                                             f"not valid YAML: {reason}")]) from None
    except yaml.YAMLError as exc:
        raise LessonFileError([LessonProblem(file, None, f"not valid YAML: {exc}")]) from None
    if not isinstance(data, dict):
        raise LessonFileError([LessonProblem(file, 1, "a lesson file is a mapping of fields "
                                             "(id, title, kind, source, summary, preset, steps)")])
    try:
        return Lesson.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in _worth_saying(exc.errors(include_url=False))[:MAX_PROBLEMS_PER_FILE]:
            path = _path(error)
            node = _node_at(root, path)
            problems.append(LessonProblem(file, node.start_mark.line + 1, _reason(error, path)))
        raise LessonFileError(problems) from None


def read_text(path: Path, name: str) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise LessonFileError([LessonProblem(name, None, f"{size:,} bytes is over the "
                                                 f"limit of {MAX_FILE_BYTES:,} for a lesson")])
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise LessonFileError([LessonProblem(name, None, f"not UTF-8 text ({exc.reason})")]) from None
    except OSError as exc:
        raise LessonFileError([LessonProblem(name, None, f"cannot be read: {exc.strerror}")]) from None


def lesson_paths(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.suffix in SUFFIXES and not p.name.startswith(".") and p.is_file())


def read_folder(folder: Path, taken: set[str]) -> tuple[list[Lesson], list[LessonProblem]]:
    """Every lesson file of a folder, in the order of their names, and the problems; a
    lesson whose id is in `taken` (or in an earlier file) is a problem too."""
    lessons: list[Lesson] = []
    problems: list[LessonProblem] = []
    try:
        paths = lesson_paths(folder)
    except OSError as exc:
        return [], [LessonProblem(str(folder), None, "CNNPG_LESSONS_DIR cannot be read: "
                                  f"{exc.strerror or exc}")]
    if len(paths) > MAX_FILES:
        problems.append(LessonProblem(str(folder), None, f"{len(paths)} lesson files; only the "
                                      f"first {MAX_FILES} are read"))
    for path in paths[:MAX_FILES]:
        try:
            text = read_text(path, path.name)
            lesson = read_lesson(text, path.name)
        except LessonFileError as exc:
            problems.extend(exc.problems)
            continue
        if lesson.id in taken:
            line = next((i + 1 for i, row in enumerate(text.splitlines())
                         if row.startswith("id:")), None)
            problems.append(LessonProblem(path.name, line, f"id: another lesson is already "
                                          f"called {lesson.id!r}; give this one its own id"))
            continue
        taken.add(lesson.id)
        lessons.append(lesson)
    return lessons, problems


# ---------------------------------------------------------------- the catalog


@dataclass(frozen=True)
class Catalog:
    """The lessons one application offers, and the files it had to leave out."""

    lessons: tuple[Lesson, ...]
    problems: tuple[LessonProblem, ...] = ()
    _by_id: dict[str, Lesson] = field(default_factory=dict, repr=False)
    _exercises: dict[str, tuple[Lesson, Step, Exercise]] = field(default_factory=dict,
                                                                  repr=False)

    @classmethod
    def of(cls, lessons: Sequence[Lesson], problems: Sequence[LessonProblem] = ()) -> Catalog:
        by_id = {x.id: x for x in lessons}
        exercises = {s.exercise.id: (x, s, s.exercise) for x in lessons for s in x.steps
                     if s.exercise is not None}
        return cls(tuple(lessons), tuple(problems), by_id, exercises)

    def get(self, lesson_id: str) -> Lesson | None:
        return self._by_id.get(lesson_id)

    def exercise(self, exercise_id: str) -> tuple[Lesson, Step, Exercise] | None:
        return self._exercises.get(exercise_id)


@cache
def _shipped() -> tuple[tuple[Lesson, ...], tuple[LessonProblem, ...]]:
    lessons, problems = read_folder(SHIPPED_DIR, set())
    return tuple(lessons), tuple(problems)


def shipped_lessons() -> tuple[Lesson, ...]:
    """The lessons this release ships (read once per process)."""
    return _shipped()[0]


class LessonLibrary:
    """An application's lessons: the shipped ones, then the teacher's (`CNNPG_LESSONS_DIR`),
    read again whenever a file in that folder is added, removed or changed."""

    def __init__(self, lessons_dir: Path | None) -> None:
        self.lessons_dir = lessons_dir
        self._lock = threading.Lock()
        self._signature: object = None
        self._catalog: Catalog | None = None

    def _signature_now(self) -> object:
        if self.lessons_dir is None:
            return None
        try:
            return tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size)
                         for p in lesson_paths(self.lessons_dir))
        except OSError as exc:
            return ("unreadable", str(exc))

    def catalog(self) -> Catalog:
        signature = self._signature_now()
        with self._lock:
            if self._catalog is None or signature != self._signature:
                self._catalog = self._read()
                self._signature = signature
            return self._catalog

    def _read(self) -> Catalog:
        shipped, problems = _shipped()
        if self.lessons_dir is None:
            return Catalog.of(shipped, problems)
        extra, more = read_folder(self.lessons_dir, {x.id for x in shipped})
        return Catalog.of([*shipped, *extra], [*problems, *more])
