"""Classes: a class code with its teacher, the learners who joined it, and the nickname and
class carried by their jobs and models.

Revision ID: d12_classes
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "d12_classes"
down_revision = "a9_models"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "classes",
        sa.Column("code", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("teacher", sa.String(64), nullable=False, unique=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("expires", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "learners",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("class_code", sa.String(16), sa.ForeignKey("classes.code"), nullable=False),
        sa.Column("nickname", sa.String(32), nullable=False),
        sa.Column("nickname_key", sa.String(32), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False, unique=True),
        sa.Column("joined", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("class_code", "nickname_key"),
    )
    op.create_index("ix_learners_class_code", "learners", ["class_code"])
    for table in ("jobs", "models"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("nickname", sa.String(32), nullable=True))
            batch.add_column(sa.Column("class_code", sa.String(16), nullable=True))
            batch.create_index(f"ix_{table}_class_code", ["class_code"])


def downgrade() -> None:
    for table in ("models", "jobs"):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(f"ix_{table}_class_code")
            batch.drop_column("class_code")
            batch.drop_column("nickname")
    op.drop_index("ix_learners_class_code", "learners")
    op.drop_table("learners")
    op.drop_table("classes")
