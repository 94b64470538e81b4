"""A campaign report's opt-outs, on both backends: a key pressed on a call, a STOP text, a
text presumed to revoke consent and a text the carrier refused as opted out, each counted
for the campaign that last contacted the number, never for an older one that texted it
before."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from datetime import timedelta

from sqlalchemy import insert

from campaigns import CampaignState, repository
from campaigns.reports import campaign_report
from campaigns.tables import inbound_messages
from compliance import accounts, leads, to_key
from compliance.tables import attempts
from dialer.carriers.simulator import Scenario
from dialer.clock import SimClock
from dialer.runner import simulated_engine
from tests.support import NOW

TEXTS = """
name = "{name}"
channel = "sms"
leads = "texted"
caller_id = "+13055550000"
max_attempts = 1
max_concurrent = 20
attempts_per_second = 10
window = {{ start = "09:00", end = "20:00", days = ["mon", "tue", "wed", "thu", "fri"] }}
sms_body = "Hi {{first_name}}, our {name} offer ends Friday. Reply STOP to opt out."
"""
CALLS = """
name = "calls"
channel = "voice"
leads = "called"
caller_id = "+13055550001"
max_attempts = 1
max_concurrent = 20
attempts_per_second = 10
window = { start = "09:00", end = "20:00", days = ["mon", "tue", "wed", "thu", "fri"] }
ivr_optout_digit = "9"
"""
STOPS = "+13055550161"  # texts STOP
PRESUMED = "+13055550162"  # texts "please stop texting me"
REFUSED = "+13055550163"  # the carrier refuses texts to it: it opted out there
QUIET = "+13055550164"  # the text is delivered, no answer
PRESSES_NINE = "+13055550171"  # answers the call and presses the opt-out key
HANGS_UP = "+13055550172"  # answers, presses nothing
NONE = {"ivr_keypress": 0, "sms_keyword": 0, "sms_presumed": 0}


async def _import(app, company, numbers: list[str], list_name: str) -> None:
    records = (
        (row, {**dict.fromkeys(leads.LEAD_COLUMNS, ""), "phone": number, "state": "FL"})
        for row, number in enumerate(numbers, start=2)
    )
    async with app.transaction() as conn:
        await leads.import_leads(conn, company, records, list_name, NOW)


async def _run(app, company, scenario: Scenario, name: str, start) -> None:
    async with simulated_engine(app, scenario, SimClock(start)) as (engine, sim):
        finished = await asyncio.wait_for(engine.run_until_done(company, name), 60)
        await sim.drain()  # the replies, answered while the webhooks still listen
    assert finished.state is CampaignState.COMPLETED


async def _opt_outs(app, company, name: str) -> dict[str, int]:
    async with app.transaction() as conn:
        return (await campaign_report(conn, company, name)).opt_outs


async def test_each_way_of_opting_out_counts_for_the_campaign_that_last_contacted_the_number(
    app, company, dialer
):
    await _import(app, company, [STOPS, PRESUMED, REFUSED, QUIET], "texted")
    await _import(app, company, [PRESSES_NINE, HANGS_UP], "called")
    async with app.transaction() as conn:
        for name in ("autumn", "spring"):
            await repository.create_campaign(conn, company, TEXTS.format(name=name), NOW)
        await repository.create_campaign(conn, company, CALLS, NOW)
    spring = Scenario.from_dict(
        {
            "outcome": [{"match": REFUSED, "result": "opted-out"}],
            "reply": [
                {"match": STOPS, "body": "STOP", "delay": 0},
                {"match": PRESUMED, "body": "please stop texting me", "delay": 0},
            ],
        }
    )
    calls = Scenario.from_dict(
        {
            "outcome": [
                {"match": PRESSES_NINE, "result": "answered", "digits": "9"},
                {"match": HANGS_UP, "result": "answered"},
            ]
        }
    )

    # Autumn texts every number first; spring texts them an hour later, and they answer it.
    await _run(app, company, Scenario(), "autumn", NOW)
    await _run(app, company, spring, "spring", NOW + timedelta(hours=1))
    await _run(app, company, calls, "calls", NOW + timedelta(hours=2))

    assert await _opt_outs(app, company, "spring") == {
        "ivr_keypress": 0,
        "sms_keyword": 2,  # the STOP, and the carrier's refusal
        "sms_presumed": 1,
    }
    assert await _opt_outs(app, company, "autumn") == NONE
    assert await _opt_outs(app, company, "calls") == {**NONE, "ivr_keypress": 1}

    # The command runs its own event loop: in a thread.
    def report(*args: str):
        # The command runs its own event loop: in a thread.
        return asyncio.to_thread(dialer, "report", *args, "--company", "acme")

    as_json = await report("spring", "--format", "json")
    table = await report("calls")
    untouched = await report("autumn")
    untouched_json = await report("autumn", "--format", "json")

    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout)["opt_outs"] == {
        "ivr_keypress": 0,
        "sms_keyword": 2,
        "sms_presumed": 1,
    }
    assert table.exit_code == 0, table.output
    section = table.stdout.split("Opt-outs, by how they came")[1]
    cells = [re.findall(r"[\w-]+", line) for line in section.splitlines()]
    assert ["ivr_keypress", "1"] in cells
    assert ["sms_keyword", "0"] in cells
    assert ["sms_presumed", "0"] in cells
    # A campaign without opt-outs shows each way, at 0.
    assert "sms_presumed" in untouched.stdout
    assert json.loads(untouched_json.stdout)["opt_outs"] == NONE


async def test_a_text_counts_once_per_sender_for_its_last_placed_attempt_before_it(app, company):
    """Seeded rows: what the attribution keeps and leaves out."""
    numbers = [f"+1305555018{n}" for n in range(6)]
    async with app.transaction() as conn:
        other, _ = await accounts.ensure_company(conn, "other", NOW)
        await repository.seed_status_book(conn, other, NOW)
    await _import(app, company, numbers, "texted")
    await _import(app, other, numbers, "texted")
    async with app.transaction() as conn:
        older = await repository.create_campaign(conn, company, TEXTS.format(name="autumn"), NOW)
        newer = await repository.create_campaign(conn, company, TEXTS.format(name="spring"), NOW)
        theirs = await repository.create_campaign(
            conn, other, TEXTS.format(name="spring").replace("0000", "0009"), NOW
        )

        def attempt(owner, campaign, number, minutes, state="ended"):
            return {
                "company_id": owner.id,
                "campaign_id": campaign.id,
                "number": to_key(number),
                "channel": "sms",
                "placed_at": NOW + timedelta(minutes=minutes),
                "state": state,
            }

        sids = itertools.count(1)

        def text(owner, number, minutes, classification="opt_out"):
            return {
                "company_id": owner.id,
                "message_sid": f"SM{next(sids):032x}",
                "from_number": to_key(number),
                "to_number": to_key("+13055550000"),
                "body": "STOP",
                "received_at": NOW + timedelta(minutes=minutes),
                "classification": classification,
            }

        a, b, c, d, e, f = numbers
        await conn.execute(
            insert(attempts),
            [
                attempt(company, older, a, 0),
                attempt(company, newer, a, 10),
                attempt(company, newer, b, 10),
                attempt(company, older, c, 0),
                attempt(company, newer, c, 10, state="not_placed"),  # never reached it
                attempt(company, older, d, 0),
                attempt(company, newer, d, 30),  # after the text
                attempt(company, newer, e, 10),
                attempt(other, theirs, f, 0),
                attempt(company, newer, f, 10),
            ],
        )
        await conn.execute(
            insert(inbound_messages),
            [
                text(company, a, 20),
                text(company, a, 21),  # the same sender again: counted once
                text(company, a, 22, "opt_out_presumed"),
                text(company, b, 10, "opt_out_presumed"),  # as it was placed: its campaign's
                text(company, c, 20),
                text(company, d, 20),
                text(company, e, 20, "opt_in"),  # no opt-out
                text(company, e, 21, "other"),
                text(other, f, 20),  # another company's text
                text(company, "+13055550189", 20),  # never contacted
            ],
        )
        spring = (await campaign_report(conn, company, "spring")).opt_outs
        autumn = (await campaign_report(conn, company, "autumn")).opt_outs
        their_spring = (await campaign_report(conn, other, "spring")).opt_outs

    assert spring == {"ivr_keypress": 0, "sms_keyword": 1, "sms_presumed": 2}
    assert autumn == {"ivr_keypress": 0, "sms_keyword": 2, "sms_presumed": 0}
    assert their_spring == {**NONE, "sms_keyword": 1}
