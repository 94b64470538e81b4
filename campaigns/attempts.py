"""Contact attempts in storage: every write to `attempts` is one of the transitions here.

    intent ──> placed ──> ended          the carrier took it; its outcome came back
       │  └──> not_placed                 the carrier refused before placing it
       └─────> unknown ──> placed         the request may have reached the carrier: wait
                    └────> not_placed     until its callbacks or its records say

Only the carrier's word about a call is an outcome (`ended`, with a result the status map
sees); a request that never reached the carrier is `not_placed` and counts as no attempt.
Every batch updates attempts in id order: on PostgreSQL two batches that lock the same rows
in different orders deadlock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, bindparam, case, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from compliance import Channel, Company, from_key, to_key
from compliance.attempts import OPEN_PHASES, AttemptPhase
from compliance.tables import attempts, in_batch

__all__ = [
    "NOT_PLACED",
    "OPEN_PHASES",
    "AttemptPhase",
    "AttemptRow",
    "bind_sid",
    "bound_sids",
    "busy_numbers",
    "end",
    "find",
    "mark_not_placed",
    "mark_placed",
    "mark_unknown",
    "open_attempts",
    "open_by_node",
    "record_intents",
    "record_keypress",
    "set_status",
    "take_over",
]

# The result shown for an attempt the carrier refused before placing it.
NOT_PLACED = "not_placed"
_OPEN = [phase.value for phase in OPEN_PHASES]


def _is_open() -> ColumnElement[bool]:
    """The phase is open; spelled out, as statements run once per row (executemany) take no
    expanding IN list."""
    return or_(*(attempts.c.state == phase for phase in _OPEN))


@dataclass(frozen=True, slots=True)
class AttemptRow:
    """What the dispatcher needs to know of one attempt."""

    id: int
    company_id: int
    campaign_id: int | None
    lead_id: int | None
    number: str
    phase: AttemptPhase
    carrier_sid: str | None
    digits: str | None
    placed_at: datetime
    node: str | None


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
                "state": AttemptPhase.INTENT.value,
                "node": node,
            }
            for lead_id, number in contacts
        ],
    )
    return list(result.scalars())


async def mark_placed(conn: AsyncConnection, placed: Sequence[tuple[int, str]]) -> None:
    """The carrier took these attempts and named them (attempt id, sid). A callback may
    have ended one already: an ended attempt keeps its phase."""
    if not placed:
        return
    await conn.execute(
        update(attempts)
        .where(attempts.c.id == bindparam("attempt"))
        .values(
            carrier_sid=bindparam("sid"),
            state=case(
                (_is_open(), AttemptPhase.PLACED.value),
                else_=attempts.c.state,
            ),
        ),
        [{"attempt": attempt_id, "sid": sid} for attempt_id, sid in sorted(placed)],
    )


async def mark_unknown(conn: AsyncConnection, attempt_ids: Sequence[int]) -> None:
    """The request may have reached the carrier but its answer did not come back."""
    if attempt_ids:
        await conn.execute(
            update(attempts)
            .where(
                in_batch(attempts.c.id, sorted(attempt_ids), conn.dialect.name),
                attempts.c.state == AttemptPhase.INTENT.value,
                attempts.c.carrier_sid.is_(None),
            )
            .values(state=AttemptPhase.UNKNOWN.value)
        )


async def mark_not_placed(
    conn: AsyncConnection, attempt_ids: Sequence[int], now: datetime
) -> list[int]:
    """The carrier certainly did not place these attempts; returns those that were still
    open without a carrier reference (a callback may have proved one placed meanwhile)."""
    if not attempt_ids:
        return []
    result = await conn.execute(
        update(attempts)
        .where(
            in_batch(attempts.c.id, sorted(attempt_ids), conn.dialect.name),
            attempts.c.state.in_([AttemptPhase.INTENT.value, AttemptPhase.UNKNOWN.value]),
            attempts.c.carrier_sid.is_(None),
        )
        .values(state=AttemptPhase.NOT_PLACED.value, result=NOT_PLACED, ended_at=now)
        .returning(attempts.c.id)
    )
    return sorted(result.scalars())


async def bind_sid(conn: AsyncConnection, attempt_id: int, sid: str) -> bool:
    """Whether `sid` is the attempt's carrier reference: it becomes so when the attempt has
    none yet (its create request's answer was lost) and no other attempt has it; a
    different one never replaces it."""
    taken = select(attempts.c.id).where(attempts.c.carrier_sid == sid).exists()
    await conn.execute(
        update(attempts)
        .where(attempts.c.id == attempt_id, attempts.c.carrier_sid.is_(None), ~taken)
        .values(
            carrier_sid=sid,
            state=case(
                (_is_open(), AttemptPhase.PLACED.value),
                else_=attempts.c.state,
            ),
        )
    )
    bound = await conn.execute(select(attempts.c.carrier_sid).where(attempts.c.id == attempt_id))
    return bound.scalar() == sid


async def take_over(conn: AsyncConnection, attempt_ids: Sequence[int], node: str) -> None:
    """Open attempts whose node is gone, now settled by `node`."""
    if attempt_ids:
        await conn.execute(
            update(attempts)
            .where(in_batch(attempts.c.id, sorted(attempt_ids), conn.dialect.name))
            .values(node=node)
        )


async def bound_sids(conn: AsyncConnection, sids: Sequence[str]) -> set[str]:
    """Which of these carrier references some attempt already has."""
    if not sids:
        return set()
    rows = await conn.execute(
        select(attempts.c.carrier_sid).where(attempts.c.carrier_sid.in_(sorted(set(sids))))
    )
    return set(rows.scalars())


async def record_keypress(conn: AsyncConnection, attempt_id: int, digits: str) -> None:
    """Keys pressed during the call, recorded when they are pressed: the outcome that ends
    the attempt later keeps them."""
    await conn.execute(update(attempts).where(attempts.c.id == attempt_id).values(digits=digits))


async def set_status(conn: AsyncConnection, attempt_id: int, code: str) -> None:
    """A call status set by a person after the attempt (a disposition)."""
    await conn.execute(update(attempts).where(attempts.c.id == attempt_id).values(status=code))


@dataclass(frozen=True, slots=True)
class Ended:
    """How one attempt ended: the carrier's result and status, and our call status."""

    attempt_id: int
    result: str
    digits: str | None
    status: str
    carrier_status: str | None


async def end(conn: AsyncConnection, ended: Sequence[Ended], now: datetime) -> None:
    """Record outcomes; the caller has read the attempts as open in this transaction."""
    if not ended:
        return
    await conn.execute(
        update(attempts)
        .where(attempts.c.id == bindparam("attempt"))
        .values(
            state=AttemptPhase.ENDED.value,
            result=bindparam("result"),
            digits=bindparam("digits"),
            status=bindparam("status"),
            ended_at=now,
            carrier_status=bindparam("carrier_status"),
        ),
        [
            {
                "attempt": e.attempt_id,
                "result": e.result,
                "digits": e.digits,
                "status": e.status,
                "carrier_status": e.carrier_status,
            }
            for e in sorted(ended, key=lambda e: e.attempt_id)
        ],
    )


async def find(conn: AsyncConnection, attempt_ids: Sequence[int]) -> dict[int, AttemptRow]:
    """The attempts with these ids; one query."""
    if not attempt_ids:
        return {}
    rows = await conn.execute(
        select(attempts).where(in_batch(attempts.c.id, sorted(attempt_ids), conn.dialect.name))
    )
    return {row.id: _row(row) for row in rows}


async def open_attempts(
    conn: AsyncConnection,
    *,
    ids: Sequence[int] | None = None,
    campaign_id: int | None = None,
    lead_ids: Sequence[int] | None = None,
    node: str | None = None,
) -> list[AttemptRow]:
    """Attempts not settled yet (intent, placed, unknown), in id order; of these ids, this
    campaign, these leads, or settled by this node."""
    query = select(attempts).where(attempts.c.state.in_(_OPEN)).order_by(attempts.c.id)
    if ids is not None:
        if not ids:
            return []
        query = query.where(in_batch(attempts.c.id, sorted(ids), conn.dialect.name))
    if campaign_id is not None:
        query = query.where(attempts.c.campaign_id == campaign_id)
    if node is not None:
        query = query.where(attempts.c.node == node)
    if lead_ids is not None:
        if not lead_ids:
            return []
        query = query.where(in_batch(attempts.c.lead_id, sorted(lead_ids), conn.dialect.name))
    return [_row(row) for row in await conn.execute(query)]


async def open_by_node(conn: AsyncConnection) -> dict[str, int]:
    """How many attempts not settled yet each node holds (settles); one grouped query."""
    rows = await conn.execute(
        select(attempts.c.node, func.count())
        .where(attempts.c.state.in_(_OPEN), attempts.c.node.is_not(None))
        .group_by(attempts.c.node)
    )
    return {node: count for node, count in rows.all()}


async def busy_numbers(conn: AsyncConnection, company: Company, numbers: Sequence[str]) -> set[str]:
    """Which of these E.164 numbers have an attempt not settled yet, by any campaign of the
    company on any channel; one query."""
    keys = {to_key(number): number for number in numbers}
    if not keys:
        return set()
    rows = await conn.execute(
        select(attempts.c.number)
        .distinct()
        .where(
            attempts.c.company_id == company.id,
            in_batch(attempts.c.number, sorted(keys), conn.dialect.name),
            attempts.c.state.in_(_OPEN),
        )
    )
    return {keys[key] for key in rows.scalars()}


def _row(row: object) -> AttemptRow:
    return AttemptRow(
        id=row.id,
        company_id=row.company_id,
        campaign_id=row.campaign_id,
        lead_id=row.lead_id,
        number=from_key(row.number),
        phase=AttemptPhase(row.state),
        carrier_sid=row.carrier_sid,
        digits=row.digits,
        placed_at=row.placed_at,
        node=row.node,
    )
