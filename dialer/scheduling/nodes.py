"""Engine nodes: who is alive, told by heartbeats stored in the database.

Each engine process registers under a random id (`new_node_id`), refreshes its heartbeat
every HEARTBEAT_EVERY, and marks itself stopped on a clean shutdown. A node is dead once it
stopped, or once its last heartbeat is older than STALE_AFTER. Nothing here reads a pid: a
pid means nothing outside the PID namespace that issued it, so two containers with the
same hostname could each take the other for dead.

Leases (`lapsed_leases`): a lead leased by a live node is never taken before its lease
expires. One leased by a dead node is free at once, so survivors that look every tick take
it back within STALE_AFTER plus a tick of its holder's last heartbeat. A holder missing
from the table (a `host:pid` name from before nodes registered, or a node pruned long after
its death) is trusted until its lease expires, as every holder was before.

Death is final: a heartbeat that comes when the node is already stale is refused, because
survivors may have taken its leases in the meantime. Refused, a node must stop dialing and
register again under a new id. This assumes the nodes' clocks agree to well within
STALE_AFTER.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import metadata
from typing import Protocol, TypeVar
from uuid import uuid4

from sqlalchemy import ColumnElement, and_, delete, func, insert, not_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns.tables import nodes

HEARTBEAT_EVERY = timedelta(seconds=5)
STALE_AFTER = timedelta(seconds=15)  # three missed heartbeats
# Far longer than any lead lease, so a pruned node can no longer hold an unexpired lease.
PRUNE_AFTER = timedelta(days=1)


class HeldLease(Protocol):
    """A lease on a lead, as `campaigns.queue.Lease` has it."""

    @property
    def lease_node(self) -> str | None: ...

    @property
    def lease_until(self) -> datetime | None: ...


LeaseT = TypeVar("LeaseT", bound=HeldLease)


@dataclass(frozen=True, slots=True)
class Node:
    """A registered node as the table has it; `alive` judged at the instant it was read."""

    node_id: str
    hostname: str
    pid: int
    version: str | None  # None: registered by a dialer older than the column
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None
    alive: bool


def new_node_id() -> str:
    """A random id for this process, unique across hosts and PID namespaces."""
    return f"{socket.gethostname()[:80]}-{uuid4().hex[:12]}"


async def register(conn: AsyncConnection, node_id: str, now: datetime) -> None:
    """Record this process as a live node, its first heartbeat at `now`."""
    await conn.execute(
        insert(nodes).values(
            node_id=node_id,
            hostname=socket.gethostname()[:255],
            pid=os.getpid(),
            started_at=now,
            heartbeat_at=now,
            version=metadata.version("dialer"),
        )
    )


async def heartbeat(
    conn: AsyncConnection, node_id: str, now: datetime, stale_after: timedelta = STALE_AFTER
) -> bool:
    """Refresh the node's heartbeat; False when the node is already dead (stopped, stale or
    unknown), and must then stop dialing and register again under a new id."""
    result = await conn.execute(
        update(nodes)
        .where(nodes.c.node_id == node_id, _alive(now, stale_after))
        .values(heartbeat_at=now)
    )
    return result.rowcount == 1


async def stop(conn: AsyncConnection, node_id: str, now: datetime) -> None:
    """Mark the node stopped on a clean shutdown: from `now` it is dead to every node."""
    await conn.execute(
        update(nodes)
        .where(nodes.c.node_id == node_id, nodes.c.stopped_at.is_(None))
        .values(stopped_at=now)
    )


async def live_nodes(
    conn: AsyncConnection,
    node_ids: Iterable[str],
    now: datetime,
    stale_after: timedelta = STALE_AFTER,
) -> set[str]:
    """Those of `node_ids` that are registered and alive at `now`; one query."""
    return await _nodes_among(conn, node_ids, _alive(now, stale_after))


async def count_alive(
    conn: AsyncConnection, now: datetime, stale_after: timedelta = STALE_AFTER
) -> int:
    """How many nodes are alive at `now`."""
    return (await conn.execute(select(func.count()).where(_alive(now, stale_after)))).scalar_one()


async def dead_nodes(
    conn: AsyncConnection,
    node_ids: Iterable[str],
    now: datetime,
    stale_after: timedelta = STALE_AFTER,
) -> set[str]:
    """Those of `node_ids` that are registered and dead at `now`; unknown ids are in
    neither this set nor `live_nodes`'."""
    return await _nodes_among(conn, node_ids, not_(_alive(now, stale_after)))


async def lapsed_leases(
    conn: AsyncConnection,
    leases: Sequence[LeaseT],
    now: datetime,
    stale_after: timedelta = STALE_AFTER,
) -> list[LeaseT]:
    """The leases that may be taken back at `now`: expired ones, and those of dead nodes.
    One query for the batch, whatever the number of holders."""
    unexpired = [lease for lease in leases if not _expired(lease, now)]
    holders = {lease.lease_node for lease in unexpired if lease.lease_node}
    dead = await dead_nodes(conn, holders, now, stale_after)
    return [lease for lease in leases if _expired(lease, now) or lease.lease_node in dead]


async def every_node(
    conn: AsyncConnection, now: datetime, stale_after: timedelta = STALE_AFTER
) -> list[Node]:
    """Every registered node, the most recently started first, alive or dead at `now`."""
    rows = await conn.execute(
        select(nodes, _alive(now, stale_after).label("alive")).order_by(
            nodes.c.started_at.desc(), nodes.c.node_id
        )
    )
    return [
        Node(
            row.node_id,
            row.hostname,
            row.pid,
            row.version,
            row.started_at,
            row.heartbeat_at,
            row.stopped_at,
            bool(row.alive),
        )
        for row in rows
    ]


async def prune(conn: AsyncConnection, now: datetime, after: timedelta = PRUNE_AFTER) -> int:
    """Forget nodes silent for longer than `after`; returns how many."""
    result = await conn.execute(delete(nodes).where(nodes.c.heartbeat_at < now - after))
    return result.rowcount


def _alive(now: datetime, stale_after: timedelta) -> ColumnElement[bool]:
    return and_(nodes.c.stopped_at.is_(None), nodes.c.heartbeat_at >= now - stale_after)


def _expired(lease: HeldLease, now: datetime) -> bool:
    return lease.lease_until is None or lease.lease_until <= now


async def _nodes_among(
    conn: AsyncConnection, node_ids: Iterable[str], condition: ColumnElement[bool]
) -> set[str]:
    wanted = sorted(set(node_ids))
    if not wanted:
        return set()
    rows = await conn.execute(select(nodes.c.node_id).where(nodes.c.node_id.in_(wanted), condition))
    return set(rows.scalars())
