"""What an inbound text does is data: the lead_dnc and lead_status actions of the call
statuses' vocabulary act on the sender's own leads, on both backends."""

from __future__ import annotations

import tomllib

import pytest
from sqlalchemy import select

from campaigns.inbound import InboundText, receive
from campaigns.keywords import DEFAULT_KEYWORDS_PATH, parse_keyword_actions
from compliance import LeadChannel, leads
from compliance.numbers import add_sending_numbers
from compliance.tables import dnc_entries, dnc_events
from tests.support import NOW

OURS = "+13055550100"
SENDER = "+13055550142"
# A company that places no automated calls narrows a text's opt-out to texts.
NARROWED = ["company_dnt", "lead_dnc:sms", "lead_status:opted out"]


@pytest.fixture
def actions():
    data = tomllib.loads(DEFAULT_KEYWORDS_PATH.read_text(encoding="utf-8"))
    data["action"]["opt_out"]["actions"] = NARROWED
    return parse_keyword_actions(data)


@pytest.fixture
async def lead(app, company):
    record = {**dict.fromkeys(leads.LEAD_COLUMNS, ""), "phone": SENDER, "external_id": "L1"}
    async with app.transaction() as conn:
        await add_sending_numbers(conn, company, [OURS], NOW)
        await leads.import_leads(conn, company, [(2, record)], "spring", NOW)
        return await leads.find_lead(conn, company, "L1")


async def stop(app, actions, sid: str = "SM1", sender: str = SENDER):
    async with app.transaction() as conn:
        return await receive(conn, InboundText(sid, sender, OURS, "STOP"), NOW, actions)


async def test_a_stop_blocks_the_senders_lead_channel_and_sets_its_status(
    app, company, actions, lead
):
    received = await stop(app, actions)

    assert received.action == ", ".join(NARROWED) + " added"
    async with app.transaction() as conn:
        found = await leads.get_lead(conn, company, lead.id)
        listed = (await conn.execute(select(dnc_entries.c.list_name, dnc_entries.c.source))).all()
        audited = (
            await conn.execute(
                select(dnc_events.c.channels, dnc_events.c.source, dnc_events.c.reason).where(
                    dnc_events.c.lead_id == lead.id
                )
            )
        ).all()
    assert found.status == "opted out"
    assert found.dnc.channels == frozenset({LeadChannel.SMS})
    assert listed == [("dnt", "sms_keyword")]
    assert audited == [("sms", "sms_keyword", "text 'STOP' (SM1)")]


async def test_a_second_stop_changes_nothing_more(app, company, actions, lead):
    await stop(app, actions)
    async with app.transaction() as conn:
        events_before = len((await conn.execute(select(dnc_events))).all())

    again = await stop(app, actions, sid="SM2")

    assert (again.action, again.reply) == ("already listed", None)
    async with app.transaction() as conn:
        assert len((await conn.execute(select(dnc_events))).all()) == events_before


async def test_the_lead_actions_of_a_sender_without_a_lead_do_nothing(app, company, actions, lead):
    received = await stop(app, actions, sender="+13055550143")

    assert received.action == "company_dnt added"
    async with app.transaction() as conn:
        untouched = await leads.get_lead(conn, company, lead.id)
    assert (untouched.status, untouched.dnc) == ("new", None)
