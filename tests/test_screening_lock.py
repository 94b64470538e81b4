"""Every change the gate reads waits for a screening in progress, on both backends.

The engine screens a batch and commits its dial intents in one transaction holding the
screening lock. A DNC upload, a removal, a lead's channel change, a blackout or an opt-out
by text that starts meanwhile commits only after it, so a change that committed first was
seen by the batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns.inbound import InboundText, receive
from campaigns.keywords import load_keyword_actions
from compliance import Company, DncList, LeadChannel, Role, Source, accounts, leads, registry
from compliance.blackouts import add_blackout
from compliance.numbers import add_sending_numbers
from tests.support import NOW

NUMBER = "+13055550101"
Change = Callable[[AsyncConnection, Company], Awaitable[object]]


async def import_file(conn: AsyncConnection, company: Company) -> None:
    rows = [(2, "305-555-0101"), (3, "305-555-0102")]
    await registry.import_numbers(
        conn, company, rows, DncList.DNC, reason="upload", actor="ana", now=NOW
    )


async def remove_number(conn: AsyncConnection, company: Company) -> None:
    user = await accounts.find_user(conn, company, "root")
    await registry.remove_numbers(
        conn, company, [NUMBER], DncList.DNC, reason="mistake", user=user, by="root", now=NOW
    )


async def block_lead_phone(conn: AsyncConnection, company: Company) -> None:
    lead = await leads.find_lead(conn, company, "L1")
    await leads.set_lead_channels(
        conn, company, lead, frozenset({LeadChannel.PHONE}), reason="asked", by="ana", now=NOW
    )


async def text_stop(conn: AsyncConnection, company: Company) -> None:
    await add_sending_numbers(conn, company, ["+13055550100"], NOW)
    text = InboundText("SM1", "+13055550102", "+13055550100", "STOP")
    await receive(conn, text, NOW, load_keyword_actions())


async def declare_blackout(conn: AsyncConnection, company: Company) -> None:
    await add_blackout(
        conn,
        company,
        "LA",
        NOW,
        NOW + timedelta(days=3),
        reason="hurricane",
        source="JBE 2026-12",
        by="ana",
        now=NOW,
    )


@pytest.fixture
async def listed(engine, company):
    """A lead L1 and a listed number, and an admin who may remove it."""
    record = {**dict.fromkeys(leads.LEAD_COLUMNS, ""), "phone": NUMBER, "external_id": "L1"}
    async with engine.begin() as conn:
        await leads.import_leads(conn, company, [(2, record)], "spring", NOW)
        await accounts.add_user(conn, company, "root", Role.ADMIN, False, NOW)
        await registry.add_numbers(
            conn,
            company,
            [NUMBER],
            DncList.DNC,
            source=Source.MANUAL,
            reason="asked",
            actor="ana",
            now=NOW,
        )
    return company


@pytest.mark.parametrize(
    "change",
    [import_file, remove_number, block_lead_phone, declare_blackout, text_stop],
    ids=["dnc import", "dnc remove", "lead channels", "blackout", "inbound STOP"],
)
async def test_a_change_the_gate_reads_waits_for_a_screening_in_progress(
    engine, listed, change: Change
):
    async with engine.connect() as screening:
        await screening.begin()
        await registry.lock_for_screening(screening, listed)

        async def make_change() -> None:
            async with engine.begin() as conn:
                await change(conn, listed)

        changing = asyncio.create_task(make_change())
        await asyncio.sleep(0.5)
        assert not changing.done()
        await screening.commit()
    await asyncio.wait_for(changing, timeout=10)
