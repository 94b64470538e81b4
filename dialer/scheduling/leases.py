"""Campaign tick leases: across all nodes, one node paces a campaign per interval.

Time is cut into intervals of `interval` counted from the epoch, so every node agrees on
them without talking. `acquire_tick` grants a campaign's interval to the first node that
asks and refuses every other call until the interval ends. The winner claims up to the
campaign's `attempts_per_second` worth for the interval, so the rate holds in total however
many nodes tick. Nodes may tick more often than the interval (say twice): surplus calls are
refused, and no interval goes unused because one node's ticks fell near its edges.

Concurrency holds in total too. The winner computes room as `max_concurrent` minus the
campaign's claimed and in-flight leads, counted in the database inside the same tick; as one
node at a time counts and claims for a campaign, that count is exact. That needs
`acquire_tick` to be the first statement of the tick's transaction. On PostgreSQL the lease
row then stays locked until that transaction ends, so the winner of the next interval waits
for this tick to commit before it counts, even when a tick outlasts its interval. A refused
call locks the row as well, so a refused caller should end its transaction at once. On
SQLite every transaction holds the write lock (BEGIN IMMEDIATE), which serializes ticks.

The grant is one statement on both databases: INSERT … ON CONFLICT DO UPDATE … WHERE the
interval held has ended, RETURNING a row only to the caller that got the lease.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns.tables import campaign_ticks

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UPSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def interval_end(now: datetime, interval: timedelta) -> datetime:
    """The end of the interval that holds `now` (intervals are counted from the epoch)."""
    return now - (now - EPOCH) % interval + interval


async def acquire_tick(
    conn: AsyncConnection, campaign_id: int, node_id: str, now: datetime, interval: timedelta
) -> bool:
    """Whether `node_id` paces the campaign in the interval that holds `now`: true for the
    first call of each interval, whichever node makes it, and false for every other."""
    upsert = _UPSERT[conn.dialect.name](campaign_ticks).values(
        campaign_id=campaign_id,
        node_id=node_id,
        acquired_at=now,
        acquired_until=interval_end(now, interval),
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
