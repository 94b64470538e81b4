"""The Spam list in storage: numbers whose inbound texts a company does not want to hear from.

It blocks nothing outbound: it is no DNC list, and its tables are ones screening never
reads. The inbound webhook asks `is_spam` about a message's sender. Every change is audited
in the append-only `spam_events`, inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import Row, Select, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from compliance.accounts import Company
from compliance.dnc import require_reason
from compliance.phone import from_key, to_key
from compliance.tables import Page, in_batch, spam_entries, spam_events, stream_last

log = structlog.get_logger("compliance.spam")

_LOGGED_AS = {"add": "spam.added", "remove": "spam.removed"}


@dataclass(frozen=True, slots=True)
class SpamEntry:
    number: str
    reason: str
    added_by: str
    added_at: datetime


@dataclass(frozen=True, slots=True)
class SpamEvent:
    id: int
    at: datetime
    action: str
    number: str
    reason: str
    actor: str


async def add_numbers(
    conn: AsyncConnection,
    company: Company,
    numbers: Sequence[str],
    *,
    reason: str,
    actor: str,
    now: datetime,
) -> list[str]:
    """Put E.164 `numbers` on the company's Spam list; returns those not already on it."""
    keys = sorted({to_key(number) for number in numbers})
    if not keys:
        return []
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(spam_entries).on_conflict_do_nothing().returning(spam_entries.c.number)
    )
    rows = [
        {
            "company_id": company.id,
            "number": key,
            "reason": reason,
            "added_by": actor,
            "added_at": now,
        }
        for key in keys
    ]
    added = sorted((await conn.execute(statement, rows)).scalars().all())
    await _audit(conn, company, "add", added, reason, actor, now)
    return [from_key(key) for key in added]


async def remove_numbers(
    conn: AsyncConnection,
    company: Company,
    numbers: Sequence[str],
    *,
    reason: str,
    actor: str,
    now: datetime,
) -> list[str]:
    """Take numbers off the Spam list, with a reason (RemovalRefused without one); returns
    those that were on it. It lifts no protection, so it needs no can_remove_dnc."""
    require_reason(reason)
    keys = sorted({to_key(number) for number in numbers})
    if not keys:
        return []
    removed = sorted(
        (
            await conn.execute(
                delete(spam_entries)
                .where(
                    spam_entries.c.company_id == company.id,
                    in_batch(spam_entries.c.number, keys, conn.dialect.name),
                )
                .returning(spam_entries.c.number)
            )
        )
        .scalars()
        .all()
    )
    await _audit(conn, company, "remove", removed, reason, actor, now)
    return [from_key(key) for key in removed]


async def _audit(
    conn: AsyncConnection,
    company: Company,
    action: str,
    keys: Sequence[int],
    reason: str,
    actor: str,
    now: datetime,
) -> None:
    if not keys:
        return
    await conn.execute(
        insert(spam_events),
        [
            {
                "company_id": company.id,
                "at": now,
                "action": action,
                "number": key,
                "reason": reason,
                "actor": actor,
            }
            for key in keys
        ],
    )
    for key in keys:
        log.info(
            _LOGGED_AS[action], company=company.name, number=from_key(key), reason=reason, by=actor
        )


async def is_spam(conn: AsyncConnection, company: Company, numbers: Sequence[str]) -> set[str]:
    """Which of the E.164 `numbers` are on the company's Spam list: one query for the batch."""
    keys = {to_key(number): number for number in numbers}
    if not keys:
        return set()
    listed = await conn.execute(
        select(spam_entries.c.number).where(
            spam_entries.c.company_id == company.id,
            in_batch(spam_entries.c.number, list(keys), conn.dialect.name),
        )
    )
    return {keys[key] for key in listed.scalars()}


async def entries(
    conn: AsyncConnection, company: Company, *, limit: int | None = None
) -> Page[SpamEntry]:
    """The company's Spam list, streamed in the order numbers were added; with `limit`, only
    the `limit` added last."""
    query = select(spam_entries).where(spam_entries.c.company_id == company.id)
    order = (spam_entries.c.added_at, spam_entries.c.number)
    page = await stream_last(conn, query, order, limit)
    return Page(rows=(_entry(row) async for row in page.rows), more=page.more)


async def entries_after(
    conn: AsyncConnection, company: Company, *, after: str | None = None, limit: int | None = None
) -> list[SpamEntry]:
    """The company's Spam list in number order, from after the E.164 number `after`, at most
    `limit`: one query."""
    query = (
        select(spam_entries)
        .where(spam_entries.c.company_id == company.id)
        .order_by(spam_entries.c.number)
        .limit(limit)
    )
    if after is not None:
        query = query.where(spam_entries.c.number > to_key(after))
    return [_entry(row) for row in await conn.execute(query)]


def _entry(row: Row) -> SpamEntry:
    return SpamEntry(from_key(row.number), row.reason, row.added_by, row.added_at)


async def events(
    conn: AsyncConnection,
    company: Company,
    *,
    number: str | None = None,
    limit: int | None = None,
) -> Page[SpamEvent]:
    """The Spam list's audit trail, streamed oldest first, optionally for one number; with
    `limit`, only the newest `limit` events."""
    page = await stream_last(conn, _events(company, number), (spam_events.c.id,), limit)
    return Page(rows=(_event(row) async for row in page.rows), more=page.more)


async def events_after(
    conn: AsyncConnection,
    company: Company,
    *,
    number: str | None = None,
    after: int | None = None,
    limit: int | None = None,
) -> list[SpamEvent]:
    """The Spam list's audit trail oldest first (by id), optionally for one number, from
    after the event of id `after`, at most `limit`: one query."""
    query = _events(company, number).order_by(spam_events.c.id).limit(limit)
    if after is not None:
        query = query.where(spam_events.c.id > after)
    return [_event(row) for row in await conn.execute(query)]


def _events(company: Company, number: str | None) -> Select:
    query = select(spam_events).where(spam_events.c.company_id == company.id)
    if number is None:
        return query
    return query.where(spam_events.c.number == to_key(number))


def _event(row: Row) -> SpamEvent:
    return SpamEvent(
        id=row.id,
        at=row.at,
        action=row.action,
        number=from_key(row.number),
        reason=row.reason,
        actor=row.actor,
    )
