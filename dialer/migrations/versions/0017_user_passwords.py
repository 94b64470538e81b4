"""User passwords (an argon2id hash, who changed it and when) and the failed sign-ins
the lockout counts.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("users", sa.Column("password_hash", sa.Text(), nullable=True))
    op.add_column("users", sa.Column("password_changed_at", INSTANT, nullable=True))
    op.add_column("users", sa.Column("password_changed_by", sa.String(200), nullable=True))
    op.create_table(
        "sign_in_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("user_name", sa.String(200), nullable=False),
        sa.Column("address", sa.String(100), nullable=False),
        sa.Column("at", INSTANT, nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name="fk_sign_in_failures_company_id_companies"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sign_in_failures"),
    )
    op.create_index(
        "ix_sign_in_failures_company_id_user_name_at",
        "sign_in_failures",
        ["company_id", "user_name", "at"],
    )
    op.create_index(
        "ix_sign_in_failures_company_id_address_at",
        "sign_in_failures",
        ["company_id", "address", "at"],
    )


def downgrade() -> None:
    op.drop_table("sign_in_failures")
    with op.batch_alter_table("users") as batch:
        for column in ("password_changed_by", "password_changed_at", "password_hash"):
            batch.drop_column(column)
