"""Each company says in which countries its numbers may be: the gate skips the others.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# The US and its territories: what every company could call before.
DEFAULT_COUNTRIES = "AS,GU,MP,PR,US,VI"


def upgrade() -> None:
    op.add_column(
        "companies",
        sa.Column("countries", sa.Text(), nullable=False, server_default=DEFAULT_COUNTRIES),
    )


def downgrade() -> None:
    op.drop_column("companies", "countries")
