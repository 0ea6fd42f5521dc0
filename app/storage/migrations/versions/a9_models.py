"""Models remember where they came from: trained by a job, or uploaded as a .keras file.

Revision ID: a9_models
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "a9_models"
down_revision = "b10_training"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("source", sa.String(16), nullable=False,
                                   server_default="trained"))


def downgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.drop_column("source")
