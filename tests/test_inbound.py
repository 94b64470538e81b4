"""Inbound texts on both backends: POST /webhooks/sms on a real aiohttp server, signed with the
twilio library as Twilio signs it; what each class does to the lists; exactly one
confirmation per opt-out; and a scripted STOP through the simulator blocking the next
campaign."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from bench.balancer import free_port
from campaigns import CampaignAction, repository
from campaigns.tables import inbound_messages, skips
from compliance import DncList, Source, accounts, leads, registry, sheets
from compliance import spam as spam_list
from compliance.numbers import add_sending_numbers
from compliance.tables import attempts, dnc_entries, dnc_events
from dialer.carriers import TwilioCarrier
from dialer.carriers.simulator import Reply, Scenario
from dialer.clock import SimClock, WallClock
from dialer.dispatch import Dispatcher
from dialer.runner import listening, simulated_engine
from tests.support import NOW
from tests.test_engine import COUNTRIES, numbers_in_calling_hours

ACCOUNT = "AC" + "5" * 32
TOKEN = "inbound-auth-token"
OURS = "+13055550100"  # the company's sending number
NOBODYS = "+13055550199"
SENDER = "+13055550142"
EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def answered_with(text: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{text}</Message></Response>'


class Webhooks:
    """The dialer's webhook server, and a carrier posting signed incoming texts to it."""

    def __init__(self, base: str, session: aiohttp.ClientSession) -> None:
        self.url = f"{base}/webhooks/sms"
        self.session = session
        self.validator = RequestValidator(TOKEN)
        self.sids = 0

    def fields(self, body: str, sender: str = SENDER, to: str = OURS) -> dict:
        self.sids += 1
        sid = f"SM{self.sids:032x}"
        return {"AccountSid": ACCOUNT, "MessageSid": sid, "From": sender, "To": to, "Body": body}

    async def post(self, params: dict, signature: str | None = None) -> tuple[int, str]:
        signed = signature or self.validator.compute_signature(self.url, params)
        headers = {"X-Twilio-Signature": signed}
        async with self.session.post(self.url, data=params, headers=headers) as response:
            return response.status, await response.text()

    async def text(self, body: str, **fields: str) -> tuple[int, str]:
        return await self.post(self.fields(body, **fields))


@pytest.fixture
async def webhooks(app, company) -> AsyncIterator[Webhooks]:
    async with app.transaction() as conn:
        await add_sending_numbers(conn, company, [OURS], NOW)
    async with TwilioCarrier(ACCOUNT, TOKEN) as carrier:
        dispatcher = Dispatcher(app, carrier, clock=SimClock(NOW))
        async with listening(dispatcher, "127.0.0.1", 0) as base, aiohttp.ClientSession() as s:
            yield Webhooks(base, s)


async def rows(app, query) -> list:
    async with app.transaction() as conn:
        return (await conn.execute(query)).all()


async def stored(app) -> list:
    return await rows(app, select(inbound_messages).order_by(inbound_messages.c.id))


async def replies(app, company):
    async with app.transaction() as conn:
        return await accounts.reply_texts(conn, company)


async def listed(app, number: str = SENDER) -> list:
    return await rows(
        app,
        select(dnc_entries.c.list_name, dnc_entries.c.source, dnc_entries.c.reason)
        .where(dnc_entries.c.number == int(number[1:]))
        .order_by(dnc_entries.c.list_name),
    )


async def test_stop_lists_the_sender_and_is_confirmed_once(app, company, webhooks):
    texts = await replies(app, company)

    first = await webhooks.text("STOP")
    again = await webhooks.text("stop")

    assert first == (200, answered_with(texts.opt_out))
    assert again == (200, EMPTY)
    [(list_name, source, reason)] = await listed(app)
    sid = (await stored(app))[0].message_sid
    assert (list_name, source, reason) == ("dnc", "sms_keyword", f"text 'STOP' ({sid})")
    messages = await stored(app)
    assert [(m.classification, m.action, m.reply) for m in messages] == [
        ("opt_out", "company_dnc added", texts.opt_out),
        ("opt_out", "already listed", None),
    ]
    assert [(m.company_id, m.from_number, m.to_number) for m in messages] == [
        (company.id, 13055550142, 13055550100)
    ] * 2


async def test_a_repeated_message_sid_changes_nothing_and_is_not_answered_again(
    app, company, webhooks
):
    params = webhooks.fields("STOP")
    first = await webhooks.post(params)
    events = await rows(app, select(func.count()).select_from(dnc_events))

    again = await webhooks.post(params)

    assert first[0] == 200
    assert "<Message>" in first[1]
    assert again == (200, EMPTY)
    assert len(await stored(app)) == 1
    assert await rows(app, select(func.count()).select_from(dnc_events)) == events


