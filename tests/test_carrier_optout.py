"""Texts the carrier refuses because the recipient opted out there (Twilio error 21610): the
simulator answers as Twilio does, the adapter names the refusal, and the engine puts the
number on the company's Do-Not-Text list and never texts it again. The same refusal reported
after the carrier accepted the text (a Messaging Service: status failed, ErrorCode 21610),
in its status callback or its fetched message, takes the same path."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import select
from structlog.testing import capture_logs
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from campaigns import CampaignState, repository
from campaigns.statuses import DEFAULT_STATUSES_PATH
from campaigns.tables import campaign_leads, skips
from compliance import DncList, Source, leads, registry
from compliance.tables import attempts
from dialer.carriers import CarrierError, Placement, TwilioCarrier
from dialer.carriers.simulator import InvalidScenario, Scenario, Simulator
from dialer.clock import SimClock
from dialer.dispatch.placing import REFUSALS_TO_PAUSE
from dialer.runner import simulated_engine
from tests.support import NOW
from tests.test_carriers import ACCOUNT as CARRIERS_ACCOUNT
from tests.test_carriers import TOKEN as CARRIERS_TOKEN
from tests.test_carriers import Receiver

ACCOUNT = "AC" + "6" * 32
TOKEN = "opt-out-test-token"
CALLER = "+13055550000"
CALLBACK = "http://127.0.0.1:9/status"
OPTED_OUT = "+13055550142"
DELIVERED = ["+13055550140", "+13055550141"]
SCENARIO = {
    "seed": 3,
    "default": {"delivered": 1.0, "answered": 1.0},
    "outcome": [{"match": "*42", "result": "opted-out"}],
}
# What Twilio answers a create to a recipient who replied STOP to the sender.
TWILIO_21610 = {
    "code": 21610,
    "message": "Attempt to send to unsubscribed recipient",
    "more_info": "https://www.twilio.com/docs/errors/21610",
    "status": 400,
}
REASON = "carrier error 21610: the recipient opted out at the carrier (replied STOP)"


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    async with Simulator(Scenario.from_dict(SCENARIO), ACCOUNT, TOKEN) as running:
        yield running


@pytest.fixture
async def carrier(simulator: Simulator) -> AsyncIterator[TwilioCarrier]:
    async with TwilioCarrier(ACCOUNT, TOKEN, base_url=simulator.url) as adapter:
        yield adapter


async def test_the_simulator_refuses_a_text_to_an_opted_out_number_as_twilio_does(simulator):
    url = f"{simulator.url}/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    form = {"To": OPTED_OUT, "From": CALLER, "Body": "Spring offer"}
    headers = {"Authorization": aiohttp.encode_basic_auth(ACCOUNT, TOKEN)}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.post(url, data=form) as answer:
            status, body = answer.status, json.loads(await answer.read())
        async with session.get(url) as listed:
            listing = await listed.json()

    assert (status, body) == (400, TWILIO_21610)
    assert listing["messages"] == []  # Twilio creates no message for it
    assert [(m["to"], m["body"]) for m in simulator.refused_messages] == [
        (OPTED_OUT, "Spring offer")
    ]


async def test_the_adapter_reports_the_refusal_as_an_opt_out_not_a_bad_number(carrier):
    with pytest.raises(CarrierError) as opted_out:
        await carrier.send_sms(OPTED_OUT, CALLER, "Spring offer", CALLBACK)
    with pytest.raises(CarrierError) as invalid:
        await carrier.send_sms("3055550150", CALLER, "Spring offer", CALLBACK)

    refusal = opted_out.value
    assert (refusal.placement, refusal.code, refusal.status) == (Placement.OPTED_OUT, 21610, 400)
    assert not refusal.retryable
    assert str(refusal) == "HTTP 400: Attempt to send to unsubscribed recipient"
    assert (invalid.value.placement, invalid.value.code) == (Placement.REJECTED, 21211)
    # Opting out of texts stops texts, not calls.
    assert await carrier.place_call(OPTED_OUT, CALLER, CALLBACK, "http://127.0.0.1:9/answer")


async def test_the_twilio_library_reads_the_refusal_as_error_21610(simulator):
    client = Client(ACCOUNT, TOKEN)
    client.api.base_url = simulator.url
    try:
        with pytest.raises(TwilioRestException) as refused:
            # The library is synchronous: in a thread, so the simulator can answer it.
            await asyncio.to_thread(
                client.messages.create, to=OPTED_OUT, from_=CALLER, body="Spring offer"
            )
    finally:
        client.http_client.session.close()

    assert (refused.value.status, refused.value.code) == (400, 21610)
    assert refused.value.msg == "Unable to create record: Attempt to send to unsubscribed recipient"


@pytest.mark.parametrize(
    ("scenario", "error"),
    [
        ({"default": {"opted-out": 1}}, "default: unknown field(s) opted-out"),
        (
            {"outcome": [{"match": "*42", "result": "opted-out", "digits": "9"}]},
            "outcome[0].digits: only an answered call presses keys, not opted-out",
        ),
        (
            {"outcome": [{"match": "*42", "result": "opted-out", "refused": "later"}]},
            "outcome[0].refused: 'later' is not one of on-create, after-accept",
        ),
        (
            {"outcome": [{"match": "*42", "result": "opted-out", "refused": True}]},
            "outcome[0].refused: True is not one of on-create, after-accept",
        ),
        (
            {"outcome": [{"match": "*42", "result": "undelivered", "refused": "after-accept"}]},
            "outcome[0].refused: only an opted-out text is refused, not undelivered",
        ),
    ],
    ids=["drawn-by-weight", "with-digits", "refused-unknown", "refused-not-text", "refused-alone"],
)
def test_an_opt_out_is_scripted_by_number_only(scenario, error):
    with pytest.raises(ValueError, match=f"^{re.escape(error)}$"):
        Scenario.from_dict(scenario)


SPRING = """
name = "spring"
channel = "sms"
leads = "spring"
caller_id = "+13055550000"
max_attempts = 3
max_concurrent = 20
attempts_per_second = 10
window = { start = "09:00", end = "20:00", days = ["mon", "tue", "wed", "thu", "fri", "sat"] }
retry = { FAILED = "10m" }
sms_body = "Hi {first_name}, our spring offer ends Friday. Reply STOP to opt out."
"""
SUMMER = SPRING.replace('name = "spring"', 'name = "summer"')
FAILED_FINAL = 'code = "FAILED"\nlabel = "Call failed"\nfinal = true'
# FAILED retried: only the carrier's word that the recipient opted out ends the lead.
FAILED_RETRIED = DEFAULT_STATUSES_PATH.read_text(encoding="utf-8").replace(
    FAILED_FINAL, FAILED_FINAL.replace("true", "false")
)


async def rows(app, query):
    async with app.transaction() as conn:
        return (await conn.execute(query)).all()


async def run(app, company, simulator_scenario: Scenario, name: str) -> tuple:
    async with simulated_engine(app, simulator_scenario, SimClock(NOW)) as (engine, sim):
        finished = await asyncio.wait_for(engine.run_until_done(company, name), 60)
    return finished, sim


# More opted-out numbers than the refusals in a row that pause placing: an opt-out is the
# carrier answering, not failing.
OPTED_OUTS = [f"+13055550{n}42" for n in range(1, REFUSALS_TO_PAUSE + 2)]


async def test_opted_out_numbers_are_texted_once_then_on_the_dnt_list_for_every_campaign(
    app, company
):
    records = (
        (row, {**dict.fromkeys(leads.LEAD_COLUMNS, ""), "phone": number, "state": "FL"})
        for row, number in enumerate([*OPTED_OUTS, *DELIVERED], start=2)
    )
    async with app.transaction() as conn:
        assert FAILED_FINAL in DEFAULT_STATUSES_PATH.read_text(encoding="utf-8")
        await repository.save_status_book(conn, company, FAILED_RETRIED, "test", NOW)
        await leads.import_leads(conn, company, records, "spring", NOW)
        await repository.create_campaign(conn, company, SPRING, NOW)
    scenario = Scenario.from_dict(SCENARIO)

    with capture_logs() as logged:
        finished, sim = await run(app, company, scenario, "spring")

    assert finished.state is CampaignState.COMPLETED
    assert "carrier.paused" not in [event["event"] for event in logged]
    # Each asked once, never again.
    assert Counter(m["to"] for m in sim.refused_messages) == Counter(OPTED_OUTS)
    assert Counter(m["to"] for m in sim.messages) == Counter(DELIVERED)
    keys = {int(number[1:]) for number in OPTED_OUTS}
    opted = [r for r in await rows(app, select(attempts)) if r.number in keys]
    assert len(opted) == len(OPTED_OUTS)
    assert {(r.state, r.result, r.status, r.carrier_status, r.carrier_sid) for r in opted} == {
        ("ended", "failed", "FAILED", "opted-out", None)
    }
    leads_of = select(campaign_leads).where(
        campaign_leads.c.lead_id.in_([r.lead_id for r in opted])
    )
    # Not retried, though the company's FAILED status is.
    assert {(q.state, q.attempts, q.outcome) for q in await rows(app, leads_of)} == {
        ("done", 1, "FAILED")
    }
    async with app.transaction() as conn:
        listed = [e async for e in registry.entries(conn, company, None, NOW)]
        events = [e async for e in (await registry.audit_events(conn, company)).rows]
    assert sorted((e.number, e.list_name, e.source, e.reason, e.added_by) for e in listed) == [
        (number, DncList.DNT, Source.SMS_KEYWORD, REASON, "engine") for number in OPTED_OUTS
    ]
    assert sorted(
        (e.action, e.list_name, e.number, e.lead_id, e.source, e.reason, e.actor) for e in events
    ) == [("add", "dnt", number, None, "sms_keyword", REASON, "engine") for number in OPTED_OUTS]

    async with app.transaction() as conn:
        await repository.create_campaign(conn, company, SUMMER, NOW)
    finished, sim = await run(app, company, scenario, "summer")

    assert finished.state is CampaignState.COMPLETED
    assert sim.refused_messages == []  # the next campaign never asks the carrier
    assert Counter(m["to"] for m in sim.messages) == Counter(DELIVERED)
    skipped = await rows(app, select(skips.c.number, skips.c.reason, skips.c.rule))
    assert sorted(skipped) == [(number, "COMPANY_DNT", "list:dnt") for number in OPTED_OUTS]


# --- the refusal reported after the carrier accepted the text -----------------------------

LATER = "+13055550143"  # accepted, then failed with 21610, as a Messaging Service does
LATER_SCENARIO = {
    "seed": 3,
    "default": {"delivered": 1.0},
    "outcome": [{"match": "*43", "result": "opted-out", "refused": "after-accept"}],
}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """Status callbacks, their signatures checked as the twilio library checks them."""
    receiver = Receiver()
    await receiver.server.start_server()
    yield receiver
    await receiver.server.close()


async def test_the_simulator_accepts_then_fails_a_text_to_an_opted_out_number(receiver):
    scenario = Scenario.from_dict(LATER_SCENARIO)
    async with (
        Simulator(scenario, CARRIERS_ACCOUNT, CARRIERS_TOKEN) as simulator,
        TwilioCarrier(CARRIERS_ACCOUNT, CARRIERS_TOKEN, base_url=simulator.url) as carrier,
    ):
        sid = await carrier.send_sms(LATER, CALLER, "Spring offer", receiver.url)
        await simulator.drain()
        fetched = await carrier.fetch_status(sid, "sms")
        client = Client(CARRIERS_ACCOUNT, CARRIERS_TOKEN)
        client.api.base_url = simulator.url
        try:
            message = await asyncio.to_thread(client.messages(sid).fetch)
        finally:
            client.http_client.session.close()

    assert simulator.refused_messages == []  # a message was made: it has a sid
    assert receiver.statuses(sid) == ["queued", "failed"]
    reported = receiver.events[-1]
    assert reported.raw["ErrorCode"] == "21610"
    assert (reported.final, reported.result, reported.error_code, reported.opted_out) == (
        True,
        "undelivered",
        21610,
        True,
    )
    assert (fetched.status, fetched.error_code, fetched.opted_out) == ("failed", 21610, True)
    # The official library reads the resource as Twilio's.
    assert (message.status, message.error_code) == ("failed", 21610)
    assert message.error_message == "Attempt to send to unsubscribed recipient"


async def test_an_undelivered_text_names_its_error_and_is_no_opt_out(receiver):
    async with (
        Simulator(Scenario(default={"undelivered": 1.0}), CARRIERS_ACCOUNT, CARRIERS_TOKEN) as sim,
        TwilioCarrier(CARRIERS_ACCOUNT, CARRIERS_TOKEN, base_url=sim.url) as carrier,
    ):
        sid = await carrier.send_sms(LATER, CALLER, "Spring offer", receiver.url)
        await sim.drain()
        fetched = await carrier.fetch_status(sid, "sms")

    assert (receiver.events[-1].error_code, receiver.events[-1].opted_out) == (30003, False)
    assert (fetched.status, fetched.error_code, fetched.opted_out) == ("undelivered", 30003, False)


@pytest.mark.parametrize(
    ("params", "code", "opted_out"),
    [
        ({"MessageStatus": "failed", "ErrorCode": "21610"}, 21610, True),
        ({"MessageStatus": "undelivered", "ErrorCode": "21610"}, 21610, True),
        ({"MessageStatus": "undelivered", "ErrorCode": "30003"}, 30003, False),
        ({"MessageStatus": "failed"}, None, False),
        ({"MessageStatus": "failed", "ErrorCode": ""}, None, False),
        ({"MessageStatus": "failed", "ErrorCode": "21610x"}, None, False),
        ({"MessageStatus": "failed", "ErrorCode": "-21610"}, None, False),
        ({"MessageStatus": "failed", "ErrorCode": "２１６１０"}, None, False),  # fullwidth digits
        ({"MessageStatus": "sent", "ErrorCode": "21610"}, 21610, False),  # not failed (yet)
    ],
    ids=["failed", "undelivered", "other-error", "none", "empty", "junk", "signed", "fullwidth",
         "not-final"],
)  # fmt: skip
def test_a_callback_says_opted_out_only_for_a_failed_text_with_error_21610(params, code, opted_out):
    event = TwilioCarrier(ACCOUNT, TOKEN).parse_callback({"MessageSid": "SM1", **params})

    assert (event.error_code, event.opted_out) == (code, opted_out)


def test_a_call_with_error_21610_is_no_text_opt_out():
    params = {"CallSid": "CA1", "CallStatus": "failed", "ErrorCode": "21610"}

    assert not TwilioCarrier(ACCOUNT, TOKEN).parse_callback(params).opted_out


def test_a_scenario_file_with_a_bad_refused_names_the_field(tmp_path):
    path = tmp_path / "scenario.toml"
    path.write_text('[[outcome]]\nmatch = "*43"\nresult = "opted-out"\nrefused = "never"\n')

    with pytest.raises(InvalidScenario, match=r"outcome\[0\]\.refused: 'never' is not one of"):
        Scenario.from_toml(path)


LATER_OUTS = [f"+13055550{n}43" for n in range(1, 4)]


@pytest.mark.parametrize("reported_by", ["callback", "fetch"])
async def test_a_refusal_reported_after_accept_lists_the_number_and_ends_the_lead(
    app, company, reported_by
):
    records = (
        (row, {**dict.fromkeys(leads.LEAD_COLUMNS, ""), "phone": number, "state": "FL"})
        for row, number in enumerate([*LATER_OUTS, *DELIVERED], start=2)
    )
    async with app.transaction() as conn:
        await repository.save_status_book(conn, company, FAILED_RETRIED, "test", NOW)
        await leads.import_leads(conn, company, records, "spring", NOW)
        await repository.create_campaign(conn, company, SPRING, NOW)
    scenario = Scenario.from_dict(LATER_SCENARIO)

    async with simulated_engine(app, scenario, SimClock(NOW)) as (engine, sim):
        if reported_by == "fetch":
            # Every status callback is lost: only the carrier's message says what happened.
            sim.callback_retries = 0
            engine.callback_base = "http://127.0.0.1:9"
            engine.settle_timeout = 0.2
        finished = await asyncio.wait_for(engine.run_until_done(company, "spring"), 60)

    assert finished.state is CampaignState.COMPLETED
    # Each texted once (accepted, with a sid), never again.
    assert Counter(m["to"] for m in sim.messages) == Counter([*LATER_OUTS, *DELIVERED])
    assert sim.refused_messages == []
    lost = {params["To"] for params in sim.undelivered_callbacks}
    assert lost == (set(LATER_OUTS) | set(DELIVERED) if reported_by == "fetch" else set())
    sid_of = {m["to"]: m["sid"] for m in sim.messages}
    keys = {int(number[1:]) for number in LATER_OUTS}
    opted = [r for r in await rows(app, select(attempts)) if r.number in keys]
    assert {(r.state, r.result, r.status, r.carrier_status) for r in opted} == {
        ("ended", "failed", "FAILED", "opted-out")
    }
    assert sorted(r.carrier_sid for r in opted) == sorted(sid_of[n] for n in LATER_OUTS)
    leads_of = select(campaign_leads).where(
        campaign_leads.c.lead_id.in_([r.lead_id for r in opted])
    )
    # Not retried, though the company's FAILED status is.
    assert {(q.state, q.attempts, q.outcome) for q in await rows(app, leads_of)} == {
        ("done", 1, "FAILED")
    }
    async with app.transaction() as conn:
        listed = [e async for e in registry.entries(conn, company, None, NOW)]
    assert sorted((e.number, e.list_name, e.source, e.reason, e.added_by) for e in listed) == [
        (number, DncList.DNT, Source.SMS_KEYWORD, REASON, "engine") for number in LATER_OUTS
    ]

    async with app.transaction() as conn:
        await repository.create_campaign(conn, company, SUMMER, NOW)
    finished, sim = await run(app, company, scenario, "summer")

    assert finished.state is CampaignState.COMPLETED
    assert Counter(m["to"] for m in sim.messages) == Counter(DELIVERED)
    skipped = await rows(app, select(skips.c.number, skips.c.reason, skips.c.rule))
    assert sorted(skipped) == [(number, "COMPANY_DNT", "list:dnt") for number in LATER_OUTS]
