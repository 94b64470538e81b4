"""The engine against a carrier that fails: a simulated carrier behind the fault proxy, on
both backends. What the carrier really received is counted from the simulator's and the
proxy's own records, never from the engine's."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

import aiohttp
import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from campaigns import CampaignAction, CampaignState, queue, repository
from campaigns import attempts as attempt_store
from campaigns.statuses import DEFAULT_STATUSES_PATH
from campaigns.tables import campaign_leads
from compliance import Channel, leads, registry
from compliance.tables import attempts, dnc_events
from dialer.carriers import TwilioCarrier
from dialer.carriers.simulator import Scenario, Simulator
from dialer.carriers.twilio import FORM, compute_signature
from dialer.clock import SimClock
from dialer.dispatch import Dispatcher
from dialer.dispatch.placing import MAX_BACKOFF
from dialer.dispatch.runs import complete_if_done
from dialer.runner import listening
from tests.faultproxy import FaultProxy, Mode, Route
from tests.support import NOW

ACCOUNT = "AC" + "7" * 32
TOKEN = "fault-test-token"
RUN_TIMEOUT = 60
CAMPAIGN = """
name = "spring"
channel = "voice"
leads = "spring"
caller_id = "+13055550000"
max_attempts = 3
max_concurrent = 20
attempts_per_second = 10
window = { start = "09:00", end = "20:00", days = ["mon", "tue", "wed", "thu", "fri", "sat"] }
retry = { NO_ANSWER = "4h", BUSY = "30m", MACHINE = "1d" }
ivr_optout_digit = "9"
"""
# Numbers ending in 1 answer and press the opt-out key; the others answer and listen.
OPT_OUTS = [f"+130555510{n}1" for n in range(4)]
LISTENERS = [f"+130555510{n}0" for n in range(4)]
NUMBERS = OPT_OUTS + LISTENERS
OPTING_OUT = {
    "seed": 5,
    "default": {"answered": 1.0},
    "outcome": [{"match": "*1", "result": "answered", "digits": "9"}],
}
ANSWERING = {"seed": 5, "default": {"answered": 1.0}}
UNANSWERED = {"seed": 5, "default": {"no-answer": 1.0}}
DEFAULT_STATUSES = DEFAULT_STATUSES_PATH.read_text(encoding="utf-8")
FAILED_FINAL = 'code = "FAILED"\nlabel = "Call failed"\nfinal = true'
assert FAILED_FINAL in DEFAULT_STATUSES
# FAILED retried: an attempt wrongly ended `failed` dials its number again.
FAILED_RETRIED = DEFAULT_STATUSES.replace(FAILED_FINAL, FAILED_FINAL.replace("true", "false"))
# FAILED blocking the lead's phone and texts, as WRONG_NUMBER does.
FAILED_BLOCKS_LEAD = DEFAULT_STATUSES.replace(
    FAILED_FINAL, FAILED_FINAL + '\nactions = ["lead_dnc:phone", "lead_dnc:sms"]'
)


@dataclass(slots=True)
class Rig:
    dispatcher: Dispatcher
    sim: Simulator
    proxy: FaultProxy
    webhooks: str  # the base URL the webhooks really listen on

    def calls_to(self) -> Counter[str]:
        return Counter(call["to"] for call in self.sim.calls)


@asynccontextmanager
async def rigged(app, scenario: dict, *, carrier_token: str = TOKEN) -> AsyncIterator[Rig]:
    """Simulator → fault proxy → Twilio adapter (short timeouts) → dispatcher on a
    simulated clock, its webhooks on a free local port."""
    sim = Simulator(Scenario.from_dict(scenario), ACCOUNT, TOKEN)
    await sim.start()
    proxy = FaultProxy(upstream=sim.url, stall=3.0)
    await proxy.start()
    carrier = TwilioCarrier(
        ACCOUNT,
        carrier_token,
        base_url=proxy.url,
        call_events=("completed",),
        connect_timeout=0.5,
        read_timeout=1.0,
        total_timeout=3.0,
    )
    dispatcher = Dispatcher(app, carrier, clock=SimClock(NOW))  # 11:00 in New York
    dispatcher.settle_timeout = 0.2
    try:
        async with listening(dispatcher, "127.0.0.1", 0) as url:
            yield Rig(dispatcher, sim, proxy, url)
            await sim.drain()
    finally:
        await carrier.aclose()
        await proxy.stop()
        await sim.stop()


async def prepare(app, company, numbers=NUMBERS, statuses: str | None = None) -> None:
    records = (
        (row, {**dict.fromkeys(leads.LEAD_COLUMNS, ""), "phone": number, "state": "FL"})
        for row, number in enumerate(numbers, start=2)
    )
    async with app.transaction() as conn:
        if statuses is not None:
            await repository.save_status_book(conn, company, statuses, "test", NOW)
        await leads.import_leads(conn, company, records, "spring", NOW)
        definition = CAMPAIGN
        if statuses == FAILED_RETRIED:
            definition = CAMPAIGN.replace('MACHINE = "1d"', 'MACHINE = "1d", FAILED = "10m"')
        await repository.create_campaign(conn, company, definition, NOW)


async def start(app, company):
    async with app.transaction() as conn:
        return await repository.change_state(conn, company, "spring", CampaignAction.START, NOW)


async def rows(app, query):
    async with app.transaction() as conn:
        return (await conn.execute(query)).all()


async def attempt_rows(app):
    return await rows(app, select(attempts).order_by(attempts.c.id))


async def lead_rows(app):
    return await rows(app, select(campaign_leads).order_by(campaign_leads.c.lead_id))


async def run(rig: Rig, company, within: float = RUN_TIMEOUT):
    return await asyncio.wait_for(rig.dispatcher.run_until_done(company, "spring"), within)


def number_of(row) -> str:
    return f"+{row.number}"


def signed(url: str, params: dict[str, str]) -> dict[str, str]:
    return {"Content-Type": FORM, "X-Twilio-Signature": compute_signature(TOKEN, url, params)}


async def post_status(session: aiohttp.ClientSession, base: str, attempt: object, sid: str):
    url = f"{base}/webhooks/status?attempt={attempt}"
    params = {
        "AccountSid": ACCOUNT,
        "CallSid": sid,
        "CallStatus": "completed",
        "AnsweredBy": "human",
    }
    async with session.post(url, data=urlencode(params), headers=signed(url, params)) as answer:
        return answer.status


# --- #2/#3: the create request reached the carrier, its answer did not come back ----------


@pytest.mark.parametrize(
    ("mode", "dropped"),
    [
        (Mode.FORWARD_THEN_DROP, 3),
        (Mode.FORWARD_THEN_DROP, len(NUMBERS)),
        (Mode.FORWARD_THEN_STALL, len(NUMBERS)),
    ],
    ids=["first-calls-dropped", "every-call-dropped", "every-call-timed-out"],
)
async def test_calls_whose_answer_was_lost_keep_their_opt_outs_and_real_outcomes(
    app, company, mode, dropped
):
    await prepare(app, company, statuses=FAILED_RETRIED)

    async with rigged(app, OPTING_OUT) as rig:
        rig.proxy.fail_next(dropped, mode, route=Route.CALLS)
        finished = await run(rig, company)

    assert finished.state is CampaignState.COMPLETED
    creates = rig.proxy.seen_on(Route.CALLS)
    assert [s.mode for s in creates[:dropped]] == [mode] * dropped
    assert all(s.forwarded and s.upstream_status == 201 for s in creates)
    # Every number was dialed once: none again after its opt-out, none for a lost answer.
    assert rig.calls_to() == Counter(NUMBERS)
    assert {c["to"]: c["pressed"] for c in rig.sim.calls if c["to"] in OPT_OUTS} == dict.fromkeys(
        OPT_OUTS, "9"
    )
    async with app.transaction() as conn:
        listed = await registry.blocked(conn, company, OPT_OUTS, Channel.VOICE, NOW)
    assert sorted(listed) == sorted(OPT_OUTS)
    sid_of = {call["to"]: call["sid"] for call in rig.sim.calls}
    ended = await attempt_rows(app)
    assert len(ended) == len(NUMBERS)
    for row in ended:
        expected = "DNC_REQUESTED" if number_of(row) in OPT_OUTS else "ANSWERED"
        assert (row.state, row.result, row.status) == ("ended", "answered", expected), row
        assert row.carrier_sid == sid_of[number_of(row)]


# --- #6: the carrier refused before placing ----------------------------------------------


@pytest.mark.parametrize("mode", [Mode.REFUSE_503, Mode.REFUSE_429, Mode.DROP])
async def test_refused_requests_spend_no_lead_and_every_lead_is_dialed_once_they_pass(
    app, company, mode
):
    await prepare(app, company)
    refusals = 12

    async with rigged(app, ANSWERING) as rig:
        rig.proxy.fail_next(refusals, mode, route=Route.CALLS)
        finished = await run(rig, company)

    assert finished.state is CampaignState.COMPLETED
    creates = rig.proxy.seen_on(Route.CALLS)
    assert [s.forwarded for s in creates] == [False] * refusals + [True] * len(NUMBERS)
    assert rig.calls_to() == Counter(NUMBERS)
    every = await attempt_rows(app)
    refused = [r for r in every if r.carrier_sid is None]
    assert len(refused) == refusals
    assert {(r.state, r.result, r.status) for r in refused} == {("not_placed", "not_placed", None)}
    placed = [r for r in every if r.carrier_sid is not None]
    assert sorted(number_of(r) for r in placed) == sorted(NUMBERS)
    assert {(r.state, r.status) for r in placed} == {("ended", "ANSWERED")}
    lead_queue = await lead_rows(app)
    assert {(q.state, q.attempts, q.outcome) for q in lead_queue} == {("done", 1, "ANSWERED")}


async def test_a_carrier_refusing_the_account_pauses_placing_and_spends_no_lead(app, company):
    await prepare(app, company)
    campaign = await start(app, company)

    with capture_logs() as events:
        async with rigged(app, ANSWERING, carrier_token="wrong-token") as rig:
            # run_until_done's loop, for a few simulated minutes (a run cancelled in the
            # middle of a transaction may leave SQLite locked for its busy timeout).
            clock = rig.dispatcher.clock
            for _ in range(20):
                await rig.dispatcher.tick(company, campaign)
                await rig.dispatcher.settle()
                assert not await complete_if_done(rig.dispatcher, company, campaign)
                async with app.transaction() as conn:
                    due = await queue.next_due(conn, campaign.id)
                clock.advance_to(max(clock.now() + timedelta(seconds=1), due or clock.now()))

    assert [e for e in events if e["event"] == "carrier.paused"]
    assert rig.sim.calls == []
    creates = rig.proxy.seen_on(Route.CALLS)
    assert creates
    assert {s.upstream_status for s in creates} == {401}
    every = await attempt_rows(app)
    assert len(every) == len(creates)
    # Paused: after the first refusal, one probe at a time, MAX_BACKOFF apart.
    tried = Counter(r.placed_at for r in every)
    first, *probes = sorted(tried)
    assert tried[first] == len(NUMBERS)
    assert probes
    assert all(tried[moment] == 1 for moment in probes)
    gaps = [later - earlier for earlier, later in zip([first, *probes], probes, strict=False)]
    assert min(gaps) >= MAX_BACKOFF
    assert {(r.state, r.result, r.status) for r in every} == {("not_placed", "not_placed", None)}
    lead_queue = await lead_rows(app)
    assert {(q.state, q.attempts, q.outcome) for q in lead_queue} == {("queued", 0, None)}
    async with app.transaction() as conn:
        campaign = await repository.find_campaign(conn, company, "spring")
    assert campaign.state is CampaignState.RUNNING


# --- #7: a refusal is no outcome, so it fires no status action ---------------------------


@pytest.mark.parametrize(
    "mode", [Mode.REFUSE_503, Mode.DROP, Mode.NON_UTF8_502, Mode.NOT_FOUND_PAGE]
)
async def test_a_refused_request_fires_no_status_action_of_failed(app, company, mode):
    await prepare(app, company, statuses=FAILED_BLOCKS_LEAD)

    async with rigged(app, ANSWERING) as rig:
        rig.proxy.fail_next(12, mode, route=Route.CALLS)
        finished = await run(rig, company)

    assert finished.state is CampaignState.COMPLETED
    assert rig.calls_to() == Counter(NUMBERS)
    lead_ids = [q.lead_id for q in await lead_rows(app)]
    async with app.transaction() as conn:
        blocked = await leads.blocked_channels(conn, lead_ids)
    assert {lead: channels for lead, channels in blocked.items() if channels} == {}
    assert await rows(app, select(dnc_events.c.id)) == []
    assert "FAILED" not in {r.status for r in await attempt_rows(app)}


# --- #14: a proxy's error page that is not UTF-8 -----------------------------------------


async def test_an_error_page_that_is_not_utf8_leaves_attempts_unknown_until_resolved(app, company):
    await prepare(app, company)
    campaign = await start(app, company)

    async with rigged(app, ANSWERING) as rig:
        rig.proxy.set_mode(Mode.NON_UTF8_502, route=Route.CALLS)
        with capture_logs() as events:
            claimed = await rig.dispatcher.tick(company, campaign)
        unknown = await attempt_rows(app)
        rig.proxy.set_mode(Mode.PASS, route=Route.CALLS)
        finished = await run(rig, company)

    assert claimed == len(NUMBERS)
    assert {r.state for r in unknown} == {"unknown"}
    assert len([e for e in events if e["event"] == "attempt.unknown"]) == len(NUMBERS)
    assert finished.state is CampaignState.COMPLETED
    # The 502s were not forwarded: the carrier's list has no such call, so not placed.
    refused = [s for s in rig.proxy.seen_on(Route.CALLS) if s.mode is Mode.NON_UTF8_502]
    assert len(refused) == len(NUMBERS)
    assert not any(s.forwarded for s in refused)
    assert rig.calls_to() == Counter(NUMBERS)
    first = {r.id for r in unknown}
    resolved = [r for r in await attempt_rows(app) if r.id in first]
    assert {(r.state, r.result, r.status) for r in resolved} == {("not_placed", "not_placed", None)}
    lead_queue = await lead_rows(app)
    assert {(q.state, q.attempts, q.outcome) for q in lead_queue} == {("done", 1, "ANSWERED")}


# --- #19: a status fetch refused by the account or a proxy is no outcome -----------------


@pytest.mark.parametrize("fault", ["401", "proxy-404"])
async def test_a_status_fetch_refused_by_the_account_or_a_proxy_ends_no_attempt(
    app, company, fault
):
    await prepare(app, company, numbers=LISTENERS)
    campaign = await start(app, company)

    async with rigged(app, UNANSWERED) as rig:
        rig.sim.callback_retries = 0
        live = rig.dispatcher.callback_base
        rig.dispatcher.callback_base = "http://127.0.0.1:9"  # every callback is lost
        await rig.dispatcher.tick(company, campaign)
        rig.dispatcher.callback_base = live
        await rig.sim.drain()
        refusing = TwilioCarrier(ACCOUNT, "wrong-token", base_url=rig.proxy.url)
        if fault == "401":
            rig.dispatcher.recovery.carrier = refusing
        else:
            rig.proxy.set_mode(Mode.NOT_FOUND_PAGE, route=Route.OTHER)
        placed = await attempt_rows(app)
        async with app.transaction() as conn:
            pending = await attempt_store.open_attempts(conn)
        settled = await rig.dispatcher.recovery.settle(pending)
        rig.dispatcher.clock.advance(timedelta(minutes=5).total_seconds())
        recovered = await rig.dispatcher.recover()
        after_fault = await attempt_rows(app)
        await refusing.aclose()
        rig.dispatcher.recovery.carrier = rig.dispatcher.carrier
        rig.proxy.set_mode(Mode.PASS, route=Route.OTHER)
        healed = await rig.dispatcher.recover()

    fetches = [s for s in rig.proxy.seen_on(Route.OTHER) if s.method == "GET"]
    refused = [s for s in fetches if s.upstream_status == 401 or s.mode is Mode.NOT_FOUND_PAGE]
    assert len(refused) >= 2 * len(LISTENERS)  # settle, then recover: every attempt asked
    assert {r.state for r in placed} == {"placed"}
    assert (settled, recovered) == (0, 0)
    assert [(r.state, r.result, r.status) for r in after_fault] == [("placed", None, None)] * len(
        LISTENERS
    )
    assert healed == len(LISTENERS)
    ended = await attempt_rows(app)
    assert {(r.state, r.result, r.status) for r in ended} == {("ended", "no-answer", "NO_ANSWER")}


# --- #16/#18: a bad callback among good ones ---------------------------------------------


async def placed_without_callbacks(app, company, rig: Rig, drop_first: int = 0):
    """Place every lead once with every callback lost; the attempts and the sim's calls."""
    campaign = await start(app, company)
    rig.sim.callback_retries = 0
    rig.dispatcher.callback_base = "http://127.0.0.1:9"
    if drop_first:
        rig.proxy.fail_next(drop_first, Mode.FORWARD_THEN_DROP, route=Route.CALLS)
    await rig.dispatcher.tick(company, campaign)
    rig.dispatcher.callback_base = rig.webhooks
    await rig.sim.drain()
    return await attempt_rows(app)


