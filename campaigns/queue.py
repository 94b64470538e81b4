"""A campaign's lead queue in storage: enqueue, claim with a lease, requeue, finish.

Claiming is the one database-tuned statement: a MATERIALIZED sub-select picks and locks
the due rows once, then an UPDATE takes them and returns what it took. Were the pick a
plain `IN (sub-select)`, PostgreSQL could run it once per candidate row (a nested-loop
semi-join, chosen on stale statistics), each run skipping the rows the runs before locked:
the LIMIT would hold per run, not for the claim. PostgreSQL adds FOR UPDATE SKIP LOCKED
so that engine processes never wait on, or take, each other's rows; SQLite gets the same
guarantee from the write lock every transaction takes up front (BEGIN IMMEDIATE).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, and_, bindparam, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns.tables import campaign_leads
from compliance import from_key
from compliance.tables import UtcDateTime, in_batch, leads

QUEUED, CLAIMED, IN_FLIGHT, DONE = "queued", "claimed", "in_flight", "done"

# WITH ... MATERIALIZED and UPDATE ... FROM: PostgreSQL 12, SQLite 3.35 (as RETURNING).
_CLAIM = """
WITH picked AS MATERIALIZED (
    SELECT lead_id FROM campaign_leads
    WHERE campaign_id = :campaign AND state = 'queued' AND due_at <= :now
    ORDER BY due_at, lead_id
    LIMIT :limit {lock}
)
UPDATE campaign_leads SET state = 'claimed', lease_node = :node, lease_until = :until
FROM picked
WHERE campaign_leads.campaign_id = :campaign AND campaign_leads.lead_id = picked.lead_id
RETURNING campaign_leads.lead_id
"""


@dataclass(frozen=True, slots=True)
class QueuedLead:
    """What the engine needs of a claimed lead to screen and contact it."""

    lead_id: int
    external_id: str | None
    phone: str
    email: str
    first_name: str
    last_name: str
    state: str
    postal_code: str
    timezone: str
    attempts: int

    def fields(self) -> dict[str, str | None]:
        """The lead fields a text may use."""
        return {
            "first_name": self.first_name,
            "last_name": self.last_name,
            "email": self.email,
            "state": self.state,
            "postal_code": self.postal_code,
            "external_id": self.external_id,
        }


async def enqueue_list(
    conn: AsyncConnection, company_id: int, campaign_id: int, lead_list: str, now: datetime
) -> int:
    """Queue every lead of `lead_list` not queued yet, due now; returns how many."""
    queued = select(campaign_leads.c.lead_id).where(campaign_leads.c.campaign_id == campaign_id)
    source = select(
        bindparam("campaign", campaign_id),
        leads.c.id,
        bindparam("state", QUEUED),
        bindparam("now", now, type_=UtcDateTime),
    ).where(
        leads.c.company_id == company_id,
        leads.c.lead_list == lead_list,
        leads.c.duplicate_of.is_(None),
        leads.c.id.not_in(queued),
    )
    result = await conn.execute(
        insert(campaign_leads).from_select(["campaign_id", "lead_id", "state", "due_at"], source)
    )
    return result.rowcount


async def claim(
    conn: AsyncConnection,
    campaign_id: int,
    limit: int,
    now: datetime,
    node: str,
    lease_until: datetime,
) -> list[QueuedLead]:
    """Take up to `limit` due leads under a lease; one statement, then one read."""
    if limit <= 0:
        return []
    lock = "FOR UPDATE SKIP LOCKED" if conn.dialect.name == "postgresql" else ""
    statement = text(_CLAIM.format(lock=lock)).bindparams(
        bindparam("now", type_=UtcDateTime), bindparam("until", type_=UtcDateTime)
    )
    params = {"campaign": campaign_id, "now": now, "until": lease_until, "node": node}
    ids = (await conn.execute(statement, {**params, "limit": limit})).scalars().all()
    return await _queued_leads(conn, campaign_id, ids)


async def _queued_leads(
    conn: AsyncConnection, campaign_id: int, lead_ids: Sequence[int]
) -> list[QueuedLead]:
    if not lead_ids:
        return []
    rows = await conn.execute(
        select(leads, campaign_leads.c.attempts)
        .join(
            campaign_leads,
            and_(
                campaign_leads.c.lead_id == leads.c.id,
                campaign_leads.c.campaign_id == campaign_id,
            ),
        )
        .where(in_batch(leads.c.id, lead_ids, conn.dialect.name))
        .order_by(leads.c.id)
    )
    return [_queued_lead(row) for row in rows]


def _queued_lead(row: Row) -> QueuedLead:
    return QueuedLead(
        lead_id=row.id,
        external_id=row.external_id,
        phone=from_key(row.phone),
        email=row.email,
        first_name=row.first_name,
        last_name=row.last_name,
        state=row.state,
        postal_code=row.postal_code,
        timezone=row.timezone,
        attempts=row.attempts,
    )


async def due_batch(
    conn: AsyncConnection, campaign_id: int, now: datetime, after: int | None, limit: int
) -> list[QueuedLead]:
    """At most `limit` queued leads due at `now`, in lead id order after `after`, claiming
    nothing: what a dry run screens. One query."""
    query = (
        select(leads, campaign_leads.c.attempts)
        .join(campaign_leads, campaign_leads.c.lead_id == leads.c.id)
        .where(
            campaign_leads.c.campaign_id == campaign_id,
            campaign_leads.c.state == QUEUED,
            campaign_leads.c.due_at <= now,
        )
    )
    if after is not None:
        query = query.where(campaign_leads.c.lead_id > after)
    rows = await conn.execute(query.order_by(campaign_leads.c.lead_id).limit(limit))
    return [_queued_lead(row) for row in rows]


async def not_due(
    conn: AsyncConnection, campaign_id: int, now: datetime
) -> tuple[int, datetime | None]:
    """How many queued leads are due after `now` (retries waiting their delay), and when
    the first of them is."""
    count, first = (
        await conn.execute(
            select(func.count(), func.min(campaign_leads.c.due_at)).where(
                campaign_leads.c.campaign_id == campaign_id,
                campaign_leads.c.state == QUEUED,
                campaign_leads.c.due_at > now,
            )
        )
    ).one()
    return count, first


async def mark_in_flight(
    conn: AsyncConnection, campaign_id: int, lead_ids: Sequence[int], lease_until: datetime
) -> None:
    """Leads whose attempt is being placed: one more attempt each, leased until it ends."""
    if lead_ids:
        await conn.execute(
            update(campaign_leads)
            .where(
                campaign_leads.c.campaign_id == campaign_id,
                in_batch(campaign_leads.c.lead_id, lead_ids, conn.dialect.name),
            )
            .values(
                state=IN_FLIGHT,
                attempts=campaign_leads.c.attempts + 1,
                lease_until=lease_until,
            )
        )


async def give_back(
    conn: AsyncConnection, campaign_id: int, lead_ids: Sequence[int], due_at: datetime
) -> None:
    """Requeue leads whose attempt the carrier never placed, returning the attempt each was
    charged for; one statement."""
    await _update_held(
        conn,
        campaign_id,
        lead_ids,
        state=QUEUED,
        due_at=due_at,
        attempts=campaign_leads.c.attempts - 1,
        lease_node=None,
        lease_until=None,
    )


async def extend_leases(
    conn: AsyncConnection, campaign_id: int, lead_ids: Sequence[int], node: str, until: datetime
) -> None:
    """Leads in flight taken over by `node` (their holder is gone), leased until `until`."""
    await _update_held(conn, campaign_id, lead_ids, lease_node=node, lease_until=until)


async def _update_held(
    conn: AsyncConnection, campaign_id: int, lead_ids: Sequence[int], **values: object
) -> None:
    """Change the campaign's leads among `lead_ids` that are claimed or in flight."""
    if lead_ids:
        await conn.execute(
            update(campaign_leads)
            .where(
                campaign_leads.c.campaign_id == campaign_id,
                in_batch(campaign_leads.c.lead_id, sorted(lead_ids), conn.dialect.name),
                campaign_leads.c.state.in_([CLAIMED, IN_FLIGHT]),
            )
            .values(**values)
        )


