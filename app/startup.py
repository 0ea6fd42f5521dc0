"""Checks before anything starts: a usable data directory and a database that answers.

Each failure is one clear sentence naming the setting to change, not a traceback.
"""

from __future__ import annotations

import sys
import tempfile

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from app.config import Settings
from app.db import database_url


class StartupError(RuntimeError):
    pass


def check_data_dir(settings: Settings) -> None:
    path = settings.data_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise StartupError(f"cannot use the data directory {path} (CNNPG_DATA_DIR): "
                           f"{exc.strerror or exc}; choose a writable directory") from None


def check_database(settings: Settings, timeout: float = 3.0) -> None:
    url = database_url(settings)
    shown = url.split("@")[-1] if "@" in url else url  # no password in messages
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": timeout})
            with engine.connect() as conn:
                conn.exec_driver_sql("BEGIN IMMEDIATE")  # needs the write lock
                conn.exec_driver_sql("ROLLBACK")
        else:
            engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        engine.dispose()
    except OperationalError as exc:
        reason = str(exc.orig) if exc.orig is not None else str(exc)
        if "locked" in reason:
            raise StartupError(f"the database {shown} is locked by another process; stop it, or "
                               "point CNNPG_DATA_DIR or CNNPG_DATABASE_URL elsewhere") from None
        raise StartupError(f"cannot open the database {shown} (CNNPG_DATABASE_URL): "
                           f"{reason.strip().splitlines()[0]}") from None
    except (SQLAlchemyError, ImportError) as exc:
        raise StartupError(f"cannot use the database {shown} (CNNPG_DATABASE_URL): {exc}") from None


def check(settings: Settings) -> None:
    check_data_dir(settings)
    check_database(settings)
    if settings.redis_url:
        try:
            import redis

            redis.Redis.from_url(settings.redis_url, socket_connect_timeout=3).ping()
        except Exception as exc:
            raise StartupError(f"cannot reach Redis at {settings.redis_url} (CNNPG_REDIS_URL): "
                               f"{exc}") from None


def exit_on_failure(settings: Settings, program: str = "cnn-playground") -> None:
    """For the CLI: print the reason and exit 1, instead of a traceback."""
    try:
        check(settings)
    except StartupError as exc:
        print(f"{program}: error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
