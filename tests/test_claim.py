"""Claiming due leads from a campaign's queue, on both backends: never more than asked
for, never one lead twice, whatever plan the database picks."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import insert, select, text, update

from campaigns import queue, repository
from campaigns.tables import campaign_leads
from compliance.tables import leads
from tests.support import NOW

LEASE_UNTIL = NOW + timedelta(minutes=5)
CAMPAIGN = """
name = "{name}"
channel = "voice"
leads = "{name}"
caller_id = "+13055550000"
max_attempts = 3
max_concurrent = 20
attempts_per_second = 10
retry = {{ NO_ANSWER = "4h", BUSY = "30m", MACHINE = "1d" }}
ivr_optout_digit = "9"
"""


async def campaign_of(conn, company, name: str, count: int, first_phone: int) -> int:
    """A campaign whose list holds `count` leads, all queued; returns its id."""
    await conn.execute(
        insert(leads),
        [
            {
                "company_id": company.id,
                "lead_list": name,
                "phone_raw": str(first_phone + index),
                "phone": first_phone + index,
                "created_at": NOW,
            }
            for index in range(count)
        ],
    )
    campaign = await repository.create_campaign(conn, company, CAMPAIGN.format(name=name), NOW)
    await queue.enqueue_list(conn, company.id, campaign.id, name, NOW)
    return campaign.id


async def claimed_count(engine, campaign_id: int) -> int:
    async with engine.begin() as conn:
        return (await queue.counts(conn, campaign_id)).get(queue.CLAIMED, 0)


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgresql)], indirect=True
)
async def test_a_claim_takes_no_more_than_its_limit_when_statistics_are_stale(engine, company):
    # A finished campaign, analyzed: the planner believes few rows are ever queued, and
    # so re-runs a LIMITed sub-select once per row, each run skipping the rows already
    # locked by the runs before, until every queued lead is taken.
    async with engine.begin() as conn:
        finished = await campaign_of(conn, company, "winter", 5000, 13055500000)
        await conn.execute(
            update(campaign_leads)
            .where(campaign_leads.c.campaign_id == finished)
            .values(state=queue.DONE)
        )
        await conn.execute(text("ANALYZE campaign_leads"))
    async with engine.begin() as conn:
        fresh = await campaign_of(conn, company, "spring", 500, 13125500000)

    async with engine.begin() as conn:
        # The planner's nested-loop choice, made certain whatever the server's version.
        await conn.execute(text("SET LOCAL enable_hashjoin = off"))
        await conn.execute(text("SET LOCAL enable_mergejoin = off"))
        claimed = await queue.claim(conn, fresh, 5, NOW, "node-a", LEASE_UNTIL)

    assert len(claimed) == 5
    assert await claimed_count(engine, fresh) == 5


async def test_claims_never_exceed_the_limit_and_take_the_earliest_due_first(engine, company):
    async with engine.begin() as conn:
        campaign_id = await campaign_of(conn, company, "spring", 12, 13055500000)
        queued = sorted((await conn.execute(select(campaign_leads.c.lead_id))).scalars())
        # The last lead falls due first: it must be taken first.
        await conn.execute(
            update(campaign_leads)
            .where(campaign_leads.c.lead_id == queued[-1])
            .values(due_at=NOW - timedelta(hours=1))
        )

    taken = []
    for _ in range(3):
        async with engine.begin() as conn:
            claimed = await queue.claim(conn, campaign_id, 5, NOW, "node-a", LEASE_UNTIL)
            taken.append([lead.lead_id for lead in claimed])

    assert taken == [sorted([queued[-1], *queued[:4]]), queued[4:9], queued[9:11]]
    assert await claimed_count(engine, campaign_id) == 12


async def test_two_engines_claiming_at_once_never_take_the_same_lead(engine, company):
    async with engine.begin() as conn:
        campaign_id = await campaign_of(conn, company, "spring", 40, 13055500000)
    both_claimed = asyncio.Barrier(2) if engine.dialect.name == "postgresql" else None

    async def claim_as(node: str) -> list[int]:
        async with engine.begin() as conn:
            claimed = await queue.claim(conn, campaign_id, 15, NOW, node, LEASE_UNTIL)
            if both_claimed:  # both transactions hold their locks at the same time
                await asyncio.wait_for(both_claimed.wait(), timeout=10)
            return [lead.lead_id for lead in claimed]

    first, second = await asyncio.gather(claim_as("node-a"), claim_as("node-b"))

    assert (len(first), len(second)) == (15, 15)
    assert not set(first) & set(second)
    leases = {lease.lead_id: lease.lease_node for lease in await in_flight(engine, campaign_id)}
    assert leases == dict.fromkeys(first, "node-a") | dict.fromkeys(second, "node-b")


async def in_flight(engine, campaign_id: int) -> list[queue.Lease]:
    async with engine.begin() as conn:
        return await queue.in_flight(conn, campaign_id)