@dataclass(frozen=True, slots=True)
class Move:
    """Where a lead goes next: back in the queue at `due_at`, or, with no `due_at`, done
    with `outcome`. `last_status`, when given, replaces the lead's last call status."""

    lead_id: int
    due_at: datetime | None = None
    outcome: str | None = None
    last_status: str | None = None


async def move_leads(conn: AsyncConnection, campaign_id: int, moves: Sequence[Move]) -> None:
    """Requeue or finish each lead, releasing its lease; one statement for the batch."""
    if not moves:
        return
    await conn.execute(
        update(campaign_leads)
        .where(
            campaign_leads.c.campaign_id == campaign_id,
            campaign_leads.c.lead_id == bindparam("lead"),
        )
        .values(
            state=bindparam("state"),
            due_at=func.coalesce(bindparam("due", type_=UtcDateTime), campaign_leads.c.due_at),
            outcome=bindparam("outcome"),
            last_status=func.coalesce(bindparam("last_status"), campaign_leads.c.last_status),
            lease_node=None,
            lease_until=None,
        ),
        [
            {
                "lead": move.lead_id,
                "state": QUEUED if move.due_at else DONE,
                "due": move.due_at,
                "outcome": None if move.due_at else move.outcome,
                "last_status": move.last_status,
            }
            for move in moves
        ],
    )