async def test_a_forged_text_is_refused_and_nothing_is_stored(app, webhooks):
    params = webhooks.fields("STOP")
    forged = RequestValidator("another-token").compute_signature(webhooks.url, params)

    assert (await webhooks.post(params, forged))[0] == 403
    assert await stored(app) == []
    assert await listed(app) == []


async def test_a_text_to_a_number_no_company_owns_is_stored_without_one(app, webhooks):
    answer = await webhooks.text("STOP", to=NOBODYS)

    assert answer == (200, EMPTY)
    [message] = await stored(app)
    assert (message.company_id, message.to_number, message.action) == (None, 13055550199, "none")
    assert await listed(app) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [("From", None), ("To", None), ("MessageSid", None), ("From", "ACME"), ("To", "+0123"),
     ("MessageSid", "SM" + "0" * 63)],
)  # fmt: skip
async def test_a_text_without_its_fields_is_refused_and_nothing_is_stored(
    app, webhooks, field, value
):
    params = webhooks.fields("STOP")
    if value is None:
        del params[field]
    else:
        params[field] = value

    status, text = await webhooks.post(params)

    assert status == 400
    assert field in text
    assert await stored(app) == []
    assert await listed(app) == []


async def test_a_plain_language_revocation_is_listed_confirmed_and_queued_for_review(
    app, company, webhooks
):
    texts = await replies(app, company)

    answer = await webhooks.text("please stop texting me")

    assert answer == (200, answered_with(texts.opt_out))
    [message] = await stored(app)
    assert (message.classification, message.review, message.keyword) == (
        "opt_out_presumed",
        "pending",
        "STOP",
    )
    assert [(name, source) for name, source, _ in await listed(app)] == [("dnc", "sms_keyword")]


async def test_start_removes_only_what_texts_added(app, company, webhooks):
    manual = "+13055550143"
    async with app.transaction() as conn:
        for number, list_name in ((SENDER, DncList.DNT), (manual, DncList.DNC)):
            await registry.add_numbers(
                conn, company, [number], list_name, source=Source.MANUAL, reason="asked",
                actor="ana", now=NOW,
            )  # fmt: skip
    texts = await replies(app, company)
    await webhooks.text("STOP")

    started = await webhooks.text("START")
    kept = await webhooks.text("UNSTOP", sender=manual)

    assert started == (200, answered_with(texts.opt_in))
    assert kept == (200, answered_with(texts.opt_in))
    assert await listed(app) == [("dnt", "manual", "asked")]
    assert await listed(app, manual) == [("dnc", "manual", "asked")]
    start_sid = (await stored(app))[1].message_sid
    removals = await rows(
        app, select(dnc_events.c.source, dnc_events.c.reason).where(dnc_events.c.action == "remove")
    )
    assert removals == [("sms_keyword", f"text 'START' ({start_sid})")]
    actions = [m.action for m in await stored(app)]
    assert actions[1:] == ["sms_keyword entries removed from company_dnc", "no sms_keyword entries"]


@pytest.mark.parametrize(
    "source", [Source.MANUAL, Source.UPLOAD, Source.STATUS_RULE, Source.IVR, Source.API]
)
async def test_start_never_removes_an_entry_another_source_added(app, company, webhooks, source):
    async with app.transaction() as conn:
        for list_name in DncList:
            await registry.add_numbers(
                conn, company, [SENDER], list_name, source=source, reason="asked",
                actor="ana", now=NOW,
            )  # fmt: skip

    await webhooks.text("START")

    assert await listed(app) == [("dnc", source.value, "asked"), ("dnt", source.value, "asked")]
    [message] = await stored(app)
    assert message.action == "no sms_keyword entries"


async def test_an_opt_out_after_an_opt_in_is_confirmed_again(app, company, webhooks):
    texts = await replies(app, company)

    answers = [await webhooks.text(body) for body in ("STOP", "START", "STOP")]

    assert [text for _, text in answers] == [
        answered_with(texts.opt_out),
        answered_with(texts.opt_in),
        answered_with(texts.opt_out),
    ]


async def test_a_sender_listed_by_hand_gets_one_confirmation(app, company, webhooks):
    async with app.transaction() as conn:
        await registry.add_numbers(
            conn, company, [SENDER], DncList.DNC, source=Source.MANUAL, reason="asked",
            actor="ana", now=NOW,
        )  # fmt: skip
    texts = await replies(app, company)

    answers = [await webhooks.text("STOP") for _ in range(2)]

    assert answers == [(200, answered_with(texts.opt_out)), (200, EMPTY)]
    assert await listed(app) == [("dnc", "manual", "asked")]


