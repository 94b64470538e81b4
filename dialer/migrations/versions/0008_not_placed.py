"""Attempts abandoned after a crash become `not_placed`: the phase of an attempt the carrier
never placed, which the gate does not count.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE attempts SET state = 'not_placed', result = 'not_placed', status = NULL "
        "WHERE status = 'ABANDONED'"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE attempts SET state = 'ended', status = 'ABANDONED', result = NULL "
        "WHERE state = 'not_placed'"
    )
