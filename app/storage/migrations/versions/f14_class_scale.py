"""Class scale: visitors and members told apart (jobs, models, datasets), and the workers
that train jobs in turn.

Rows written before this release are marked as a visitor's unless their owner is a
class's learner (or, for jobs and models, they carry a class), so that the visitors'
quotas count what visitors stored.

Revision ID: f14_class_scale
Revises: e13_lesson_progress
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "f14_class_scale"
down_revision = "e13_lesson_progress"
branch_labels = None
depends_on = None

LEARNER = "EXISTS (SELECT 1 FROM learners WHERE learners.owner = {table}.owner)"


def upgrade() -> None:
    for table in ("jobs", "models", "datasets"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("visitor", sa.Boolean(), nullable=False,
                                       server_default=sa.false()))
    for table in ("jobs", "models"):
        op.execute(f"UPDATE {table} SET visitor = NOT (class_code IS NOT NULL OR "
                   f"{LEARNER.format(table=table)})")
    op.execute(f"UPDATE datasets SET visitor = NOT {LEARNER.format(table='datasets')}")
    op.create_table(
        "workers",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("slots", sa.Integer(), nullable=False),
        sa.Column("device", sa.String(128), nullable=False),
        sa.Column("started", sa.DateTime(), nullable=False),
        sa.Column("seen", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_workers_seen", "workers", ["seen"])


def downgrade() -> None:
    op.drop_index("ix_workers_seen", "workers")
    op.drop_table("workers")
    for table in ("datasets", "models", "jobs"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("visitor")
