"""Each learner's progress through the lessons, kept on the server.

Progress is keyed by the hash of the learner's owner token, the key jobs and models are
recorded under (`app/classroom/ownership.py`), so a class's learners (who got their token
when they joined) are found by it on the teacher's dashboard. A browser without a token
keeps its progress to itself (the lesson page's localStorage).

What makes a step done is decided here, on the server, never by the page alone:
- a step with an exercise: the server found an answer right (`record`, called by the
  checks);
- a step to read (no exercise, no training): the learner moved on from it (`record`);
- a step that trains the lesson's model: a job of the learner's has trained that model on
  the lesson's dataset and succeeded. This is read from the jobs themselves, so it is
  done as soon as the model has trained, wherever it was trained from.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from app.classroom import ownership
from app.classroom.lessons import Lesson, Step
from app.networks.presets import get_preset
from app.storage.database import Database
from app.storage.tables import JobRow, LessonProgressRow, utcnow

Trained = set[tuple[str, str]]  # (model name, dataset) of an owner's succeeded jobs


def trains(step: Step, trained: Trained) -> bool:
    """Whether a Train step is done: the preset's model trained on the preset's dataset
    (the job named after the preset, as the Model Builder names it, or its architecture)."""
    preset = get_preset(step.train or "")
    return preset is not None and (preset.name, preset.dataset) in trained


def steps_done(lesson: Lesson, recorded: Iterable[str], trained: Trained) -> list[str]:
    """The lesson's steps that are done, in the lesson's order."""
    kept = set(recorded)
    return [s.id for s in lesson.steps
            if (trains(s, trained) if s.train else s.id in kept)]


class LessonProgress:
    """The lesson_progress table, and the owners' succeeded jobs for Train steps."""

    def __init__(self, database: Database) -> None:
        self.database = database

    @staticmethod
    def owner_of(token: str | None) -> str | None:
        return ownership.owner_hash(token) if ownership.well_formed(token) else None

    def record(self, token: str | None, lesson: Lesson, step: Step) -> bool:
        """Keep a step as done for this token's owner (nothing without a token)."""
        owner = self.owner_of(token)
        if owner is None or step.train is not None:
            return False
        try:
            with self.database.begin() as s:
                exists = s.scalar(select(LessonProgressRow.id).where(
                    LessonProgressRow.owner == owner, LessonProgressRow.lesson == lesson.id,
                    LessonProgressRow.step == step.id))
                if exists is None:
                    s.add(LessonProgressRow(owner=owner, lesson=lesson.id, step=step.id,
                                            done=utcnow()))
        except IntegrityError:  # the same step recorded twice at once: it is recorded
            pass
        return True

    def clear(self, token: str | None, lesson: Lesson) -> None:
        """Start the lesson over: forget its recorded steps (a trained model stays trained)."""
        owner = self.owner_of(token)
        if owner is None:
            return
        with self.database.begin() as s:
            s.execute(delete(LessonProgressRow).where(LessonProgressRow.owner == owner,
                                                      LessonProgressRow.lesson == lesson.id))

    def done(self, token: str | None, lesson: Lesson) -> list[str]:
        """The steps of the lesson this token's owner has done."""
        owner = self.owner_of(token)
        if owner is None:
            return []
        return self.by_owner([owner], [lesson])[owner][lesson.id]

    def by_owner(self, owners: Sequence[str], lessons: Sequence[Lesson]
                 ) -> dict[str, dict[str, list[str]]]:
        """For each owner (a token's hash), each lesson's done steps."""
        recorded: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        trained: dict[str, Trained] = defaultdict(set)
        if owners:
            with self.database.session() as s:
                rows = s.execute(select(LessonProgressRow.owner, LessonProgressRow.lesson,
                                        LessonProgressRow.step)
                                 .where(LessonProgressRow.owner.in_(owners)))
                for owner, lesson_id, step_id in rows:
                    recorded[owner][lesson_id].add(step_id)
                jobs = s.execute(select(JobRow.owner, JobRow.name, JobRow.architecture,
                                        JobRow.dataset)
                                 .where(JobRow.owner.in_(owners), JobRow.status == "succeeded"))
                for owner, name, architecture, dataset in jobs:
                    trained[owner].add((name, dataset))
                    if isinstance(architecture, dict) and isinstance(architecture.get("name"), str):
                        trained[owner].add((architecture["name"], dataset))
        return {owner: {x.id: steps_done(x, recorded[owner][x.id], trained[owner])
                        for x in lessons} for owner in owners}
