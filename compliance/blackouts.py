"""State emergency blackouts: no solicitation call or text to a state while one lasts.

Louisiana bans telephonic solicitation, texts included, while a governor-declared state of
emergency lasts (La. R.S. 45:844.31; reference S-EMERG). Declarations come and go, so they
are entered by an operator, each with its source, and the gate reads them on every batch:
one entered while a campaign runs applies to its next attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from compliance import registry
from compliance.accounts import Company
from compliance.tables import blackouts
from compliance.zones import US_CODES

log = structlog.get_logger("compliance.blackouts")


@dataclass(frozen=True, slots=True)
class Blackout:
    """No solicitation to `state` from `starts_at` until `ends_at` (exclusive)."""

    state: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    source: str

    def covers(self, states: tuple[str, ...], at: datetime) -> bool:
        return self.state in states and self.starts_at <= at < self.ends_at


class InvalidBlackout(ValueError):
    """A blackout that names no US state, or ends before it starts."""


def check_blackout(state: str, starts_at: datetime, ends_at: datetime, source: str) -> str:
    """The state's postal code, upper-cased; InvalidBlackout says what is wrong."""
    code = state.strip().upper()
    if code not in US_CODES:
        raise InvalidBlackout(f"{state!r} is not a US state's postal code")
    if ends_at <= starts_at:
        raise InvalidBlackout("a blackout must end after it starts")
    if not source.strip():
        raise InvalidBlackout("give the declaration's source (a URL or an order number)")
    return code


async def add_blackout(
    conn: AsyncConnection,
    company: Company,
    state: str,
    starts_at: datetime,
    ends_at: datetime,
    *,
    reason: str,
    source: str,
    by: str,
    now: datetime,
) -> Blackout:
    """Record a blackout; it applies from the next screened batch on."""
    code = check_blackout(state, starts_at, ends_at, source)
    await registry.lock_for_change(conn, company)
    await conn.execute(
        insert(blackouts).values(
            company_id=company.id,
            state=code,
            starts_at=starts_at,
            ends_at=ends_at,
            reason=reason,
            source=source.strip(),
            added_by=by,
            added_at=now,
        )
    )
    log.info(
        "blackout.added",
        company=company.name,
        state=code,
        starts_at=starts_at.isoformat(),
        ends_at=ends_at.isoformat(),
        source=source,
        by=by,
    )
    return Blackout(code, starts_at, ends_at, reason, source.strip())


async def blackouts_after(
    conn: AsyncConnection, company: Company, at: datetime
) -> tuple[Blackout, ...]:
    """The company's blackouts that have not ended by `at`, earliest first: one query."""
    rows = await conn.execute(
        select(blackouts)
        .where(blackouts.c.company_id == company.id, blackouts.c.ends_at > at)
        .order_by(blackouts.c.starts_at, blackouts.c.id)
    )
    return tuple(
        Blackout(row.state, row.starts_at, row.ends_at, row.reason, row.source) for row in rows
    )
