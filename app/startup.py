"""Before anything starts: a usable data directory, a database that answers and is at this
release's schema (migrated here), and Redis when one is configured.

Each failure is one clear sentence naming the setting to change, not a traceback.
"""

from __future__ import annotations

import sys
import tempfile

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from app.config import Settings, SettingsError, load_settings
from app.storage import migrate
from app.storage.database import database_url, is_sqlite


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


def _shown(url: str) -> str:
    return url.split("@")[-1] if "@" in url else url  # no password in messages


def check_database(settings: Settings, timeout: float = 3.0) -> None:
    url = database_url(settings)
    try:
        if is_sqlite(url):
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
            raise StartupError(f"the database {_shown(url)} is locked by another process; stop "
                               "it, or point CNNPG_DATA_DIR or CNNPG_DATABASE_URL elsewhere") from None
        raise StartupError(f"cannot open the database {_shown(url)} (CNNPG_DATABASE_URL): "
                           f"{reason.strip().splitlines()[0]}") from None
    except (SQLAlchemyError, ImportError) as exc:
        raise StartupError(f"cannot use the database {_shown(url)} (CNNPG_DATABASE_URL): "
                           f"{exc}") from None


def check_redis(settings: Settings) -> None:
    if not settings.redis_url:
        return
    try:
        import redis

        redis.Redis.from_url(settings.redis_url, socket_connect_timeout=3).ping()
    except Exception as exc:
        raise StartupError(f"cannot reach Redis at {settings.redis_url} (CNNPG_REDIS_URL): "
                           f"{exc}") from None


def upgrade_database(settings: Settings) -> migrate.Upgrade:
    url = database_url(settings)
    try:
        return migrate.upgrade(url)
    except migrate.MigrationError as exc:
        raise StartupError(f"cannot upgrade the database {_shown(url)}: {exc}") from None
    except SQLAlchemyError as exc:
        raise StartupError(f"cannot upgrade the database {_shown(url)}: "
                           f"{str(exc).strip().splitlines()[0]}; nothing was changed") from None


def prepare(settings: Settings) -> None:
    """Everything checked, and the database migrated to this release's schema."""
    check_data_dir(settings)
    check_database(settings)
    check_redis(settings)
    upgrade_database(settings)


def settings_or_exit(program: str = "cnn-playground", **overrides: object) -> Settings:
    """For the CLI and `app.main`: the settings, or one line naming the bad variable."""
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        print(f"{program}: error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


def prepare_or_exit(settings: Settings, program: str = "cnn-playground") -> None:
    try:
        prepare(settings)
    except StartupError as exc:
        print(f"{program}: error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
