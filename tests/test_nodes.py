"""Node liveness by heartbeat, on both databases: what recovery relies on to take back a dead
node's leads, and never a live node's."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import metadata

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, insert, inspect, select

from campaigns.tables import nodes as node_rows
from dialer.database import MIGRATIONS
from dialer.scheduling import nodes
from dialer.scheduling.nodes import STALE_AFTER
from tests.support import NOW

INSTANT = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Lease:
    lead_id: int
    lease_node: str | None
    lease_until: datetime | None


async def _register(engine, *node_ids: str, at: datetime = NOW) -> None:
    async with engine.begin() as conn:
        for node_id in node_ids:
            await nodes.register(conn, node_id, at)


async def _live(engine, *node_ids: str, at: datetime) -> set[str]:
    async with engine.begin() as conn:
        return await nodes.live_nodes(conn, node_ids, at)


def test_node_ids_are_random_per_process_and_never_carry_the_pid():
    first, second = nodes.new_node_id(), nodes.new_node_id()

    assert first != second
    assert first.startswith(socket.gethostname())
    assert f":{os.getpid()}" not in first


async def test_a_registered_node_is_recorded_with_its_host_and_pid(engine):
    await _register(engine, "web-1-a")

    async with engine.begin() as conn:
        row = (await conn.execute(select(node_rows))).one()

    assert row.node_id == "web-1-a"
    assert (row.hostname, row.pid) == (socket.gethostname(), os.getpid())
    assert row.started_at == row.heartbeat_at == NOW
    assert row.stopped_at is None


async def test_two_nodes_with_the_same_hostname_and_pid_are_told_apart(engine):
    await _register(engine, "box-aaaa", "box-bbbb")  # same host and pid: this process
    async with engine.begin() as conn:
        await nodes.stop(conn, "box-aaaa", NOW)

    assert await _live(engine, "box-aaaa", "box-bbbb", at=NOW) == {"box-bbbb"}


async def test_a_node_that_stops_heartbeating_is_dead_after_stale_after_and_not_before(engine):
    await _register(engine, "quiet")

    assert await _live(engine, "quiet", at=NOW + STALE_AFTER) == {"quiet"}
    assert await _live(engine, "quiet", at=NOW + STALE_AFTER + INSTANT) == set()


async def test_heartbeats_keep_a_node_alive(engine):
    await _register(engine, "steady")
    for beat in range(1, 10):
        async with engine.begin() as conn:
            assert await nodes.heartbeat(conn, "steady", NOW + beat * nodes.HEARTBEAT_EVERY)

    assert await _live(engine, "steady", at=NOW + 9 * nodes.HEARTBEAT_EVERY + STALE_AFTER) == {
        "steady"
    }


async def test_a_stopped_node_is_dead_at_once(engine):
    await _register(engine, "leaving")
    async with engine.begin() as conn:
        await nodes.stop(conn, "leaving", NOW + INSTANT)

    assert await _live(engine, "leaving", at=NOW + INSTANT) == set()


async def test_a_dead_node_cannot_heartbeat_itself_back_to_life(engine):
    await _register(engine, "stale", "stopped")
    async with engine.begin() as conn:
        await nodes.stop(conn, "stopped", NOW)
    later = NOW + STALE_AFTER + INSTANT

    async with engine.begin() as conn:
        refused = [
            not await nodes.heartbeat(conn, node_id, later)
            for node_id in ("stale", "stopped", "never-registered")
        ]

    assert all(refused)
    assert await _live(engine, "stale", "stopped", at=later) == set()


async def test_a_live_nodes_leases_are_kept_until_they_expire(engine):
    await _register(engine, "alive")
    lease = Lease(1, "alive", NOW + timedelta(minutes=10))

    async with engine.begin() as conn:
        kept = await nodes.lapsed_leases(conn, [lease], NOW + STALE_AFTER)
        expired = await nodes.lapsed_leases(conn, [lease], NOW + timedelta(minutes=10))

    assert kept == []
    assert expired == [lease]


async def test_a_dead_nodes_leases_lapse_within_stale_after_before_they_expire(engine):
    await _register(engine, "crashed", "survivor")
    async with engine.begin() as conn:
        assert await nodes.heartbeat(conn, "survivor", NOW + STALE_AFTER)
    held = [Lease(1, "crashed", NOW + timedelta(minutes=10))]
    held.append(Lease(2, "survivor", NOW + timedelta(minutes=10)))

    async with engine.begin() as conn:
        lapsed = await nodes.lapsed_leases(conn, held, NOW + STALE_AFTER + INSTANT)

    assert [lease.lead_id for lease in lapsed] == [1]


async def test_a_lease_of_an_unregistered_holder_lapses_only_when_it_expires(engine):
    old_style = Lease(1, f"{socket.gethostname()}:{os.getpid()}", NOW + timedelta(minutes=10))

    async with engine.begin() as conn:
        before = await nodes.lapsed_leases(conn, [old_style], NOW + timedelta(minutes=9))
        after = await nodes.lapsed_leases(conn, [old_style], NOW + timedelta(minutes=10))

    assert before == []
    assert after == [old_style]


async def test_a_lease_without_holder_or_expiry_has_lapsed(engine):
    orphans = [Lease(1, None, NOW + timedelta(minutes=10)), Lease(2, "anyone", None)]

    async with engine.begin() as conn:
        lapsed = await nodes.lapsed_leases(conn, orphans, NOW)

    assert [lease.lead_id for lease in lapsed] == [2]


async def test_dead_and_live_nodes_say_nothing_of_unknown_ids(engine):
    await _register(engine, "alive", "gone")
    async with engine.begin() as conn:
        await nodes.stop(conn, "gone", NOW)
        dead = await nodes.dead_nodes(conn, ["alive", "gone", "unknown"], NOW)
        live = await nodes.live_nodes(conn, ["alive", "gone", "unknown"], NOW)

    assert (dead, live) == ({"gone"}, {"alive"})


async def test_pruning_forgets_only_nodes_silent_for_longer_than_a_day(engine):
    await _register(engine, "long-gone", at=NOW - nodes.PRUNE_AFTER - INSTANT)
    await _register(engine, "recent", at=NOW - STALE_AFTER - INSTANT)

    async with engine.begin() as conn:
        pruned = await nodes.prune(conn, NOW)
        left = (await conn.execute(select(node_rows.c.node_id))).scalars().all()

    assert pruned == 1
    assert left == ["recent"]


def _migrate(connection: Connection, revision: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(config, revision)


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_the_nodes_migration_can_be_undone_and_done_again(engine):
    async with engine.connect() as conn:
        transaction = await conn.begin()
        try:
            await conn.run_sync(_migrate, "0006", down=True)
            undone = await conn.run_sync(_tables)
            await conn.run_sync(_migrate, "head")
            redone = await conn.run_sync(_tables)
        finally:
            await transaction.rollback()

    assert {"nodes", "campaign_ticks"}.isdisjoint(undone)
    assert {"nodes", "campaign_ticks"} <= redone


async def test_a_node_registered_before_versions_were_recorded_shows_none(engine):
    async with engine.connect() as conn:
        transaction = await conn.begin()
        try:
            await conn.run_sync(_migrate, "0018", down=True)
            await conn.execute(
                insert(node_rows),  # as 0018 has it: no version
                {
                    "node_id": "old",
                    "hostname": "h",
                    "pid": 1,
                    "started_at": NOW,
                    "heartbeat_at": NOW,
                },
            )
            await conn.run_sync(_migrate, "head")
            await nodes.register(conn, "new", NOW)
            shown = {node.node_id: node.version for node in await nodes.every_node(conn, NOW)}
        finally:
            await transaction.rollback()

    assert shown["old"] is None
    assert shown["new"] == metadata.version("dialer")
