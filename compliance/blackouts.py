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
from sqlalchemy import Row, Select, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from compliance import registry
from compliance.accounts import Company
from compliance.dnc import User, check_removal
from compliance.hours import check_instant
from compliance.tables import blackouts
from compliance.zones import US_CODES

log = structlog.get_logger("compliance.blackouts")


@dataclass(frozen=True, slots=True)
class EarlyEnd:
    """A blackout ended before its declared end: from `at`, entered by `by` at `entered_at`."""

    at: datetime
    by: str
    reason: str
    entered_at: datetime


@dataclass(frozen=True, slots=True)
class Blackout:
    """No solicitation to `state` from `starts_at` until `ends_at` (exclusive), as declared,
    or until it was ended early (`ended`)."""

    state: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    source: str
    id: int | None = None
    ended: EarlyEnd | None = None

    @property
    def until(self) -> datetime:
        """When it stops applying (exclusive)."""
        return self.ended.at if self.ended else self.ends_at

    def covers(self, states: tuple[str, ...], at: datetime) -> bool:
        return self.state in states and self.starts_at <= at < self.until


class InvalidBlackout(ValueError):
    """A blackout that names no US state, ends before it starts, or cannot be ended."""


class UnknownBlackout(InvalidBlackout):
    """No blackout of that id in the company (another company's is unknown here)."""


def check_blackout(state: str, starts_at: datetime, ends_at: datetime, source: str) -> str:
    """The state's postal code, upper-cased; InvalidBlackout says what is wrong."""
    code = state.strip().upper()
    if code not in US_CODES:
        raise InvalidBlackout(f"{state!r} is not a US state's postal code")
    for moment in (starts_at, ends_at):
        _check_instant(moment)
    if ends_at <= starts_at:
        raise InvalidBlackout("a blackout must end after it starts")
    if not source.strip():
        raise InvalidBlackout("give the declaration's source (a URL or an order number)")
    return code


def _check_instant(moment: datetime) -> None:
    try:
        check_instant(moment)
    except ValueError as error:
        raise InvalidBlackout(str(error)) from None


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
    blackout_id = (
        await conn.execute(
            insert(blackouts)
            .values(
                company_id=company.id,
                state=code,
                starts_at=starts_at,
                ends_at=ends_at,
                reason=reason,
                source=source.strip(),
                added_by=by,
                added_at=now,
            )
            .returning(blackouts.c.id)
        )
    ).scalar_one()
    log.info(
        "blackout.added",
        company=company.name,
        blackout_id=blackout_id,
        state=code,
        starts_at=starts_at.isoformat(),
        ends_at=ends_at.isoformat(),
        source=source,
        by=by,
    )
    return Blackout(code, starts_at, ends_at, reason, source.strip(), blackout_id)


async def end_blackout(
    conn: AsyncConnection,
    company: Company,
    blackout_id: int,
    at: datetime,
    *,
    user: User | None,
    by: str,
    reason: str,
    now: datetime,
) -> Blackout:
    """End a blackout early, from `at` on: it lifts a protection, so, like taking a number
    off a list, it needs a permitted user and a reason. Applies from the next screened batch."""
    if not reason.strip():
        raise InvalidBlackout("give the reason it ends early, e.g. the order lifting it")
    check_removal(user, reason, by)
    _check_instant(at)
    await registry.lock_for_change(conn, company)
    found = await _find(conn, company, blackout_id)
    if found.ended is not None:
        raise InvalidBlackout(
            f"blackout {blackout_id} was already ended, from {found.ended.at.isoformat()} "
            f"by {found.ended.by}"
        )
    if found.ends_at <= now:
        raise InvalidBlackout(
            f"blackout {blackout_id} is already over: it ended at {found.ends_at.isoformat()}"
        )
    if found.ends_at <= at:
        raise InvalidBlackout(
            f"blackout {blackout_id} ends at {found.ends_at.isoformat()} anyway: "
            "an early end must come before that"
        )
    await conn.execute(
        update(blackouts)
        .where(blackouts.c.id == blackout_id)
        .values(early_end=at, ended_by=by, ended_at=now, end_reason=reason.strip())
    )
    log.info(
        "blackout.ended",
        company=company.name,
        blackout_id=blackout_id,
        state=found.state,
        at=at.isoformat(),
        declared_end=found.ends_at.isoformat(),
        reason=reason.strip(),
        by=by,
    )
    return Blackout(
        found.state,
        found.starts_at,
        found.ends_at,
        found.reason,
        found.source,
        blackout_id,
        EarlyEnd(at, by, reason.strip(), now),
    )


async def _find(conn: AsyncConnection, company: Company, blackout_id: int) -> Blackout:
    row = (
        await conn.execute(
            select(blackouts).where(
                blackouts.c.id == blackout_id, blackouts.c.company_id == company.id
            )
        )
    ).first()
    if row is None:
        raise UnknownBlackout(f"no blackout {blackout_id} in this company; see `blackouts list`")
    return _blackout(row)


def _blackout(row: Row) -> Blackout:
    ended = (
        None
        if row.early_end is None
        else EarlyEnd(row.early_end, row.ended_by, row.end_reason, row.ended_at)
    )
    return Blackout(row.state, row.starts_at, row.ends_at, row.reason, row.source, row.id, ended)


async def blackouts_after(
    conn: AsyncConnection, company: Company, at: datetime | None
) -> tuple[Blackout, ...]:
    """The company's blackouts that have not ended by `at` (None: every one), earliest
    first: one query."""
    query = _not_over(company, at).order_by(blackouts.c.starts_at, blackouts.c.id)
    return tuple(_blackout(row) for row in await conn.execute(query))


async def blackouts_page(
    conn: AsyncConnection,
    company: Company,
    at: datetime | None,
    *,
    after: int | None = None,
    limit: int | None = None,
) -> list[Blackout]:
    """The company's blackouts not ended by `at` (None: every one) in the order they were
    entered (by id), from after the blackout of id `after`, at most `limit`: one query."""
    query = _not_over(company, at).order_by(blackouts.c.id).limit(limit)
    if after is not None:
        query = query.where(blackouts.c.id > after)
    return [_blackout(row) for row in await conn.execute(query)]


def _not_over(company: Company, at: datetime | None) -> Select:
    query = select(blackouts).where(blackouts.c.company_id == company.id)
    if at is None:
        return query
    return query.where(
        blackouts.c.ends_at > at,
        or_(blackouts.c.early_end.is_(None), blackouts.c.early_end > at),
    )
