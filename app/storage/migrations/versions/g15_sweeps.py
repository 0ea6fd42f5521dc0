"""Hyperparameter sweeps: the sweeps table, and each job's sweep (if it is one's run).

Revision ID: g15_sweeps
Revises: f14_class_scale
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "g15_sweeps"
down_revision = "f14_class_scale"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("nickname", sa.String(32), nullable=True),
        sa.Column("class_code", sa.String(16), nullable=True),
        sa.Column("dataset", sa.String(32), nullable=False),
        sa.Column("architecture", sa.JSON(), nullable=False),
        sa.Column("training", sa.JSON(), nullable=False),
        sa.Column("vary", sa.JSON(), nullable=False),
        sa.Column("runs", sa.JSON(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_sweeps_owner", "sweeps", ["owner"])
    op.create_index("ix_sweeps_class_code", "sweeps", ["class_code"])
    op.create_index("ix_sweeps_created", "sweeps", ["created"])
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("sweep_id", sa.String(32), nullable=True))
    op.create_index("ix_jobs_sweep_id", "jobs", ["sweep_id"])


def downgrade() -> None:
    op.drop_index("ix_jobs_sweep_id", "jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("sweep_id")
    op.drop_index("ix_sweeps_created", "sweeps")
    op.drop_index("ix_sweeps_class_code", "sweeps")
    op.drop_index("ix_sweeps_owner", "sweeps")
    op.drop_table("sweeps")
