"""Alembic's environment: migrations run on the connection `app.storage.migrate` hands over,
inside its transaction (so an upgrade that fails leaves the database as it was)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from app.storage.tables import Base

config = context.config


def run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:  # the alembic command line, pointed at a URL
    with create_engine(config.get_main_option("sqlalchemy.url") or "").begin() as conn:
        run(conn)
