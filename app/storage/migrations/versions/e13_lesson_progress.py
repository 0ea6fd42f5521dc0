"""Lesson progress: the steps each learner has done, kept on the server (keyed by the hash
of their owner token) so that a teacher's dashboard shows every student's progress.

Revision ID: e13_lesson_progress
Revises: d12_classes
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "e13_lesson_progress"
down_revision = "d12_classes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lesson_progress",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("lesson", sa.String(64), nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("done", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("owner", "lesson", "step"),
    )
    op.create_index("ix_lesson_progress_owner", "lesson_progress", ["owner"])


def downgrade() -> None:
    op.drop_index("ix_lesson_progress_owner", "lesson_progress")
    op.drop_table("lesson_progress")
