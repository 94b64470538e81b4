"""Storage of campaigns and of each company's call statuses (SQLAlchemy Core).

Definitions are kept as the TOML text the manager gave: the one source of truth, parsed
and checked again whenever it is read.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from compliance.tables import UtcDateTime, _in, metadata

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("company_id", ForeignKey("companies.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("state", String(20), nullable=False),
    Column("definition", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("company_id", "name"),
)

status_books = Table(
    "status_books",
    metadata,
    Column("company_id", ForeignKey("companies.id"), primary_key=True),
    Column("definition", Text, nullable=False),
    Column("loaded_by", String(200), nullable=False),
    Column("loaded_at", UtcDateTime, nullable=False),
)

# A campaign's lead queue: one row per lead of the campaign's list. The engine claims due
# rows with a lease (node, until) so that several engine processes never take the same lead.
campaign_leads = Table(
    "campaign_leads",
    metadata,
    Column("campaign_id", ForeignKey("campaigns.id"), primary_key=True),
    Column("lead_id", ForeignKey("leads.id"), primary_key=True),
    Column("state", String(10), nullable=False),  # queued | claimed | in_flight | done
    Column("due_at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_status", String(50)),
    Column("outcome", String(50)),
    Column("lease_node", String(100)),
    Column("lease_until", UtcDateTime),
    Index(None, "campaign_id", "state", "due_at"),
)

# Every raw carrier callback, stored before it is applied: callbacks come at least once and
# out of order, so they are deduplicated here and applied monotonically.
call_events = Table(
    "call_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("attempt_id", ForeignKey("attempts.id")),
    Column("carrier_sid", String(64), nullable=False),
    Column("status", String(20), nullable=False),
    Column("params", Text, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    UniqueConstraint("carrier_sid", "status"),
)

# The skip log: every attempt the gate refused, with all its reasons.
skips = Table(
    "skips",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("company_id", ForeignKey("companies.id"), nullable=False),
    Column("campaign_id", ForeignKey("campaigns.id")),
    Column("lead_id", ForeignKey("leads.id")),
    Column("number", String(40), nullable=False),  # E.164, or the input when invalid
    Column("channel", String(10), nullable=False),
    Column("reason", String(30), nullable=False),  # the first failing rule's code
    Column("reasons", Text, nullable=False),  # JSON: every failing code, first first
    Column("rule", String(40), nullable=False),
    Column("detail", Text, nullable=False),  # JSON: every failing rule with its detail
    Column("permanent", Boolean, nullable=False),
    Column("next_eligible_at", UtcDateTime),
    Column("decided_at", UtcDateTime, nullable=False),
    Column("node", String(100), nullable=False),
    Index(None, "company_id", "campaign_id", "decided_at"),
    Index(None, "company_id", "reason"),
    Index(None, "lead_id"),  # a lead's page
)

# Several engine nodes coordinate through the next two tables (see dialer.scheduling). They
# live here because this module assembles the one metadata the migrations compare against.

# Every engine process registers itself under a random id and refreshes its heartbeat; a
# lease is judged by its holder's heartbeat, never by a pid that means nothing elsewhere.
nodes = Table(
    "nodes",
    metadata,
    Column("node_id", String(100), primary_key=True),
    Column("hostname", String(255), nullable=False),
    Column("pid", Integer, nullable=False),  # for people reading the table, never for liveness
    Column("started_at", UtcDateTime, nullable=False),
    Column("heartbeat_at", UtcDateTime, nullable=False),
    Column("stopped_at", UtcDateTime),
    Column("version", String(40)),  # the dialer it runs; NULL for rows from before 0019
)

# Who paces each campaign in the current interval: one node ticks a campaign per interval.
campaign_ticks = Table(
    "campaign_ticks",
    metadata,
    Column("campaign_id", ForeignKey("campaigns.id"), primary_key=True),
    Column("node_id", String(100), nullable=False),
    Column("acquired_at", UtcDateTime, nullable=False),
    Column("acquired_until", UtcDateTime, nullable=False),
)

REVIEW_STATES = ("none", "pending", "kept", "released")

# Every text the carrier posts to /webhooks/sms, once by its MessageSid (campaigns.inbound).
# company_id is NULL for a message to a number no company owns.
inbound_messages = Table(
    "inbound_messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("company_id", ForeignKey("companies.id")),
    Column("message_sid", String(64), nullable=False, unique=True),
    Column("from_number", BigInteger, nullable=False),
    Column("to_number", BigInteger, nullable=False),
    Column("body", Text, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("classification", String(20), nullable=False),
    Column("keyword", Text),  # what decided the classification, as the rule data writes it
    Column("spam", Boolean, nullable=False, server_default="0"),
    Column("review", String(10), nullable=False, server_default="none"),
    Column("action", Text, nullable=False, server_default="none"),  # what was done
    Column("reply", Text),  # the text answered, NULL for none
    # Who kept or released a message waiting for review, when, and why (NULL until then).
    Column("reviewed_by", String(200)),
    Column("reviewed_at", UtcDateTime),
    Column("review_reason", Text),
    CheckConstraint(_in("review", REVIEW_STATES), name="review"),
    Index(None, "company_id", "received_at"),
    Index(None, "company_id", "from_number"),
)

# What the REST API answered a POST carrying an Idempotency-Key (dialer.api.idempotency),
# per company and key: a retry gets the same answer and changes nothing more. `status` is
# NULL while the first request is under way.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("company_id", ForeignKey("companies.id"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),  # hex SHA-256 of the request
    Column("status", Integer),
    Column("body", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Index(None, "created_at"),
)
