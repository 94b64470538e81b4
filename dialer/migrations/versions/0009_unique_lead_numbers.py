"""One lead per number in a list. Earlier imports could add a number to a list again; of
each such group the lowest id stays the list's lead, the others are marked `duplicate_of`
it. Nothing that references a lead is rewritten (attempts, skips and the append-only DNC
audit keep naming the duplicate), but a duplicate's queued campaign rows are retired, and
the channels its own DNC record blocks are blocked on the lead that stays, with an audit
event: whoever asked on either record is not contacted through the other. Attempts and skips
get an index by lead, for a lead's page.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

CHANNELS = ("phone", "sms", "email")
MEMBER = sa.text("duplicate_of IS NULL")
ACTOR = "migration 0009"


def upgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("duplicate_of", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE leads SET duplicate_of = ("
        "  SELECT MIN(k.id) FROM leads k WHERE k.company_id = leads.company_id"
        "  AND k.lead_list = leads.lead_list AND k.phone = leads.phone) "
        "WHERE EXISTS ("
        "  SELECT 1 FROM leads k WHERE k.company_id = leads.company_id"
        "  AND k.lead_list = leads.lead_list AND k.phone = leads.phone AND k.id < leads.id)"
    )
    op.execute(
        "UPDATE campaign_leads SET state = 'done', outcome = 'duplicate' "
        "WHERE state = 'queued' AND lead_id IN "
        "(SELECT id FROM leads WHERE duplicate_of IS NOT NULL)"
    )
    _carry_lead_dnc()
    op.drop_index("ix_leads_company_id_lead_list", table_name="leads")
    op.create_index(
        "ix_leads_company_id_lead_list_phone",
        "leads",
        ["company_id", "lead_list", "phone"],
        unique=True,
        sqlite_where=MEMBER,
        postgresql_where=MEMBER,
    )
    op.create_index("ix_attempts_lead_id", "attempts", ["lead_id"])
    op.create_index("ix_skips_lead_id", "skips", ["lead_id"])


def _carry_lead_dnc() -> None:
    """Block on each kept lead every channel a duplicate of it blocks."""
    bind = op.get_bind()
    blocked = bind.execute(
        sa.text(
            "SELECT d.duplicate_of, d.id, ld.phone, ld.sms, ld.email FROM leads d "
            "JOIN lead_dnc ld ON ld.lead_id = d.id WHERE d.duplicate_of IS NOT NULL "
            "ORDER BY d.duplicate_of, d.id"
        )
    ).all()
    wanted: dict[int, tuple[set[str], list[int]]] = {}
    for keeper, duplicate, *flags in blocked:
        channels = {name for name, on in zip(CHANNELS, flags, strict=True) if on}
        if channels:
            names, sources = wanted.setdefault(keeper, (set(), []))
            names |= channels
            sources.append(duplicate)
    for keeper, (channels, sources) in wanted.items():
        _block(bind, keeper, channels, sources)


def _block(bind: sa.Connection, keeper: int, channels: set[str], sources: list[int]) -> None:
    own = bind.execute(
        sa.text("SELECT phone, sms, email FROM lead_dnc WHERE lead_id = :lead"), {"lead": keeper}
    ).first()
    if own is not None:
        channels = channels | {name for name, on in zip(CHANNELS, own, strict=True) if on}
    lead = bind.execute(
        sa.text("SELECT company_id, phone FROM leads WHERE id = :lead"), {"lead": keeper}
    ).one()
    flags = {name: name in channels for name in CHANNELS}
    reason = "blocked on its duplicate " + ", ".join(f"lead {d}" for d in sources)
    bind.execute(
        sa.text(
            "INSERT INTO lead_dnc (lead_id, phone, sms, email, reason, updated_by, created_at,"
            " updated_at) VALUES (:lead, :phone, :sms, :email, :reason, :actor,"
            " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) ON CONFLICT (lead_id) DO UPDATE SET"
            " phone = :phone, sms = :sms, email = :email, reason = :reason,"
            " updated_by = :actor, updated_at = CURRENT_TIMESTAMP"
        ),
        {"lead": keeper, "reason": reason, "actor": ACTOR, **flags},
    )
    bind.execute(
        sa.text(
            "INSERT INTO dnc_events (company_id, at, action, lead_id, number, channels, source,"
            " reason, actor) VALUES (:company, CURRENT_TIMESTAMP, 'lead_channels', :lead,"
            " :number, :channels, 'manual', :reason, :actor)"
        ),
        {
            "company": lead.company_id,
            "lead": keeper,
            "number": lead.phone,
            "channels": ",".join(name for name in CHANNELS if name in channels),
            "reason": reason,
            "actor": ACTOR,
        },
    )


def downgrade() -> None:
    op.drop_index("ix_skips_lead_id", table_name="skips")
    op.drop_index("ix_attempts_lead_id", table_name="attempts")
    op.drop_index("ix_leads_company_id_lead_list_phone", table_name="leads")
    op.create_index("ix_leads_company_id_lead_list", "leads", ["company_id", "lead_list"])
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("duplicate_of")