async def test_help_is_answered_with_the_companys_text_escaped(app, company, webhooks):
    async with app.transaction() as conn:
        await accounts.set_replies(conn, company, {accounts.Reply.HELP: "ACME <help> & co"})

    answer = await webhooks.text("help")

    assert answer == (200, answered_with("ACME &lt;help&gt; &amp; co"))
    assert [(m.classification, m.action) for m in await stored(app)] == [("help", "reply sent")]
    assert await listed(app) == []


async def test_a_spam_listed_sender_is_not_answered_but_its_opt_out_is_honoured(
    app, company, webhooks
):
    async with app.transaction() as conn:
        await spam_list.add_numbers(conn, company, [SENDER], reason="junk", actor="ana", now=NOW)

    answers = [await webhooks.text(body) for body in ("buy crypto now", "HELP", "STOP")]

    assert answers == [(200, EMPTY)] * 3
    assert [(name, source) for name, source, _ in await listed(app)] == [("dnc", "sms_keyword")]
    assert [(m.spam, m.reply) for m in await stored(app)] == [(True, None)] * 3
    assert [m.action for m in await stored(app)] == ["none", "none", "company_dnc added"]


SMS_CAMPAIGN = """
name = "{name}"
channel = "sms"
leads = "spring"
caller_id = "{caller_id}"
max_attempts = 1
max_concurrent = 5
attempts_per_second = 5
sms_body = "Spring sale at ACME"
"""
LEADS = "phone\n305-555-0142\n305-555-0150\n"


async def test_a_scripted_stop_through_the_simulator_blocks_the_next_campaign(
    app, company, tmp_path
):
    path = tmp_path / "leads.csv"
    path.write_text(LEADS)
    async with app.transaction() as conn:
        await leads.import_leads(
            conn, company, sheets.iter_records(path, leads.LEAD_COLUMNS), "spring", NOW
        )
        for name in ("first", "second"):
            definition = SMS_CAMPAIGN.format(name=name, caller_id=OURS)
            await repository.create_campaign(conn, company, definition, NOW)
    texts = await replies(app, company)
    scenario = Scenario(replies=[Reply("*42", "STOP", delay=0)])
    noon = datetime(2026, 3, 10, 16, 0, tzinfo=UTC)

    async with simulated_engine(app, scenario, SimClock(noon)) as (engine, sim):
        await engine.run_until_done(company, "first")
    async with simulated_engine(app, Scenario(), SimClock(noon)) as (engine, second_sim):
        await engine.run_until_done(company, "second")

    assert [(name, source) for name, source, _ in await listed(app)] == [("dnc", "sms_keyword")]
    confirmations = [m for m in sim.messages if m["direction"] == "outbound-reply"]
    assert [(m["to"], m["body"]) for m in confirmations] == [(SENDER, texts.opt_out)]
    assert [m["to"] for m in second_sim.messages] == ["+13055550150"]
    skipped = await rows(app, select(skips.c.number, skips.c.reason))
    assert skipped == [(SENDER, "COMPANY_DNC")]


@pytest.mark.parametrize("listed_by_hand", [False, True], ids=["new", "listed by hand"])
async def test_two_stops_at_once_get_one_confirmation(app, company, webhooks, listed_by_hand):
    if listed_by_hand:
        async with app.transaction() as conn:
            await registry.add_numbers(
                conn, company, [SENDER], DncList.DNC, source=Source.MANUAL, reason="asked",
                actor="ana", now=NOW,
            )  # fmt: skip

    answers = await asyncio.gather(*(webhooks.text("STOP") for _ in range(2)))

    assert sorted(text for _, text in answers) == sorted(
        [EMPTY, answered_with((await replies(app, company)).opt_out)]
    )


async def test_a_scripted_stop_reaches_dialer_serve(app, company, database_url, tmp_path):
    number, *_ = numbers_in_calling_hours()
    (tmp_path / "leads.csv").write_text(f"phone\n{number}\n")
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(f'[[reply]]\nmatch = "{number}"\nbody = "STOP"\ndelay = 0\n')
    async with app.transaction() as conn:
        await accounts.set_countries(conn, company, COUNTRIES)
        await leads.import_leads(
            conn,
            company,
            sheets.iter_records(tmp_path / "leads.csv", leads.LEAD_COLUMNS),
            "spring",
            NOW,
        )
        definition = SMS_CAMPAIGN.format(name="spring", caller_id=OURS)
        await repository.create_campaign(conn, company, definition, NOW)
        await repository.change_state(conn, company, "spring", CampaignAction.START, NOW)
    env = {
        **os.environ,
        "DIALER_DATABASE_URL": database_url,
        "DIALER_LOG_LEVEL": "WARNING",
        "DIALER_WEBHOOK_PORT": "0",
        "DIALER_TICK_SECONDS": "0.2",
        "DIALER_SCENARIO": str(scenario),
    }
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dialer", "serve", env=env, stdout=asyncio.subprocess.PIPE
    )
    try:
        async with asyncio.timeout(30):
            while not await stored(app):
                assert server.returncode is None, "serve exited early"
                await asyncio.sleep(0.1)
    finally:
        server.send_signal(signal.SIGTERM)
        await server.communicate()

    [message] = await stored(app)
    assert (message.classification, message.reply) == (
        "opt_out",
        (await replies(app, company)).opt_out,
    )
    assert [(name, source) for name, source, _ in await listed(app, number)] == [
        ("dnc", "sms_keyword")
    ]


