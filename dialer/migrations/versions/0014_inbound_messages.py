"""Inbound texts: every message the carrier posts to /webhooks/sms, stored once by its
MessageSid, with its classification and what was done about it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "inbound_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.Column("message_sid", sa.String(64), nullable=False),
        sa.Column("from_number", sa.BigInteger(), nullable=False),
        sa.Column("to_number", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", INSTANT, nullable=False),
        sa.Column("classification", sa.String(20), nullable=False),
        sa.Column("keyword", sa.Text(), nullable=True),
        sa.Column("spam", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("review", sa.String(10), server_default="none", nullable=False),
        sa.Column("action", sa.Text(), server_default="none", nullable=False),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "review IN ('none', 'pending', 'kept', 'released')", name="ck_inbound_messages_review"
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name="fk_inbound_messages_company_id_companies"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_inbound_messages"),
        sa.UniqueConstraint("message_sid", name="uq_inbound_messages_message_sid"),
    )
    op.create_index(
        "ix_inbound_messages_company_id_received_at",
        "inbound_messages",
        ["company_id", "received_at"],
    )
    op.create_index(
        "ix_inbound_messages_company_id_from_number",
        "inbound_messages",
        ["company_id", "from_number"],
    )


def downgrade() -> None:
    op.drop_table("inbound_messages")
