"""A company's sending numbers, and the texts it answers inbound messages with.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

INSTANT = sa.DateTime(timezone=True)
REPLIES = ("opt_out_reply", "help_reply", "opt_in_reply")


def upgrade() -> None:
    op.create_table(
        "sending_numbers",
        sa.Column("number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("added_at", INSTANT, nullable=False),
        sa.Column("added_by", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name="fk_sending_numbers_company_id_companies"
        ),
        sa.PrimaryKeyConstraint("number", name="pk_sending_numbers"),
    )
    op.create_index("ix_sending_numbers_company_id", "sending_numbers", ["company_id"])
    for column in REPLIES:
        op.add_column("companies", sa.Column(column, sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("companies") as batch:
        for column in reversed(REPLIES):
            batch.drop_column(column)
    op.drop_table("sending_numbers")
