"""State emergency blackouts.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "blackouts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(2), nullable=False),
        sa.Column("starts_at", INSTANT, nullable=False),
        sa.Column("ends_at", INSTANT, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("added_by", sa.String(200), nullable=False),
        sa.Column("added_at", INSTANT, nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name="ck_blackouts_period"),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name="fk_blackouts_company_id_companies"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_blackouts"),
    )
    op.create_index("ix_blackouts_company_id_ends_at", "blackouts", ["company_id", "ends_at"])


def downgrade() -> None:
    op.drop_table("blackouts")
