"""The Spam list: numbers whose inbound texts a company does not want to hear from, with its
append-only audit trail. Tables of their own, which screening never reads.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

INSTANT = sa.DateTime(timezone=True)

APPEND_ONLY_SQLITE = """
CREATE TRIGGER spam_events_no_{op} BEFORE {OP} ON spam_events
BEGIN SELECT RAISE(ABORT, 'spam_events is append-only'); END
"""
APPEND_ONLY_POSTGRESQL = (
    """
    CREATE FUNCTION spam_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'spam_events is append-only'; END $$
    """,
    """
    CREATE TRIGGER spam_events_append_only BEFORE UPDATE OR DELETE ON spam_events
    FOR EACH ROW EXECUTE FUNCTION spam_events_append_only()
    """,
)


def upgrade() -> None:
    op.create_table(
        "spam_entries",
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("added_by", sa.String(200), nullable=False),
        sa.Column("added_at", INSTANT, nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name="fk_spam_entries_company_id_companies"
        ),
        sa.PrimaryKeyConstraint("company_id", "number", name="pk_spam_entries"),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_spam_entries_company_id_added_at_number",
        "spam_entries",
        ["company_id", "added_at", "number"],
    )
    op.create_table(
        "spam_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("at", INSTANT, nullable=False),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.CheckConstraint("action IN ('add', 'remove')", name="ck_spam_events_action"),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name="fk_spam_events_company_id_companies"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_spam_events"),
    )
    op.create_index("ix_spam_events_company_id_number", "spam_events", ["company_id", "number"])
    if op.get_bind().dialect.name == "postgresql":
        for statement in APPEND_ONLY_POSTGRESQL:
            op.execute(statement)
    else:
        for name in ("update", "delete"):
            op.execute(APPEND_ONLY_SQLITE.format(op=name, OP=name.upper()))


def downgrade() -> None:
    op.drop_table("spam_events")
    op.drop_table("spam_entries")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION spam_events_append_only()")
