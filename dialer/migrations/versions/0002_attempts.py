"""Attempts: every contact attempt placed, counted by the gate for caps and limits.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name="fk_attempts_company_id_companies"
        ),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], name="fk_attempts_lead_id_leads"),
        sa.PrimaryKeyConstraint("id", name="pk_attempts"),
    )
    op.create_index(
        "ix_attempts_company_id_number_placed_at",
        "attempts",
        ["company_id", "number", "placed_at"],
    )
    op.create_index("ix_attempts_campaign_id_lead_id", "attempts", ["campaign_id", "lead_id"])


def downgrade() -> None:
    op.drop_table("attempts")
