"""Who is asking (a class member, the administrator, or a visitor), and what they may still
queue and store.

A class is never shut out by visitors: visitors (everyone who is not a learner or teacher
of an open class, nor the administrator) share one small pool of jobs
(CNNPG_VISITOR_JOBS) and one of storage (CNNPG_VISITOR_STORAGE_BYTES), which a new token
does not reset; each class member has their own storage (CNNPG_MEMBER_STORAGE_BYTES); the
server has a total (CNNPG_STORAGE_BYTES). A member's token whose class has closed counts as
a visitor's from then on (what they made stays theirs). Every refusal names the quota,
what it holds, and how to free room.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, select, update

from app.classroom import ownership
from app.classroom.classes import is_admin
from app.config import Settings
from app.errors import Forbidden, QueueFull, TooLarge
from app.storage.database import Database
from app.storage.tables import (
    ClassRow,
    DatasetArraysRow,
    DatasetRow,
    JobRow,
    LearnerRow,
    ModelRow,
    utcnow,
)

Kind = Literal["admin", "teacher", "learner", "visitor"]
MIB = 1024 * 1024


@dataclass(frozen=True)
class Standing:
    """Who a token is: its owner hash (None without one), what it is, and, for a member of
    a class that has closed, that class (they count as a visitor now)."""

    owner: str | None
    kind: Kind
    class_code: str | None = None
    closed_on: dt.datetime | None = None
    closed_code: str | None = None

    @property
    def visitor(self) -> bool:
        return self.kind == "visitor"

    def closed_note(self) -> str:
        if self.closed_on is None:
            return ""
        return (f" Your class {self.closed_code} closed on {self.closed_on:%Y-%m-%d %H:%M} UTC, "
                "so you count as a visitor now; what you made stays yours.")


class StorageFull(TooLarge):
    """A store over its storage quota."""


class VisitorsOnly(Forbidden):
    """This server trains only for class members and the administrator."""


def megabytes(n: int) -> str:
    return f"{n / MIB:.1f} MB"


class Quotas:
    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings

    # ------------------------------------------------------------ who

    def standing(self, token: str | None) -> Standing:
        if is_admin(token, self.settings.admin_token):
            return Standing(ownership.owner_hash(token or ""), "admin")
        if not ownership.well_formed(token):
            return Standing(None, "visitor")
        owner = ownership.owner_hash(token)
        now = utcnow()
        with self.database.session() as s:
            learner = s.scalars(select(LearnerRow).where(LearnerRow.owner == owner)).first()
            code = learner.class_code if learner is not None else None
            klass = (s.get(ClassRow, code) if code is not None else
                     s.scalars(select(ClassRow).where(ClassRow.teacher == owner)).first())
        if klass is None:
            return Standing(owner, "visitor")
        if klass.expires <= now:
            return Standing(owner, "visitor", closed_on=klass.expires, closed_code=klass.code)
        return Standing(owner, "learner" if learner is not None else "teacher", klass.code)

    # ------------------------------------------------------------ jobs

    def require_job_room(self, who: Standing, n: int = 1) -> None:
        """Refuse a visitor's job (or `n`) when visitors may not train, or their pool is
        full."""
        if not who.visitor:
            return
        limit = self.settings.visitor_jobs
        if limit == 0:
            raise VisitorsOnly(
                "this server trains models only for class members and the administrator "
                "(CNNPG_VISITOR_JOBS=0): join a class with its code at /classes. Draw, "
                "Explain and the Kernel Lab stay open to everyone." + who.closed_note())
        with self.database.session() as s:
            active = s.scalar(select(func.count()).select_from(JobRow).where(
                JobRow.visitor.is_(True), JobRow.status.in_(("queued", "running")))) or 0
        if active + n > limit:
            raise QueueFull("queue", f"the visitors' quota is full: visitors (everyone not in "
                            f"an open class) have {active} jobs waiting or training, all "
                            f"together, and the limit is {limit} (CNNPG_VISITOR_JOBS). Wait "
                            "until one of them ends, or join a class." + who.closed_note())

    # ------------------------------------------------------------ storage

    def usage(self, visitor: bool | None = None, owner: str | None = None) -> int:
        """Bytes of stored models and datasets: the visitors' (visitor=True), one member's
        (visitor=False and their owner hash), or everyone's (neither)."""
        models = select(func.coalesce(func.sum(func.length(ModelRow.keras_bytes)), 0))
        data = (select(func.coalesce(func.sum(func.length(DatasetArraysRow.npz)), 0))
                .join(DatasetRow, DatasetRow.id == DatasetArraysRow.dataset_id))
        if visitor is not None:
            models = models.where(ModelRow.visitor.is_(visitor))
            data = data.where(DatasetRow.visitor.is_(visitor))
        if owner is not None:
            models = models.where(ModelRow.owner == owner)
            data = data.where(DatasetRow.owner == owner)
        with self.database.session() as s:
            return int(s.scalar(models) or 0) + int(s.scalar(data) or 0)

    def require_storage(self, who: Standing, incoming: int, what: str, field: str = "file"
                        ) -> None:
        """Refuse to store `incoming` more bytes (`what`: "this model", …) past a quota."""
        s = self.settings
        checks = [(self.usage(), s.storage_bytes, "the server's storage", "CNNPG_STORAGE_BYTES",
                   "ask the administrator to delete models or datasets nobody needs")]
        if who.visitor:
            checks.insert(0, (self.usage(visitor=True), s.visitor_storage_bytes,
                              "the visitors' storage (all visitors together)",
                              "CNNPG_VISITOR_STORAGE_BYTES",
                              "delete models or datasets you made (their pages have a Delete "
                              "button; DELETE /api/models/{id} or /api/datasets/{id} with "
                              "your token), or join a class"))
        elif who.kind != "admin":
            checks.insert(0, (self.usage(visitor=False, owner=who.owner),
                              s.member_storage_bytes, "your storage",
                              "CNNPG_MEMBER_STORAGE_BYTES",
                              "delete models or datasets of yours you no longer need (their "
                              "pages have a Delete button)"))
        for used, limit, name, setting, remedy in checks:
            if used + incoming > limit:
                raise StorageFull(
                    field, f"{name} is full: it holds {megabytes(used)} of {megabytes(limit)} "
                    f"({setting}), and {what} needs about {megabytes(incoming)} more. To free "
                    f"room, {remedy}." + who.closed_note())

    def room_for(self, token: str | None, incoming: int, what: str) -> Standing:
        """Who `token` is, once `incoming` more bytes of theirs are known to fit."""
        who = self.standing(token)
        self.require_storage(who, incoming, what)
        return who

    def mark(self, kind: Literal["model", "dataset"], item_id: str, who: Standing) -> None:
        """Count a stored model or dataset as a visitor's or a member's."""
        table = ModelRow if kind == "model" else DatasetRow
        with self.database.begin() as s:
            s.execute(update(table).where(table.id == item_id).values(visitor=who.visitor))
