"""`dialer nodes`: every node with its version and liveness, the campaigns it paces and the
attempts it holds, on both databases; a real `dialer serve` shown alive, then dead."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from datetime import datetime, timedelta
from importlib import metadata

from campaigns import attempts, queue
from compliance import Channel
from dialer.app import utcnow
from dialer.scheduling import leases, nodes
from tests.test_dispatch_nodes import add_leads, campaign, campaign_text, create, ny

VERSION = metadata.version("dialer")


async def nodes_json(dialer, *args: str) -> list[dict]:
    """What `dialer nodes --json` prints, run in a thread: the CLI runs its own loop."""
    printed = await asyncio.to_thread(dialer, "nodes", "--json", *args)
    assert printed.exit_code == 0, printed.output
    return json.loads(printed.stdout)


async def test_nodes_show_liveness_the_campaigns_paced_and_the_attempts_held(app, company, dialer):
    now = utcnow()
    await add_leads(app, company, "spring", ny(5))
    spring = await campaign(app, company, await create(app, company, campaign_text()))
    async with app.transaction() as conn:
        await nodes.register(conn, "live", now - timedelta(seconds=10))
        assert await nodes.heartbeat(conn, "live", now)
        await nodes.register(conn, "stopped", now - timedelta(seconds=12))
        await nodes.stop(conn, "stopped", now - timedelta(seconds=5))
        await nodes.register(conn, "stale", now - nodes.STALE_AFTER - timedelta(seconds=1))
        assert await leases.acquire_tick(conn, spring.id, "live", now, timedelta(seconds=1))
        claimed = await queue.claim(conn, spring.id, 3, now, "live", now + timedelta(minutes=10))
        await attempts.record_intents(
            conn,
            company,
            [(lead.lead_id, lead.phone) for lead in claimed[:2]],
            Channel.VOICE,
            now,
            campaign_id=spring.id,
            node="live",
        )
        await queue.claim(conn, spring.id, 1, now, "stale", now + timedelta(minutes=10))

    shown = {node["name"]: node for node in await nodes_json(dialer)}

    assert list(shown) == ["live", "stopped", "stale"]  # the latest started first
    live, stopped, stale = shown["live"], shown["stopped"], shown["stale"]
    assert [live["alive"], stopped["alive"], stale["alive"]] == [True, False, False]
    assert {live["version"], stopped["version"], stale["version"]} == {VERSION}
    assert (live["pid"], live["host"]) == (os.getpid(), socket.gethostname())
    assert datetime.fromisoformat(live["started_at"]) == now - timedelta(seconds=10)
    assert datetime.fromisoformat(live["last_heartbeat"]) == now
    assert "T" in live["last_heartbeat"]
    assert live["stopped_at"] is None
    assert datetime.fromisoformat(stopped["stopped_at"]) == now - timedelta(seconds=5)
    assert stale["stopped_at"] is None
    assert live["campaigns"] == [
        {
            "company": "acme",
            "campaign": "spring",
            "holding": True,
            "until": (now + timedelta(seconds=1)).isoformat(),
        }
    ]
    assert stopped["campaigns"] == stale["campaigns"] == []
    assert (live["attempts_held"], live["leads_leased"]) == (2, 3)
    assert (stale["attempts_held"], stale["leads_leased"]) == (0, 1)
    assert (stopped["attempts_held"], stopped["leads_leased"]) == (0, 0)
    assert [node["name"] for node in await nodes_json(dialer, "--alive")] == ["live"]


async def test_a_lease_that_ended_long_ago_is_paced_by_no_one(app, company, dialer):
    now = utcnow()
    await add_leads(app, company, "spring", ny(1))
    spring = await campaign(app, company, await create(app, company, campaign_text()))
    async with app.transaction() as conn:
        await nodes.register(conn, "live", now)
        long_ago = now - timedelta(minutes=5)
        assert await leases.acquire_tick(conn, spring.id, "live", long_ago, timedelta(seconds=1))

    (live,) = await nodes_json(dialer)

    assert live["campaigns"] == []


async def test_the_table_names_each_node_and_its_state(app, company, dialer):
    now = utcnow()
    async with app.transaction() as conn:
        await nodes.register(conn, "node-one", now)
        await nodes.register(conn, "node-two", now - timedelta(minutes=1))

    printed = await asyncio.to_thread(dialer, "nodes")

    lines = printed.stdout.splitlines()
    assert [line.split()[0] for line in lines if line.startswith("node-")] == [
        "node-one",
        "node-two",
    ]
    assert "alive" in next(line for line in lines if line.startswith("node-one"))
    assert "dead" in next(line for line in lines if line.startswith("node-two"))


async def test_a_serving_node_is_alive_with_its_version_and_dead_once_terminated(
    app, database_url, dialer
):
    env = {
        **os.environ,
        "DIALER_DATABASE_URL": database_url,
        "DIALER_LOG_LEVEL": "WARNING",
        "DIALER_WEBHOOK_PORT": "0",
    }
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dialer", "serve", env=env, stdout=asyncio.subprocess.DEVNULL
    )
    try:
        async with asyncio.timeout(30):
            while not await _registered(app):
                assert server.returncode is None, "serve exited early"
                await asyncio.sleep(0.1)
        (serving,) = await nodes_json(dialer)
    finally:
        server.send_signal(signal.SIGTERM)
        await server.wait()

    assert server.returncode == 0
    assert (serving["alive"], serving["pid"]) == (True, server.pid)
    assert (serving["version"], serving["stopped_at"]) == (VERSION, None)
    (stopped,) = await nodes_json(dialer)
    assert stopped["name"] == serving["name"]
    assert stopped["alive"] is False
    assert stopped["stopped_at"] is not None
    assert await nodes_json(dialer, "--alive") == []


async def _registered(app) -> bool:
    async with app.transaction() as conn:
        return bool(await nodes.every_node(conn, utcnow()))
