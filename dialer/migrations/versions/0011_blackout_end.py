"""A blackout can be ended before its declared end: when, by whom, when entered, and why.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("blackouts", sa.Column("early_end", INSTANT, nullable=True))
    op.add_column("blackouts", sa.Column("ended_by", sa.String(200), nullable=True))
    op.add_column("blackouts", sa.Column("ended_at", INSTANT, nullable=True))
    op.add_column("blackouts", sa.Column("end_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("blackouts") as batch:
        for column in ("end_reason", "ended_at", "ended_by", "early_end"):
            batch.drop_column(column)