@dataclass(frozen=True, slots=True)
class Lease:
    lead_id: int
    state: str
    lease_node: str | None
    lease_until: datetime | None


async def in_flight(conn: AsyncConnection, campaign_id: int) -> list[Lease]:
    """The campaign's leads with an attempt under way, and who holds them until when."""
    rows = await conn.execute(
        select(
            campaign_leads.c.lead_id,
            campaign_leads.c.state,
            campaign_leads.c.lease_node,
            campaign_leads.c.lease_until,
        ).where(
            campaign_leads.c.campaign_id == campaign_id,
            campaign_leads.c.state.in_([CLAIMED, IN_FLIGHT]),
        )
    )
    return [Lease(row.lead_id, row.state, row.lease_node, row.lease_until) for row in rows]


async def leased_by_node(conn: AsyncConnection) -> dict[str, int]:
    """How many leads, claimed or in flight, each node holds the lease of; one grouped query."""
    rows = await conn.execute(
        select(campaign_leads.c.lease_node, func.count())
        .where(
            campaign_leads.c.state.in_([CLAIMED, IN_FLIGHT]),
            campaign_leads.c.lease_node.is_not(None),
        )
        .group_by(campaign_leads.c.lease_node)
    )
    return {node: count for node, count in rows.all()}


async def counts(conn: AsyncConnection, campaign_id: int) -> dict[str, int]:
    """How many leads of the campaign are in each state."""
    rows = await conn.execute(
        select(campaign_leads.c.state, func.count())
        .where(campaign_leads.c.campaign_id == campaign_id)
        .group_by(campaign_leads.c.state)
    )
    return dict(rows.all())


async def due_and_under_way(
    conn: AsyncConnection, campaign_ids: Sequence[int], now: datetime
) -> dict[int, tuple[int, int]]:
    """(leads due at `now`, leads claimed or in flight) of each campaign that has any; one
    grouped query over the (campaign, state, due) index."""
    if not campaign_ids:
        return {}
    state, due_at = campaign_leads.c.state, campaign_leads.c.due_at
    due = and_(state == QUEUED, due_at <= now)
    under_way = state.in_([CLAIMED, IN_FLIGHT])
    rows = await conn.execute(
        select(
            campaign_leads.c.campaign_id,
            func.count().filter(due),
            func.count().filter(under_way),
        )
        .where(
            in_batch(campaign_leads.c.campaign_id, campaign_ids, conn.dialect.name),
            due | under_way,
        )
        .group_by(campaign_leads.c.campaign_id)
    )
    return {campaign_id: (due_now, held) for campaign_id, due_now, held in rows}


async def next_due(conn: AsyncConnection, campaign_id: int) -> datetime | None:
    """When the earliest queued lead falls due."""
    return (
        await conn.execute(
            select(func.min(campaign_leads.c.due_at)).where(
                campaign_leads.c.campaign_id == campaign_id, campaign_leads.c.state == QUEUED
            )
        )
    ).scalar()
