"""An index for the report of DNC entries added by status rules.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

STATUS_RULES = sa.text("source = 'status_rule'")


def upgrade() -> None:
    op.create_index(
        "ix_dnc_events_company_id",
        "dnc_events",
        ["company_id"],
        sqlite_where=STATUS_RULES,
        postgresql_where=STATUS_RULES,
    )


def downgrade() -> None:
    op.drop_index("ix_dnc_events_company_id", "dnc_events")
