"""The storage schema of companies, users, leads and the DNC registry (SQLAlchemy Core).

Phone numbers are stored as BIGINT keys: the E.164 digits without the '+' (13055550134).
That halves index size against TEXT and keeps batch lookups fast; `phone.from_key` turns a
key back into E.164.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ColumnElement,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Row,
    Select,
    String,
    Table,
    Text,
    UniqueConstraint,
    any_,
    bindparam,
    func,
    literal,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncResult
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC instant on every backend (SQLite has no time zone type)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware instant")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def in_batch(column: ColumnElement, values: Sequence[int], dialect: str) -> ColumnElement[bool]:
    """`column IN values` with one bound parameter whatever the batch size: an array on
    PostgreSQL, a JSON array that SQLite unpacks. A placeholder per value would cost more
    to compile than the lookup itself."""
    if dialect == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(BigInteger)))
    rows = func.json_each(json.dumps(list(values))).table_valued("value")
    return column.in_(select(rows.c.value))


T = TypeVar("T")

# Rows a stream fetches from the driver at a time.
STREAM_BATCH = 1_000


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """A listing's rows, oldest first, streamed; `more`: older rows were left out."""

    rows: AsyncIterator[T]
    more: bool


async def stream_last(
    conn: AsyncConnection, query: Select, order: Sequence[ColumnElement], limit: int | None
) -> Page[Row]:
    """Stream the last `limit` rows of `query` in ascending `order` (every row when None):
    a listing's newest page, oldest first.

    `order` must be unique per row (end it with the id). The page's first row is looked up
    first (a query of the `order` columns only), so that the rows themselves stream from
    the database and memory stays flat however long the listing.
    """
    more = False
    if limit is not None:
        boundary = (
            await conn.execute(
                query.with_only_columns(*order)
                .order_by(*(column.desc() for column in order))
                .offset(limit - 1)
                .limit(2)
            )
        ).all()
        if boundary:
            oldest = [
                literal(value, column.type)
                for column, value in zip(order, boundary[0], strict=True)
            ]
            query = query.where(tuple_(*order) >= tuple_(*oldest))
            more = len(boundary) > 1
    result = await conn.stream(query.order_by(*order).execution_options(yield_per=STREAM_BATCH))
    return Page(rows=_rows(result), more=more)


async def _rows(result: AsyncResult) -> AsyncIterator[Row]:
    # A batch per await: a row per await would cost a switch into the driver per row.
    async for batch in result.partitions():
        for row in batch:
            yield row


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


LIST_NAMES = ("dnc", "dnt")
SOURCES = ("manual", "upload", "status_rule", "ivr", "sms_keyword", "api")
ROLES = ("admin", "manager", "viewer")
EVENT_ACTIONS = ("add", "remove", "lead_channels")
SPAM_ACTIONS = ("add", "remove")
# Where a company's numbers may be unless it says otherwise: the US and the territories whose
# rules and zones the gate knows (config/state_zones.toml). Numbers elsewhere are skipped.
DEFAULT_COUNTRIES = ("AS", "GU", "MP", "PR", "US", "VI")

companies = Table(
    "companies",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("default_region", String(2), nullable=False, server_default="US"),
    Column("created_at", UtcDateTime, nullable=False),
    # Region codes, comma-separated: the countries whose numbers the gate lets through.
    Column("countries", Text, nullable=False, server_default=",".join(DEFAULT_COUNTRIES)),
    # What inbound texts are answered with; NULL: the default, built from the name.
    Column("opt_out_reply", Text),
    Column("help_reply", Text),
    Column("opt_in_reply", Text),
)

