"""Schema migrations with Alembic, for SQLite and PostgreSQL.

Run before anything else touches the database: by the web server at start, by each
worker at start, and by `cnn-playground db upgrade`. One upgrade runs at a time (SQLite:
the write lock, taken first; PostgreSQL: an advisory lock), inside one transaction, so
an upgrade that fails leaves the database as it was. A database from release 0.1, which
kept no version, is recognised by its tables and stamped as revision 0001 first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine, create_engine, event, inspect, text

from app.storage.database import is_sqlite

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
RELEASE_0_1 = "0001"
_PG_LOCK = 0x636E6E70  # "cnnp": one advisory lock id for every upgrader of this schema


class MigrationError(RuntimeError):
    """The database cannot be brought to this release's schema; the message says why."""


@dataclass(frozen=True)
class Upgrade:
    before: str | None  # None: an empty database
    after: str
    stamped_release_0_1: bool


def alembic_config(url: str, script_location: Path = MIGRATIONS) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head(script_location: Path = MIGRATIONS) -> str:
    script = ScriptDirectory.from_config(alembic_config("sqlite://", script_location))
    return str(script.get_current_head())


def _engine(url: str) -> Engine:
    if not is_sqlite(url):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 60})

    # pysqlite would commit before each DDL statement; take the transaction (and the write
    # lock, so a second upgrader waits) ourselves, so a failed upgrade rolls back whole.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def current(url: str) -> str | None:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head", script_location: Path = MIGRATIONS) -> Upgrade:
    cfg = alembic_config(url, script_location)
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            if not is_sqlite(url):
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
            before = MigrationContext.configure(conn).get_current_revision()
            stamped = False
            cfg.attributes["connection"] = conn
            if before is None and inspect(conn).has_table("jobs"):
                command.stamp(cfg, RELEASE_0_1)  # release 0.1 made its tables itself
                before, stamped = RELEASE_0_1, True
            command.upgrade(cfg, revision)
            after = MigrationContext.configure(conn).get_current_revision()
    except CommandError as exc:
        if "Can't locate revision" in str(exc):
            raise MigrationError(f"the database is at a revision this release does not know "
                                 f"({exc}); it was upgraded by a newer CNN Playground: run that "
                                 "release, or restore a backup") from None
        raise MigrationError(str(exc)) from None
    finally:
        engine.dispose()
    return Upgrade(before, str(after), stamped)
