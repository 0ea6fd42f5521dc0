"""Uploaded datasets: their records (`datasets`) and their arrays (`dataset_arrays`).

Revision ID: c11_datasets
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c11_datasets"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("image_size", sa.Integer(), nullable=False),
        sa.Column("color", sa.String(16), nullable=False),
        sa.Column("fit", sa.String(8), nullable=False),
        sa.Column("test_fraction", sa.Float(), nullable=False),
        sa.Column("on_bad_file", sa.String(8), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("class_names", sa.JSON(), nullable=False),
        sa.Column("train_counts", sa.JSON(), nullable=False),
        sa.Column("test_counts", sa.JSON(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("progress", sa.JSON(), nullable=False),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("updated", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_datasets_owner", "datasets", ["owner"])
    op.create_index("ix_datasets_status", "datasets", ["status"])
    op.create_index("ix_datasets_created", "datasets", ["created"])
    op.create_table(
        "dataset_arrays",
        sa.Column("dataset_id", sa.String(32), primary_key=True),
        sa.Column("npz", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("dataset_arrays")
    op.drop_index("ix_datasets_created", "datasets")
    op.drop_index("ix_datasets_status", "datasets")
    op.drop_index("ix_datasets_owner", "datasets")
    op.drop_table("datasets")
