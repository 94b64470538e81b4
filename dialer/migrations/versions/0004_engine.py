"""The engine's tables: campaign lead queues, attempt outcomes, raw callbacks, the skip log.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("state", sa.String(10), server_default="placed", nullable=False))
        batch.add_column(sa.Column("carrier_sid", sa.String(64), nullable=True))
        batch.add_column(sa.Column("carrier_status", sa.String(20), nullable=True))
        batch.add_column(sa.Column("result", sa.String(20), nullable=True))
        batch.add_column(sa.Column("digits", sa.String(20), nullable=True))
        batch.add_column(sa.Column("status", sa.String(50), nullable=True))
        batch.add_column(sa.Column("ended_at", INSTANT, nullable=True))
        batch.add_column(sa.Column("node", sa.String(100), nullable=True))
        batch.create_unique_constraint("uq_attempts_carrier_sid", ["carrier_sid"])
    op.create_table(
        "campaign_leads",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("due_at", INSTANT, nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_status", sa.String(50), nullable=True),
        sa.Column("outcome", sa.String(50), nullable=True),
        sa.Column("lease_node", sa.String(100), nullable=True),
        sa.Column("lease_until", INSTANT, nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_campaign_leads_campaign_id_campaigns"
        ),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], name="fk_campaign_leads_lead_id_leads"),
        sa.PrimaryKeyConstraint("campaign_id", "lead_id", name="pk_campaign_leads"),
    )
    op.create_index(
        "ix_campaign_leads_campaign_id_state_due_at",
        "campaign_leads",
        ["campaign_id", "state", "due_at"],
    )
    op.create_table(
        "call_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=True),
        sa.Column("carrier_sid", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("received_at", INSTANT, nullable=False),
        sa.ForeignKeyConstraint(
            ["attempt_id"], ["attempts.id"], name="fk_call_events_attempt_id_attempts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_call_events"),
        sa.UniqueConstraint("carrier_sid", "status", name="uq_call_events_carrier_sid_status"),
    )
    op.create_table(
        "skips",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("number", sa.String(40), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(30), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("rule", sa.String(40), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("permanent", sa.Boolean(), nullable=False),
        sa.Column("next_eligible_at", INSTANT, nullable=True),
        sa.Column("decided_at", INSTANT, nullable=False),
        sa.Column("node", sa.String(100), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name="fk_skips_company_id_companies"
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_skips_campaign_id_campaigns"
        ),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], name="fk_skips_lead_id_leads"),
        sa.PrimaryKeyConstraint("id", name="pk_skips"),
    )
    op.create_index(
        "ix_skips_company_id_campaign_id_decided_at",
        "skips",
        ["company_id", "campaign_id", "decided_at"],
    )
    op.create_index("ix_skips_company_id_reason", "skips", ["company_id", "reason"])


def downgrade() -> None:
    op.drop_table("skips")
    op.drop_table("call_events")
    op.drop_table("campaign_leads")
    with op.batch_alter_table("attempts") as batch:
        batch.drop_constraint("uq_attempts_carrier_sid", type_="unique")
        for column in (
            "node",
            "ended_at",
            "status",
            "digits",
            "result",
            "carrier_status",
            "carrier_sid",
            "state",
        ):
            batch.drop_column(column)
