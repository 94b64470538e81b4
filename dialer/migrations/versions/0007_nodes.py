"""Engine nodes with heartbeats, and per-campaign tick leases.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "nodes",
        sa.Column("node_id", sa.String(100), nullable=False),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", INSTANT, nullable=False),
        sa.Column("heartbeat_at", INSTANT, nullable=False),
        sa.Column("stopped_at", INSTANT, nullable=True),
        sa.PrimaryKeyConstraint("node_id", name="pk_nodes"),
    )
    op.create_table(
        "campaign_ticks",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.String(100), nullable=False),
        sa.Column("acquired_at", INSTANT, nullable=False),
        sa.Column("acquired_until", INSTANT, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_campaign_ticks_campaign_id_campaigns"
        ),
        sa.PrimaryKeyConstraint("campaign_id", name="pk_campaign_ticks"),
    )


def downgrade() -> None:
    op.drop_table("campaign_ticks")
    op.drop_table("nodes")
