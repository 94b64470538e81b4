"""Campaign tick leases, on both databases: across nodes, one node paces a campaign per
interval, so attempts_per_second and max_concurrent hold in total."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from campaigns import Campaign, repository
from campaigns.tables import campaign_ticks
from compliance import leads, to_key
from compliance.tables import leads as leads_table
from dialer.database import create_engine
from dialer.scheduling.leases import acquire_tick
from tests.support import NOW

SECOND = timedelta(seconds=1)
INSTANT = timedelta(microseconds=1)
CAMPAIGN = """
name = "{name}"
channel = "voice"
ivr_optout_digit = "9"
leads = "spring"
caller_id = "+13055550000"
max_attempts = 3
max_concurrent = 20
attempts_per_second = 10
window = {{ start = "09:00", end = "20:00", days = ["mon", "tue", "wed", "thu", "fri"] }}
retry = {{ NO_ANSWER = "4h", BUSY = "30m", MACHINE = "1d" }}
"""


async def _campaign(engine: AsyncEngine, company, name: str) -> Campaign:
    async with engine.begin() as conn:
        if not await leads.list_exists(conn, company, "spring"):
            await conn.execute(
                insert(leads_table).values(
                    company_id=company.id,
                    lead_list="spring",
                    phone_raw="305-555-0101",
                    phone=to_key("+13055550101"),
                    created_at=NOW,
                )
            )
        return await repository.create_campaign(conn, company, CAMPAIGN.format(name=name), NOW)


@pytest.fixture
async def campaign(engine, company) -> Campaign:
    return await _campaign(engine, company, "spring")


@asynccontextmanager
async def _node_engines(url: str, count: int) -> AsyncIterator[list[AsyncEngine]]:
    """An engine per node, as separate processes would have."""
    engines = [create_engine(url) for _ in range(count)]
    try:
        yield engines
    finally:
        for engine in engines:
            await engine.dispose()


async def _acquire(engine: AsyncEngine, campaign: Campaign, node: str, at) -> bool:
    async with engine.begin() as conn:
        return await acquire_tick(conn, campaign.id, node, at, SECOND)


async def _holder(engine: AsyncEngine, campaign: Campaign) -> str:
    async with engine.begin() as conn:
        return (
            await conn.execute(
                select(campaign_ticks.c.node_id).where(campaign_ticks.c.campaign_id == campaign.id)
            )
        ).scalar_one()


async def test_two_grants_are_never_less_than_an_interval_apart(engine, campaign):
    # Intervals fixed on the clock would grant at 0.75 s and again at 1.0 s: a second's
    # worth of calls twice within a quarter of a second.
    assert await _acquire(engine, campaign, "node-a", NOW + 3 * SECOND / 4)

    assert not await _acquire(engine, campaign, "node-b", NOW + SECOND)
    assert not await _acquire(engine, campaign, "node-b", NOW + 7 * SECOND / 4 - INSTANT)
    assert await _acquire(engine, campaign, "node-b", NOW + 7 * SECOND / 4)


async def test_the_first_node_to_ask_paces_the_campaign_for_the_interval(engine, campaign):
    assert await _acquire(engine, campaign, "node-a", NOW)
    assert not await _acquire(engine, campaign, "node-b", NOW)
    assert not await _acquire(engine, campaign, "node-a", NOW + SECOND / 2)
    assert await _holder(engine, campaign) == "node-a"


async def test_a_nodes_lease_lasts_only_the_interval(engine, campaign):
    await _acquire(engine, campaign, "node-a", NOW)

    assert not await _acquire(engine, campaign, "node-b", NOW + SECOND - INSTANT)
    assert await _acquire(engine, campaign, "node-b", NOW + SECOND)
    assert await _holder(engine, campaign) == "node-b"
    assert await _acquire(engine, campaign, "node-a", NOW + 2 * SECOND)


async def test_each_campaign_has_its_own_lease(engine, company, campaign):
    autumn = await _campaign(engine, company, "autumn")

    assert await _acquire(engine, campaign, "node-a", NOW)
    assert await _acquire(engine, autumn, "node-b", NOW)


async def test_exactly_one_of_twenty_racing_nodes_wins_each_interval(database_url, campaign):
    racers = 20
    async with _node_engines(database_url, racers) as engines:

        async def race(engine: AsyncEngine, node: str, barrier: asyncio.Barrier, at) -> bool:
            async with engine.connect() as conn:
                await barrier.wait()  # every node asks at the same moment
                async with conn.begin():
                    won = await acquire_tick(conn, campaign.id, node, at, SECOND)
                    await asyncio.sleep(0.01)  # hold the lease while the others ask
                    return won

        for interval in range(3):  # the first race inserts the lease row, later ones update it
            at = NOW + interval * SECOND + SECOND / 2
            barrier = asyncio.Barrier(racers)
            wins = await asyncio.gather(
                *(race(engine, f"node-{i}", barrier, at) for i, engine in enumerate(engines))
            )
            assert wins.count(True) == 1
            assert await _holder(engines[0], campaign) == f"node-{wins.index(True)}"


async def test_the_next_intervals_winner_waits_for_a_tick_that_outlasts_its_interval(
    database_url, campaign
):
    async with _node_engines(database_url, 2) as (slow, quick):
        async with slow.begin() as conn:
            assert await acquire_tick(conn, campaign.id, "slow", NOW, SECOND)
            next_interval = asyncio.create_task(_acquire(quick, campaign, "quick", NOW + SECOND))
            await asyncio.sleep(0.3)
            assert not next_interval.done()  # it would count in-flight leads mid-tick

        assert await next_interval
