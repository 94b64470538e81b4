"""Attempt history in storage: what the gate counts for rolling caps and campaign limits,
and the phases an attempt goes through."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from compliance.accounts import Company
from compliance.dnc import Channel
from compliance.phone import to_key
from compliance.tables import attempts, in_batch


class AttemptPhase(StrEnum):
    """Where an attempt stands. `campaigns.attempts` owns the transitions:
    intent -> placed -> ended, intent -> not_placed, and intent -> unknown -> placed or
    not_placed once the carrier's own records say."""

    INTENT = "intent"  # committed before the carrier is asked
    PLACED = "placed"  # the carrier took it and gave its reference
    UNKNOWN = "unknown"  # the request may have reached the carrier: wait for its word
    NOT_PLACED = "not_placed"  # the carrier refused before placing: not an attempt
    ENDED = "ended"  # the carrier's outcome is recorded


# Phases whose lead must not be tried again until the carrier's word settles them.
OPEN_PHASES = (AttemptPhase.INTENT, AttemptPhase.PLACED, AttemptPhase.UNKNOWN)


def _dialed() -> ColumnElement[bool]:
    """An attempt the carrier refused before placing it was never dialed."""
    return attempts.c.state != AttemptPhase.NOT_PLACED.value


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
