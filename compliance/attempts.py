"""Attempt history in storage: what the gate counts for rolling caps and campaign limits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from compliance.accounts import Company
from compliance.dnc import Channel
from compliance.phone import to_key
from compliance.tables import attempts, in_batch

# The status of an attempt whose dial intent was committed but never reached the carrier.
ABANDONED = "ABANDONED"


async def record_intents(
    conn: AsyncConnection,
    company: Company,
    contacts: Sequence[tuple[int | None, str]],
    channel: Channel,
    placed_at: datetime,
    *,
    campaign_id: int | None = None,
    node: str | None = None,
) -> list[int]:
    """Remember attempts about to be placed, one per (lead id, E.164 number): the dial
    intent that is committed before the carrier is asked. Returns their ids, in order."""
    if not contacts:
        return []
    result = await conn.execute(
        insert(attempts).returning(attempts.c.id, sort_by_parameter_order=True),
        [
            {
                "company_id": company.id,
                "campaign_id": campaign_id,
                "lead_id": lead_id,
                "number": to_key(number),
                "channel": channel.value,
                "placed_at": placed_at,
                "state": "intent",
                "node": node,
            }
            for lead_id, number in contacts
        ],
    )
    return list(result.scalars())


def _dialed() -> ColumnElement[bool]:
    """Attempts abandoned before reaching the carrier (a crash) were never dialed."""
    return or_(attempts.c.status.is_(None), attempts.c.status != ABANDONED)


async def recent_attempts(
    conn: AsyncConnection, company: Company, numbers: Sequence[str], since: datetime
) -> dict[str, list[tuple[datetime, Channel]]]:
    """Attempts to each E.164 number after `since`, by any campaign; one query per batch."""
    keys = {to_key(number): number for number in numbers}
    if not keys:
        return {}
    rows = await conn.execute(
        select(attempts.c.number, attempts.c.placed_at, attempts.c.channel).where(
            attempts.c.company_id == company.id,
            in_batch(attempts.c.number, list(keys), conn.dialect.name),
            attempts.c.placed_at > since,
            _dialed(),
        )
    )
    found: dict[str, list[tuple[datetime, Channel]]] = {}
    for key, placed_at, channel in rows:
        found.setdefault(keys[key], []).append((placed_at, Channel(channel)))
    return found


async def campaign_attempt_counts(
    conn: AsyncConnection, pairs: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], int]:
    """Attempts so far per (campaign id, lead id); one query per batch."""
    wanted = set(pairs)
    if not wanted:
        return {}
    campaign_ids = sorted({campaign_id for campaign_id, _ in wanted})
    lead_ids = sorted({lead_id for _, lead_id in wanted})
    rows = await conn.execute(
        select(attempts.c.campaign_id, attempts.c.lead_id, func.count())
        .where(
            attempts.c.campaign_id.in_(campaign_ids),  # a batch holds one campaign or a few
            in_batch(attempts.c.lead_id, lead_ids, conn.dialect.name),
            _dialed(),
        )
        .group_by(attempts.c.campaign_id, attempts.c.lead_id)
    )
    return {(c, lead): count for c, lead, count in rows if (c, lead) in wanted}
