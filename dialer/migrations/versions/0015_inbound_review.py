"""An inbound text's review: who kept or released it, when, and why.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("inbound_messages", sa.Column("reviewed_by", sa.String(200), nullable=True))
    op.add_column("inbound_messages", sa.Column("reviewed_at", INSTANT, nullable=True))
    op.add_column("inbound_messages", sa.Column("review_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbound_messages") as batch:
        for column in ("review_reason", "reviewed_at", "reviewed_by"):
            batch.drop_column(column)