async def test_one_bad_callback_among_concurrent_good_ones_fails_only_itself(app, company):
    await prepare(app, company, numbers=LISTENERS)

    async with rigged(app, UNANSWERED) as rig:
        placed = await placed_without_callbacks(app, company, rig)
        other = placed[1].carrier_sid
        async with aiohttp.ClientSession() as session:
            answers = await asyncio.gather(
                *(post_status(session, rig.webhooks, r.id, r.carrier_sid) for r in placed[1:]),
                post_status(session, rig.webhooks, 999_999, "CA" + "1" * 32),
                post_status(session, rig.webhooks, placed[0].id, other),
            )

    assert answers == [204] * (len(placed) - 1) + [400, 400]
    ended = {r.id: r for r in await attempt_rows(app)}
    assert ended[placed[0].id].state == "placed"
    assert ended[placed[0].id].carrier_sid == placed[0].carrier_sid
    for row in placed[1:]:
        assert (ended[row.id].state, ended[row.id].status) == ("ended", "ANSWERED")


async def test_a_callback_naming_another_attempts_call_is_refused_and_changes_neither(app, company):
    await prepare(app, company, numbers=LISTENERS[:2])

    async with rigged(app, UNANSWERED) as rig:
        placed = await placed_without_callbacks(app, company, rig)
        first, second = placed
        async with aiohttp.ClientSession() as session:
            crossed = await post_status(session, rig.webhooks, first.id, second.carrier_sid)
            too_big = await post_status(session, rig.webhooks, 99999999999, second.carrier_sid)

    assert (crossed, too_big) == (400, 400)
    assert await attempt_rows(app) == placed


