"""Timelapse frames of training jobs (issue 10): kernels and probe maps per epoch.

Revision ID: b10_training
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "b10_training"
down_revision = "c11_datasets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_frames",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(32), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("val_accuracy", sa.Float(), nullable=True),
        sa.Column("arrays", sa.LargeBinary(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("job_id", "epoch", name="uq_job_frames_job_epoch"),
    )
    op.create_index("ix_job_frames_job_id", "job_frames", ["job_id"])


def downgrade() -> None:
    op.drop_index("ix_job_frames_job_id", table_name="job_frames")
    op.drop_table("job_frames")
