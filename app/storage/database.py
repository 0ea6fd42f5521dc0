"""The database: one engine and session factory per application, from its settings.

A SQLite file under CNNPG_DATA_DIR by default (WAL mode, so the web server and worker
processes read and write at once); any SQLAlchemy URL (e.g. PostgreSQL) via
CNNPG_DATABASE_URL when the server and workers are on different machines. A trained
model is small, so its `.keras` bytes live here too, and no shared disk is needed.
The schema is made and upgraded by migrations (`app/storage/migrate.py`), never by
`create_all`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings


def database_url(settings: Settings) -> str:
    return settings.database_url or f"sqlite:///{settings.data_dir / 'playground.db'}"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(settings: Settings) -> Engine:
    url = database_url(settings)
    if is_sqlite(url):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(conn: Any, _record: Any) -> None:
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


class Database:
    """The engine and its sessions; `session()` reads, `begin()` writes in one transaction."""

    def __init__(self, settings: Settings) -> None:
        self.url = database_url(settings)
        self.engine = make_engine(settings)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        return self._sessions()

    def begin(self) -> Any:  # a context manager yielding a Session, committed on exit
        return self._sessions.begin()

    def dispose(self) -> None:
        self.engine.dispose()
