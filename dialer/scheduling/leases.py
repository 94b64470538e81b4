"""Campaign tick leases: across all nodes, one node paces a campaign per interval.

`acquire_tick` grants a campaign's tick to the first node that asks once the previous grant
has run its `interval`, and refuses every other call until then. The grants slide: each
lasts `interval` from the moment it was given, so two grants are always at least `interval`
apart (intervals fixed on the clock would let two grants fall a moment apart, either side
of an edge). The winner places up to the campaign's `attempts_per_second`, paced over the
interval, so the rate holds in total however many nodes tick. Nodes may tick more often
than the interval: surplus calls are refused.

Concurrency holds in total too. The winner computes room as `max_concurrent` minus the
campaign's claimed and in-flight leads, counted in the database inside the same tick; as one
node at a time counts and claims for a campaign, that count is exact. That needs
`acquire_tick` to be the first statement of the tick's transaction. On PostgreSQL the lease
row then stays locked until that transaction ends, so the winner of the next interval waits
for this tick to commit before it counts, even when a tick outlasts its interval. A refused
call locks the row as well, so a refused caller should end its transaction at once. On
SQLite every transaction holds the write lock (BEGIN IMMEDIATE), which serializes ticks.

The grant is one statement on both databases: INSERT … ON CONFLICT DO UPDATE … WHERE the
previous grant has ended, RETURNING a row only to the caller that got the lease.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns.tables import campaign_ticks

_UPSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


async def acquire_tick(
    conn: AsyncConnection, campaign_id: int, node_id: str, now: datetime, interval: timedelta
) -> bool:
    """Whether `node_id` paces the campaign from `now` for `interval`: true for the first
    call once the previous grant has run its interval, whichever node makes it, and false
    for every other."""
    upsert = _UPSERT[conn.dialect.name](campaign_ticks).values(
        campaign_id=campaign_id,
        node_id=node_id,
        acquired_at=now,
        acquired_until=now + interval,
    )
    granted = upsert.on_conflict_do_update(
        index_elements=[campaign_ticks.c.campaign_id],
        set_={
            "node_id": upsert.excluded.node_id,
            "acquired_at": upsert.excluded.acquired_at,
            "acquired_until": upsert.excluded.acquired_until,
        },
        where=campaign_ticks.c.acquired_until <= upsert.excluded.acquired_at,
    ).returning(campaign_ticks.c.campaign_id)
    return (await conn.execute(granted)).first() is not None


async def hold_tick(conn: AsyncConnection, campaign_id: int, node_id: str, until: datetime) -> None:
    """Keep the grant `node_id` holds until `until`: its requests go out over the interval
    from when they start, which a slow tick transaction may have pushed past its grant; the
    next grant must not come before the last of them."""
    await conn.execute(
        update(campaign_ticks)
        .where(
            campaign_ticks.c.campaign_id == campaign_id,
            campaign_ticks.c.node_id == node_id,
            campaign_ticks.c.acquired_until < until,
        )
        .values(acquired_until=until)
    )


@dataclass(frozen=True, slots=True)
class Pacing:
    """The last tick lease of a campaign: who got it, and until when."""

    campaign_id: int
    node_id: str
    acquired_until: datetime


async def recent_pacing(conn: AsyncConnection, since: datetime) -> list[Pacing]:
    """Each campaign's last tick lease that ran until `since` or later, in campaign order:
    the campaigns being paced, and by whom. A campaign's row names only its last holder."""
    rows = await conn.execute(
        select(campaign_ticks)
        .where(campaign_ticks.c.acquired_until >= since)
        .order_by(campaign_ticks.c.campaign_id)
    )
    return [Pacing(row.campaign_id, row.node_id, row.acquired_until) for row in rows]
