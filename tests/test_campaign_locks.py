"""A campaign's change of state and what it checks agree across concurrent transactions.

On PostgreSQL two transactions run at once, each reading what was committed when its
statement began; SQLite has one writer, so these races are PostgreSQL's alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import pytest
from sqlalchemy import select, text, update

from campaigns import CampaignAction, CampaignState, InvalidDefinition, repository
from campaigns.statuses import DEFAULT_STATUSES_PATH
from campaigns.tables import campaign_leads
from compliance import leads
from tests.support import NOW
from tests.test_engine import CAMPAIGN

pytestmark = [
    pytest.mark.postgresql,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]

OPT_OUT_BLOCKS_NOTHING = DEFAULT_STATUSES_PATH.read_text(encoding="utf-8").replace(
    'actions = ["company_dnc"]\n', ""
)


def lead(number: str, external_id: str) -> dict[str, str]:
    row = {column: "" for column in leads.LEAD_COLUMNS}
    return row | {"phone": number, "external_id": external_id}


async def waits_for_a_lock(engine, work: asyncio.Task) -> None:
    """Return once `work` waits for a lock another transaction holds (or has ended)."""
    async with engine.connect() as observer:
        while not work.done():
            waiting = await observer.execute(
                text("SELECT count(*) FROM pg_locks WHERE NOT granted")
            )
            if waiting.scalar_one():
                return
            await asyncio.sleep(0.01)


async def concurrently(engine, first: Awaitable[None], second) -> asyncio.Task:
    """Run `first` in an open transaction, then `second(conn)` in another while the first is
    still uncommitted; commit the first once the second waits for it. The second's task."""
    async with engine.connect() as conn:
        await conn.begin()
        await first(conn)
        task = asyncio.create_task(_in_transaction(engine, second))
        await waits_for_a_lock(engine, task)
        await conn.commit()
    await asyncio.wait([task])
    return task


async def _in_transaction(engine, work):
    async with engine.begin() as conn:
        return await work(conn)


async def test_a_campaign_is_not_completed_while_an_import_adds_leads_to_it(engine, company):
    async with engine.begin() as conn:
        await leads.import_leads(conn, company, [(2, lead("305-555-0101", "A"))], "spring", NOW)
        await repository.seed_status_book(conn, company, NOW)
        await repository.create_campaign(conn, company, CAMPAIGN, NOW)
        spring = await repository.change_state(conn, company, "spring", CampaignAction.START, NOW)
        await conn.execute(update(campaign_leads).values(state="done", outcome="ANSWERED"))

    async def import_more(conn) -> None:
        records = [(2, lead("212-555-0102", "B"))]
        await leads.import_leads(conn, company, records, "spring", NOW)
        assert await repository.enroll_new_leads(conn, company, "spring", NOW) == {"spring": 1}

    completing = await concurrently(
        engine, import_more, lambda conn: repository.complete_if_done(conn, company, spring, NOW)
    )

    assert completing.result() is False
    async with engine.connect() as conn:
        assert (await repository.find_campaign(conn, company, "spring")).state is (
            CampaignState.RUNNING
        )
        queued = await conn.execute(select(campaign_leads.c.state))
        assert sorted(queued.scalars()) == ["done", "queued"]


async def test_a_campaign_start_checks_the_statuses_a_concurrent_load_commits(engine, company):
    async with engine.begin() as conn:
        await leads.import_leads(conn, company, [(2, lead("305-555-0101", "A"))], "spring", NOW)
        await repository.seed_status_book(conn, company, NOW)
        await repository.create_campaign(conn, company, CAMPAIGN, NOW)

    async def load(conn) -> None:
        await repository.save_status_book(conn, company, OPT_OUT_BLOCKS_NOTHING, "ana", NOW)

    starting = await concurrently(
        engine,
        load,
        lambda conn: repository.change_state(conn, company, "spring", CampaignAction.START, NOW),
    )

    with pytest.raises(InvalidDefinition, match="DNC_REQUESTED, which blocks nothing"):
        starting.result()
    async with engine.connect() as conn:
        assert (await repository.find_campaign(conn, company, "spring")).state is (
            CampaignState.DRAFT
        )