async def test_a_reply_still_on_its_way_when_the_campaign_ends_is_honoured(app, company, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text(LEADS)
    async with app.transaction() as conn:
        await leads.import_leads(
            conn, company, sheets.iter_records(path, leads.LEAD_COLUMNS), "spring", NOW
        )
        definition = SMS_CAMPAIGN.format(name="first", caller_id=OURS)
        await repository.create_campaign(conn, company, definition, NOW)
    scenario = Scenario(replies=[Reply("*42", "STOP", delay=0.5)])

    async with simulated_engine(app, scenario, SimClock(datetime(2026, 3, 10, 16, tzinfo=UTC))) as (
        engine,
        _,
    ):
        await engine.run_until_done(company, "first")

    assert [(name, source) for name, source, _ in await listed(app)] == [("dnc", "sms_keyword")]


async def test_no_text_is_placed_after_a_stop_commits_while_the_campaign_runs(app, company):
    area = numbers_in_calling_hours()[0][:-2]
    numbers = [f"{area}{line}" for line in range(10, 25)]  # texted at 5 a second: 3 s
    record = dict.fromkeys(leads.LEAD_COLUMNS, "")
    async with app.transaction() as conn:
        await accounts.set_countries(conn, company, COUNTRIES)
        await leads.import_leads(
            conn,
            company,
            [(i, {**record, "phone": n}) for i, n in enumerate(numbers)],
            "spring",
            NOW,
        )
        definition = SMS_CAMPAIGN.format(name="spring", caller_id=OURS)
        await repository.create_campaign(conn, company, definition, NOW)
        await repository.change_state(conn, company, "spring", CampaignAction.START, NOW)
    stopping = numbers[-5:]

    async with simulated_engine(app, Scenario(), WallClock()) as (engine, sim):
        running = asyncio.create_task(engine.run_until_done(company, "spring"))
        while not await rows(app, select(attempts.c.id)):  # the campaign is under way
            assert not running.done(), "the campaign ended before its first text"
            await asyncio.sleep(0.02)
        webhooks = Webhooks(engine.callback_base, aiohttp.ClientSession())
        webhooks.validator = RequestValidator(sim.auth_token)
        async with webhooks.session:
            answers = await asyncio.gather(
                *(webhooks.post(webhooks.fields("STOP", sender=n) | {"AccountSid": sim.account_sid})
                  for n in stopping)
            )  # fmt: skip
        committed = WallClock().now()
        await running

    assert [status for status, _ in answers] == [200] * len(stopping)
    keys = [int(number[1:]) for number in stopping]
    later = await rows(
        app,
        select(attempts.c.number).where(
            attempts.c.number.in_(keys), attempts.c.placed_at > committed
        ),
    )
    assert later == []
    skipped = await rows(app, select(skips.c.number).where(skips.c.reason == "COMPANY_DNC"))
    assert skipped, "every number opted out before its turn: the test proves nothing"


async def test_a_text_signed_for_the_public_url_is_accepted_behind_a_proxy(app, company):
    public = "https://dialer.example.com/hooks"
    port = free_port()
    async with app.transaction() as conn:
        await add_sending_numbers(conn, company, [OURS], NOW)
    async with TwilioCarrier(ACCOUNT, TOKEN) as carrier:
        dispatcher = Dispatcher(app, carrier, clock=SimClock(NOW))
        async with listening(dispatcher, "127.0.0.1", port, public), aiohttp.ClientSession() as s:
            webhooks = Webhooks(f"http://127.0.0.1:{port}", s)
            forwarded = webhooks.fields("STOP")
            for_public = webhooks.validator.compute_signature(f"{public}/webhooks/sms", forwarded)
            for_elsewhere = webhooks.validator.compute_signature(
                "https://elsewhere.example.com/webhooks/sms", webhooks.fields("STOP")
            )
            accepted = await webhooks.post(forwarded, for_public)
            forged = await webhooks.post(webhooks.fields("STOP"), for_elsewhere)

    assert accepted == (200, answered_with((await replies(app, company)).opt_out))
    assert forged[0] == 403
    assert [m.message_sid for m in await stored(app)] == [forwarded["MessageSid"]]