# The numbers a company sends from and receives texts on: an inbound message belongs to the
# company owning its To number, so a number belongs to one company at most.
sending_numbers = Table(
    "sending_numbers",
    metadata,
    Column("number", BigInteger, primary_key=True, autoincrement=False),
    Column("company_id", ForeignKey("companies.id"), nullable=False),
    Column("added_at", UtcDateTime, nullable=False),
    Column("added_by", String(200), nullable=False),
    Index(None, "company_id"),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("company_id", ForeignKey("companies.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("can_remove_dnc", Boolean, nullable=False, server_default="0"),
    Column("created_at", UtcDateTime, nullable=False),
    # An argon2id hash (compliance.passwords); NULL: no password, no sign-in (tokens work).
    Column("password_hash", Text),
    Column("password_changed_at", UtcDateTime),
    Column("password_changed_by", String(200)),
    UniqueConstraint("company_id", "name"),
    CheckConstraint(_in("role", ROLES), name="role"),
)

# A bearer token of the REST API acts as one user of its company. Only the SHA-256 of its
# secret is kept (compliance.tokens); a user's tokens go with the user.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("company_id", ForeignKey("companies.id"), nullable=False),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("label", String(200), nullable=False, server_default=""),
    Column("secret_hash", String(64), nullable=False),  # hex
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("expires_at", UtcDateTime),
    Column("revoked_at", UtcDateTime),
    Column("revoked_by", String(200)),
    Column("last_used_at", UtcDateTime),
    Index(None, "company_id"),
    Index(None, "user_id"),
)

# Failed sign-ins, the lockout's memory (compliance.passwords): by the name typed, known
# user or not, and by the address it came from. A success clears its user's rows.
sign_in_failures = Table(
    "sign_in_failures",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("company_id", ForeignKey("companies.id"), nullable=False),
    Column("user_name", String(200), nullable=False),
    Column("address", String(100), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Index(None, "company_id", "user_name", "at"),
    Index(None, "company_id", "address", "at"),
)

# Browser sessions signed out before their cookie expired (compliance.sessions): a cookie
# naming one opens nothing. A row is kept until the cookie would have expired anyway.
ended_sessions = Table(
    "ended_sessions",
    metadata,
    Column("session_id", String(64), primary_key=True),
    Column("expires_at", UtcDateTime, nullable=False),
    Index(None, "expires_at"),
)

# dnc_entries and dnc_events take million-row uploads; they carry no foreign key to
# companies, whose per-row check would double an upload's time on PostgreSQL. Companies
# are never deleted, and every query names its company.
dnc_entries = Table(
    "dnc_entries",
    metadata,
    Column("company_id", Integer, primary_key=True),
    # Number before list: one index probe finds a number on every list.
    Column("number", BigInteger, primary_key=True),
    Column("list_name", String(3), primary_key=True),
    Column("source", String(20), nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("added_by", String(200), nullable=False),
    Column("added_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime),
    CheckConstraint(_in("list_name", LIST_NAMES), name="list_name"),
    CheckConstraint(_in("source", SOURCES), name="source"),
    sqlite_with_rowid=False,  # the primary key is the table: one B-tree per insert
)

leads = Table(
    "leads",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("company_id", ForeignKey("companies.id"), nullable=False),
    Column("lead_list", String(200), nullable=False),
    Column("external_id", String(200)),
    Column("first_name", String(200), nullable=False, server_default=""),
    Column("last_name", String(200), nullable=False, server_default=""),
    Column("phone_raw", String(100), nullable=False),
    Column("phone", BigInteger, nullable=False),
    Column("phone_extension", String(20)),
    Column("email", String(320), nullable=False, server_default=""),
    Column("state", String(2), nullable=False, server_default=""),
    Column("postal_code", String(20), nullable=False, server_default=""),
    Column("timezone", String(64), nullable=False, server_default=""),
    Column("status", String(50), nullable=False, server_default="new"),
    Column("created_at", UtcDateTime, nullable=False),
    # Set only by migration 0009 on leads that repeated a number already in their list: they
    # keep their history but are no member of the list (the lead with this id is).
    Column("duplicate_of", Integer),
    UniqueConstraint("company_id", "external_id"),
    Index(None, "company_id", "phone"),
    # One lead per number in a list: an import reports the others as duplicates.
    Index(
        None,
        "company_id",
        "lead_list",
        "phone",
        unique=True,
        sqlite_where=text("duplicate_of IS NULL"),
        postgresql_where=text("duplicate_of IS NULL"),
    ),
)

lead_dnc = Table(
    "lead_dnc",
    metadata,
    Column("lead_id", ForeignKey("leads.id"), primary_key=True),
    Column("phone", Boolean, nullable=False, server_default="0"),
    Column("sms", Boolean, nullable=False, server_default="0"),
    Column("email", Boolean, nullable=False, server_default="0"),
    Column("reason", Text, nullable=False, server_default=""),
    Column("updated_by", String(200), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# Append-only (triggers refuse UPDATE and DELETE): the audit trail of every DNC change.
dnc_events = Table(
    "dnc_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("company_id", Integer, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("action", String(20), nullable=False),
    Column("list_name", String(3)),
    Column("number", BigInteger),
    Column("lead_id", ForeignKey("leads.id")),
    Column("channels", String(30)),
    Column("source", String(20), nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("actor", String(200), nullable=False),
    CheckConstraint(_in("action", EVENT_ACTIONS), name="action"),
    Index(None, "company_id", "number"),
    # Partial: uploads write millions of events without a lead.
    Index(
        None,
        "company_id",
        "lead_id",
        sqlite_where=text("lead_id IS NOT NULL"),
        postgresql_where=text("lead_id IS NOT NULL"),
    ),
    # Partial: what the campaign report reads of an audit that holds every upload.
    Index(
        None,
        "company_id",
        sqlite_where=text("source = 'status_rule'"),
        postgresql_where=text("source = 'status_rule'"),
    ),
)

# The Spam list: numbers whose inbound texts a company does not want to hear from. Its own
# tables, which screening never reads: the Spam list blocks nothing outbound.
spam_entries = Table(
    "spam_entries",
    metadata,
    Column("company_id", ForeignKey("companies.id"), primary_key=True),
    Column("number", BigInteger, primary_key=True),
    Column("reason", Text, nullable=False, server_default=""),
    Column("added_by", String(200), nullable=False),
    Column("added_at", UtcDateTime, nullable=False),
    Index(None, "company_id", "added_at", "number"),  # `spam list`: the newest first
    sqlite_with_rowid=False,
)

# Append-only (triggers refuse UPDATE and DELETE), as dnc_events: every Spam list change.
spam_events = Table(
    "spam_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("company_id", ForeignKey("companies.id"), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("action", String(10), nullable=False),
    Column("number", BigInteger, nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("actor", String(200), nullable=False),
    CheckConstraint(_in("action", SPAM_ACTIONS), name="action"),
    Index(None, "company_id", "number"),
)

# State emergency blackouts (Louisiana bans telephonic solicitation while a governor-declared
# state of emergency lasts): entered by an operator with the declaration as the source. One
# ended before its declared end keeps that end; the early end is recorded beside it, with who
# entered it, when and why.
blackouts = Table(
    "blackouts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("company_id", ForeignKey("companies.id"), nullable=False),
    Column("state", String(2), nullable=False),
    Column("starts_at", UtcDateTime, nullable=False),
    Column("ends_at", UtcDateTime, nullable=False),
    Column("reason", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("added_by", String(200), nullable=False),
    Column("added_at", UtcDateTime, nullable=False),
    Column("early_end", UtcDateTime),
    Column("ended_by", String(200)),
    Column("ended_at", UtcDateTime),
    Column("end_reason", Text),
    CheckConstraint("ends_at > starts_at", name="period"),
    Index(None, "company_id", "ends_at"),
)

# Every contact attempt placed (its dial intent), whatever the campaign: the gate counts
# them for rolling caps and campaign limits. The engine adds its own columns.
attempts = Table(
    "attempts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("company_id", ForeignKey("companies.id"), nullable=False),
    Column("campaign_id", Integer),
    Column("lead_id", ForeignKey("leads.id")),
    Column("number", BigInteger, nullable=False),
    Column("channel", String(10), nullable=False),
    Column("placed_at", UtcDateTime, nullable=False),
    # The engine's part: the dial intent is committed before the carrier is asked.
    Column("state", String(10), nullable=False, server_default="placed"),  # intent|placed|ended
    Column("carrier_sid", String(64), unique=True),
    Column("carrier_status", String(20)),
    Column("result", String(20)),
    Column("digits", String(20)),
    Column("status", String(50)),
    Column("ended_at", UtcDateTime),
    Column("node", String(100)),
    Index(None, "company_id", "number", "placed_at"),
    Index(None, "campaign_id", "lead_id"),
    Index(None, "lead_id"),  # a lead's page
)
