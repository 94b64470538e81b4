"""Initial schema: companies, users, leads, lead channel DNC, the DNC registry and its audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UTC_INSTANT = sa.DateTime(timezone=True)

APPEND_ONLY_SQLITE = """
CREATE TRIGGER dnc_events_no_{op} BEFORE {OP} ON dnc_events
BEGIN SELECT RAISE(ABORT, 'dnc_events is append-only'); END
"""
APPEND_ONLY_POSTGRESQL = (
    """
    CREATE FUNCTION dnc_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'dnc_events is append-only'; END $$
    """,
    """
    CREATE TRIGGER dnc_events_append_only BEFORE UPDATE OR DELETE ON dnc_events
    FOR EACH ROW EXECUTE FUNCTION dnc_events_append_only()
    """,
)


def upgrade() -> None:
    op.create_table(
        "companies",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("default_region", sa.String(2), server_default="US", nullable=False),
        sa.Column("created_at", UTC_INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_companies"),
        sa.UniqueConstraint("name", name="uq_companies_name"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("can_remove_dnc", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("created_at", UTC_INSTANT, nullable=False),
        sa.CheckConstraint("role IN ('admin', 'manager', 'viewer')", name="ck_users_role"),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name="fk_users_company_id_companies"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("company_id", "name", name="uq_users_company_id_name"),
    )
    op.create_table(
        "dnc_entries",
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("list_name", sa.String(3), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("added_by", sa.String(200), nullable=False),
        sa.Column("added_at", UTC_INSTANT, nullable=False),
        sa.Column("expires_at", UTC_INSTANT, nullable=True),
        sa.CheckConstraint("list_name IN ('dnc', 'dnt')", name="ck_dnc_entries_list_name"),
        sa.CheckConstraint(
            "source IN ('manual', 'upload', 'status_rule', 'ivr', 'sms_keyword', 'api')",
            name="ck_dnc_entries_source",
        ),
        sa.PrimaryKeyConstraint("company_id", "number", "list_name", name="pk_dnc_entries"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "leads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("lead_list", sa.String(200), nullable=False),
        sa.Column("external_id", sa.String(200), nullable=True),
        sa.Column("first_name", sa.String(200), server_default="", nullable=False),
        sa.Column("last_name", sa.String(200), server_default="", nullable=False),
        sa.Column("phone_raw", sa.String(100), nullable=False),
        sa.Column("phone", sa.BigInteger(), nullable=False),
        sa.Column("phone_extension", sa.String(20), nullable=True),
        sa.Column("email", sa.String(320), server_default="", nullable=False),
        sa.Column("state", sa.String(2), server_default="", nullable=False),
        sa.Column("postal_code", sa.String(20), server_default="", nullable=False),
        sa.Column("timezone", sa.String(64), server_default="", nullable=False),
        sa.Column("status", sa.String(50), server_default="new", nullable=False),
        sa.Column("created_at", UTC_INSTANT, nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name="fk_leads_company_id_companies"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_leads"),
        sa.UniqueConstraint("company_id", "external_id", name="uq_leads_company_id_external_id"),
    )
    op.create_index("ix_leads_company_id_lead_list", "leads", ["company_id", "lead_list"])
    op.create_index("ix_leads_company_id_phone", "leads", ["company_id", "phone"])
    op.create_table(
        "lead_dnc",
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("sms", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("email", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTC_INSTANT, nullable=False),
        sa.Column("updated_at", UTC_INSTANT, nullable=False),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], name="fk_lead_dnc_lead_id_leads"),
        sa.PrimaryKeyConstraint("lead_id", name="pk_lead_dnc"),
    )
    op.create_table(
        "dnc_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("at", UTC_INSTANT, nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("list_name", sa.String(3), nullable=True),
        sa.Column("number", sa.BigInteger(), nullable=True),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("channels", sa.String(30), nullable=True),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.CheckConstraint(
            "action IN ('add', 'remove', 'lead_channels')", name="ck_dnc_events_action"
        ),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], name="fk_dnc_events_lead_id_leads"),
        sa.PrimaryKeyConstraint("id", name="pk_dnc_events"),
    )
    op.create_index("ix_dnc_events_company_id_number", "dnc_events", ["company_id", "number"])
    op.create_index(
        "ix_dnc_events_company_id_lead_id",
        "dnc_events",
        ["company_id", "lead_id"],
        sqlite_where=sa.text("lead_id IS NOT NULL"),
        postgresql_where=sa.text("lead_id IS NOT NULL"),
    )
    _make_events_append_only()


def _make_events_append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in APPEND_ONLY_POSTGRESQL:
            op.execute(statement)
    else:
        for name in ("update", "delete"):
            op.execute(APPEND_ONLY_SQLITE.format(op=name, OP=name.upper()))


def downgrade() -> None:
    for table in ("dnc_events", "lead_dnc", "leads", "dnc_entries", "users", "companies"):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION dnc_events_append_only()")