async def test_a_callback_binding_an_unknown_attempt_to_another_attempts_call_is_refused(
    app, company
):
    # The first create's answer is lost: its attempt has no sid yet, and the first signed
    # callback naming it would bind one. One naming the second attempt's call must not.
    await prepare(app, company, numbers=LISTENERS[:2])

    async with rigged(app, UNANSWERED) as rig:
        placed = await placed_without_callbacks(app, company, rig, drop_first=1)
        [lost] = [r for r in placed if r.carrier_sid is None]
        [second] = [r for r in placed if r.carrier_sid is not None]
        async with aiohttp.ClientSession() as session:
            crossed = await asyncio.wait_for(
                post_status(session, rig.webhooks, lost.id, second.carrier_sid), 30
            )

    assert (lost.state, lost.carrier_sid) == ("unknown", None)
    assert crossed == 400
    assert await attempt_rows(app) == placed


async def test_an_answer_request_naming_another_attempts_call_is_refused_at_once(app, company):
    # The same crossing on the call's answer webhook, which binds the sid as well.
    await prepare(app, company, numbers=LISTENERS[:2])

    async with rigged(app, UNANSWERED) as rig:
        placed = await placed_without_callbacks(app, company, rig, drop_first=1)
        [lost] = [r for r in placed if r.carrier_sid is None]
        [second] = [r for r in placed if r.carrier_sid is not None]
        url = f"{rig.webhooks}/webhooks/answer?attempt={lost.id}"
        params = {"AccountSid": ACCOUNT, "CallSid": second.carrier_sid, "CallStatus": "in-progress"}
        async with aiohttp.ClientSession() as session:
            async with asyncio.timeout(5):  # Twilio gives up on a webhook after 15 s
                answer = await session.post(
                    url, data=urlencode(params), headers=signed(url, params)
                )

    assert answer.status == 400
    assert await attempt_rows(app) == placed


# --- a long call is asked about now and then, not every round ------------------------------


async def test_a_call_still_up_is_asked_about_every_two_minutes_not_every_round(app, company):
    await prepare(app, company, numbers=NUMBERS[:1])
    campaign = await start(app, company)

    async with rigged(app, ANSWERING) as rig:
        rig.sim.callback_delay = 60  # the call stays queued at the carrier throughout
        clock, dispatcher = rig.dispatcher.clock, rig.dispatcher
        await dispatcher.tick(company, campaign)

        def status_fetches() -> int:
            return sum(1 for s in rig.proxy.seen if s.method == "GET" and "/Calls/" in s.path)

        asked = []
        for seconds in (60, 61, 5, 5, 5, 120):  # 1:00, 2:01, 2:06, 2:11, 2:16, 4:16
            clock.advance(seconds)
            await dispatcher.recover()
            asked.append(status_fetches())
        await rig.sim.stop()  # the call's callbacks are not waited for

    assert asked == [0, 1, 1, 1, 1, 2]
