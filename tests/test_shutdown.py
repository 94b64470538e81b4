"""What SIGTERM does to a `dialer serve` node in production: two nodes on one PostgreSQL
database behind one public URL (a load balancer), the standalone simulator as their carrier.
The node told to stop claims no more work, lets its create requests under way finish and
records them, marks itself stopped so the other takes back what it still holds, and exits
0 in a bound; the campaign ends on the survivor, no number dialed twice."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from contextlib import AsyncExitStack
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from campaigns import CampaignState
from campaigns.tables import nodes
from compliance import accounts
from compliance.tables import attempts
from dialer.scheduling.nodes import HEARTBEAT_EVERY
from tests.balancer import Balancer
from tests.faultproxy import FaultProxy, Mode, Route
from tests.test_dispatch_nodes import (
    SID,
    TOKEN,
    add_leads,
    campaign,
    carrier_calls,
    create,
    numbers_in_calling_hours,
)
from tests.test_engine import CAMPAIGN, COUNTRIES, rows
from tests.test_simulator_replies import free_port

# Every create request is answered this late (the carrier acts at once): a SIGTERM just
# after an intent waits for it for longer than a heartbeat period.
ANSWER_AFTER = HEARTBEAT_EVERY.total_seconds() + 1.0
# A node told to stop waits for its create requests under way and exits: far less than
# the example systemd unit's TimeoutStopSec.
EXIT_WITHIN = ANSWER_AFTER + 5.0


async def simulator() -> tuple[asyncio.subprocess.Process, str]:
    """The standalone simulator, each call up about four seconds; its URL."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dialer.carriers.simulator", "--port", "0",
        "--account-sid", SID, "--auth-token", TOKEN, "--callback-delay", "1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), 10)).decode()
    return process, line.rsplit(" ", 1)[-1].strip()


async def serve(env: dict[str, str], port: int) -> asyncio.subprocess.Process:
    node = {**env, "DIALER_WEBHOOK_PORT": str(port)}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dialer", "serve", env=node, stdout=asyncio.subprocess.DEVNULL
    )


def kill_if_running(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.kill()


async def stopped(process: asyncio.subprocess.Process) -> float:
    """SIGTERM the node; the seconds it took to exit."""
    started = time.monotonic()
    process.terminate()
    await asyncio.wait_for(process.wait(), 60)
    return time.monotonic() - started


async def unanswered(app, node: str) -> list:
    """The node's attempts whose create request has had no answer recorded."""
    return await rows(
        app,
        select(attempts.c.id).where(
            attempts.c.node == node, attempts.c.state.in_(["intent", "unknown"])
        ),
    )


async def test_a_node_sigtermed_mid_campaign_exits_cleanly_and_the_other_finishes_it(
    app, company, database_url
):
    if database_url.startswith("sqlite"):
        pytest.skip("several nodes share one PostgreSQL database")
    numbers = numbers_in_calling_hours(36)
    async with app.transaction() as conn:
        await accounts.set_countries(conn, company, COUNTRIES)
    await add_leads(app, company, "spring", [(n, "") for n in numbers])
    anytime = "\n".join(x for x in CAMPAIGN.splitlines() if not x.startswith("window"))
    # Twelve seconds of placing, never held up by the concurrency: both nodes place all along.
    paced = anytime.replace("attempts_per_second = 10", "attempts_per_second = 3")
    await create(app, company, paced.replace("max_concurrent = 20", "max_concurrent = 40"))
    ports = [free_port(), free_port()]
    carrier, carrier_url = await simulator()
    try:
        async with (
            FaultProxy(carrier_url, stall=ANSWER_AFTER) as slow,
            Balancer([f"http://127.0.0.1:{p}" for p in ports]) as balancer,
        ):
            slow.set_mode(Mode.FORWARD_THEN_STALL, route=Route.CALLS)
            env = {
                **os.environ,
                "DIALER_DATABASE_URL": database_url,
                "DIALER_LOG_LEVEL": "WARNING",
                "DIALER_PUBLIC_URL": balancer.url,
                "DIALER_TICK_SECONDS": "0.5",
                "DIALER_CARRIER": "twilio",
                "DIALER_CARRIER_URL": slow.url,
                "DIALER_CARRIER_ACCOUNT_SID": SID,
                "DIALER_CARRIER_AUTH_TOKEN": TOKEN,
            }
            async with AsyncExitStack() as stack:
                first, second = [await serve(env, port) for port in ports]
                for node in (first, second):
                    stack.callback(kill_if_running, node)
                async with asyncio.timeout(20):
                    # Mid-campaign, at a moment when the first node has requests under way.
                    while len(await carrier_calls(carrier_url)) < 6:
                        assert first.returncode is None, "serve exited early"
                        await asyncio.sleep(0.05)
                    [(first_node,)] = await rows(
                        app, select(nodes.c.node_id).where(nodes.c.pid == first.pid)
                    )
                    earlier = set(await unanswered(app, first_node))
                    while not set(await unanswered(app, first_node)) - earlier:
                        assert first.returncode is None, "serve exited early"
                        await asyncio.sleep(0.02)

                told = datetime.now(UTC)  # just after an intent: its answer is ANSWER_AFTER away
                took = await stopped(first)

                left = await unanswered(app, first_node)
                [(stopped_at, last_heartbeat)] = await rows(
                    app,
                    select(nodes.c.stopped_at, nodes.c.heartbeat_at).where(
                        nodes.c.node_id == first_node
                    ),
                )
                async with asyncio.timeout(60):
                    while (await campaign(app, company, "spring")).state is not (
                        CampaignState.COMPLETED
                    ):
                        assert second.returncode is None, "the survivor exited early"
                        await asyncio.sleep(0.2)
                survivor_took = await stopped(second)
        calls = await carrier_calls(carrier_url)
    finally:
        carrier.kill()
        await carrier.wait()

    assert (first.returncode, second.returncode) == (0, 0)
    assert took < EXIT_WITHIN
    assert survivor_took < EXIT_WITHIN
    assert left == []
    assert stopped_at is not None
    # It stayed alive while it waited: no other node took back the leads it still held.
    assert last_heartbeat > told
    assert sorted(call["to"] for call in calls) == sorted(numbers)
    recorded = await rows(app, select(attempts.c.number, attempts.c.state, attempts.c.status))
    ended = sorted(f"+{number}" for number, state, status in recorded if status == "ANSWERED")
    assert ended == sorted(numbers)
    assert {state for _, state, _ in recorded} <= {"ended", "not_placed"}
