"""The rewritten engine across nodes and campaigns: the tick's budget, leases of live and dead
nodes, the rate and concurrency in total across nodes, caps across campaigns, and a slow
carrier answer for one campaign, on both databases."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlalchemy import func, select

from campaigns import CampaignAction, CampaignState, repository
from campaigns.tables import campaign_leads, skips
from compliance import accounts, leads
from compliance.tables import attempts
from dialer.app import open_app
from dialer.carriers.simulator import Scenario, Simulator
from dialer.clock import SimClock, WallClock
from dialer.dispatch import Dispatcher, tick
from dialer.runner import listening, simulated_carrier
from dialer.scheduling import nodes
from dialer.settings import Settings
from tests.support import NOW
from tests.test_engine import CAMPAIGN, COUNTRIES, rows

NINE_IN_NEW_YORK = datetime(2026, 3, 10, 13, 0, tzinfo=UTC)  # 03:00 in Honolulu
ANSWERED = Scenario.from_dict({"seed": 1, "default": {"answered": 1.0}})
NO_ANSWER = Scenario.from_dict({"seed": 1, "default": {"no-answer": 1.0}})


def campaign_text(name: str = "spring", lead_list: str = "spring", **changes: object) -> str:
    """CAMPAIGN with its name, its lead list and any of its `key = value` lines changed."""
    lines = []
    for line in CAMPAIGN.strip().splitlines():
        key = line.split("=")[0].strip()
        if key == "name":
            line = f'name = "{name}"'
        elif key == "leads":
            line = f'leads = "{lead_list}"'
        elif key in changes:
            value = changes[key]
            line = f"{key} = {value}"
        lines.append(line)
    return "\n".join(lines) + "\n"


async def add_leads(app, company, lead_list: str, people: list[tuple[str, str]]) -> None:
    """Import (phone, state) pairs into `lead_list`, in that order."""
    records = (
        (
            row,
            {
                **dict.fromkeys(leads.LEAD_COLUMNS, ""),
                "phone": phone,
                "state": state,
                "external_id": f"{lead_list}-{row}",
            },
        )
        for row, (phone, state) in enumerate(people, start=2)
    )
    async with app.transaction() as conn:
        await leads.import_leads(conn, company, records, lead_list, NOW)


async def create(app, company, text: str, *, start: bool = True) -> str:
    name = text.split('name = "')[1].split('"')[0]
    async with app.transaction() as conn:
        await repository.create_campaign(conn, company, text, NOW)
        if start:
            await repository.change_state(conn, company, name, CampaignAction.START, NOW)
    return name


async def campaign(app, company, name: str):
    async with app.transaction() as conn:
        return await repository.find_campaign(conn, company, name)


async def register(dispatcher: Dispatcher) -> None:
    async with dispatcher.app.transaction() as conn:
        await nodes.register(conn, dispatcher.node, dispatcher.clock.now())


async def beat(dispatcher: Dispatcher) -> bool:
    async with dispatcher.app.transaction() as conn:
        return await nodes.heartbeat(conn, dispatcher.node, dispatcher.clock.now())


async def lease_nodes(app) -> list[str | None]:
    held = await rows(
        app, select(campaign_leads.c.lease_node).where(campaign_leads.c.state == "in_flight")
    )
    return [node for (node,) in held]


@asynccontextmanager
async def node(app, carrier, clock) -> AsyncIterator[Dispatcher]:
    """One engine node: its own dispatcher and webhook server, registered while it runs."""
    dispatcher = Dispatcher(app, carrier, clock=clock)
    async with listening(dispatcher, "127.0.0.1", 0):
        await register(dispatcher)
        yield dispatcher


def ny(count: int, first: int = 1000) -> list[tuple[str, str]]:
    return [(f"+1212555{n:04d}", "NY") for n in range(first, first + count)]


def honolulu(count: int) -> list[tuple[str, str]]:
    return [(f"+1808555{n:04d}", "HI") for n in range(1000, 1000 + count)]


# --- #20: refused leads do not spend the tick's budget ---------------------------------------


async def test_a_queue_mostly_outside_calling_hours_still_places_its_rate_in_the_first_tick(
    app, company
):
    # The first 50 leads by due order are in Honolulu, where it is 03:00; then New York, 09:00.
    await add_leads(app, company, "spring", honolulu(50) + ny(10))
    await create(app, company, campaign_text(attempts_per_second=5), start=False)
    spring = await campaign(app, company, "spring")
    async with simulated_carrier(ANSWERED) as (carrier, sim):
        dispatcher = Dispatcher(app, carrier, clock=SimClock(NINE_IN_NEW_YORK))
        async with listening(dispatcher, "127.0.0.1", 0):
            async with app.transaction() as conn:
                spring = await repository.change_state(
                    conn, company, "spring", CampaignAction.START, NINE_IN_NEW_YORK
                )
            claimed = await dispatcher.tick(company, spring)
            await dispatcher.settle()

    assert sorted(call["to"] for call in sim.calls) == [phone for phone, _ in ny(5)]
    assert claimed == 55
    logged = await rows(app, select(skips.c.reason))
    assert [reason for (reason,) in logged] == ["OUTSIDE_CALLING_HOURS"] * 50


# --- #9: a live node's leases are never taken ------------------------------------------------


async def test_recovery_on_another_live_node_takes_none_of_the_attempts_in_flight(app, company):
    await add_leads(app, company, "spring", ny(5))
    await create(app, company, campaign_text(attempts_per_second=5))
    spring = await campaign(app, company, "spring")
    clock = SimClock(NOW)  # 11:00 in New York, when the campaigns started
    async with simulated_carrier(ANSWERED) as (carrier, sim):
        sim.callback_delay = 0.5  # the calls are still up while the other node recovers
        async with node(app, carrier, clock) as first, node(app, carrier, clock) as second:
            # Two containers with the same hostname and pid: two node ids all the same.
            assert first.node != second.node
            await first.tick(company, spring)
            ticked = await lease_nodes(app)
            assert ticked == [first.node] * 5
            assert await beat(first)
            assert await beat(second)

            recovered = await second.recover()

            assert recovered == 0
            assert await lease_nodes(app) == ticked
            assert len(sim.calls) == 5
            await first.settle()

    assert len(sim.calls) == 5
    ended = await rows(app, select(attempts.c.node, attempts.c.status))
    assert set(ended) == {(first.node, "ANSWERED")}


# --- #10: a dead node's attempts are taken back and settled -----------------------------------


@pytest.mark.parametrize("death", ["stopped", "silent"])
async def test_a_survivor_takes_back_a_dead_nodes_attempts_and_finishes_the_campaign(
    app, company, death
):
    await add_leads(app, company, "spring", ny(8))
    await create(app, company, campaign_text(attempts_per_second=5))
    spring = await campaign(app, company, "spring")
    clock = SimClock(NOW)  # 11:00 in New York, when the campaigns started
    async with simulated_carrier(ANSWERED) as (carrier, sim):
        sim.callback_retries = 0
        dead = Dispatcher(app, carrier, clock=clock)
        dead.callback_base = "http://127.0.0.1:9"  # the process is gone: its callbacks are lost
        await register(dead)
        async with node(app, carrier, clock) as survivor:
            await dead.tick(company, spring)
            await sim.drain()  # the calls ended; the dead node heard nothing of it
            assert await lease_nodes(app) == [dead.node] * 5
            if death == "stopped":
                async with app.transaction() as conn:
                    await nodes.stop(conn, dead.node, clock.now())
            else:
                silence = clock.now() + nodes.STALE_AFTER + timedelta(seconds=1)
                while clock.now() < silence:  # the survivor's heartbeat job keeps it alive
                    clock.advance_to(min(silence, clock.now() + nodes.HEARTBEAT_EVERY))
                    assert await beat(survivor)

            recovered = await survivor.recover()

            assert recovered == 5
            assert await lease_nodes(app) == []
            finished = await asyncio.wait_for(survivor.run_until_done(company, "spring"), 60)

    assert finished.state is CampaignState.COMPLETED
    assert sorted(call["to"] for call in sim.calls) == [phone for phone, _ in ny(8)]
    ended = await rows(app, select(attempts.c.node, attempts.c.state, attempts.c.status))
    assert sorted(ended) == sorted([(survivor.node, "ended", "ANSWERED")] * 8)


async def test_a_node_declared_dead_may_not_heartbeat_back_to_life(app, company):
    clock = SimClock(NOW)  # 11:00 in New York, when the campaigns started
    async with simulated_carrier(ANSWERED) as (carrier, _):
        late = Dispatcher(app, carrier, clock=clock)
        await register(late)
        clock.advance_to(clock.now() + nodes.STALE_AFTER + timedelta(seconds=1))
        assert not await beat(late)


# --- #13: rate and concurrency in total across nodes ------------------------------------------


def record_call_ends(sim: Simulator) -> dict[str, datetime]:
    """When each call's final callback was committed by the engine (the simulator sends only
    final ones to this engine), by call sid."""
    ended: dict[str, datetime] = {}
    deliver = sim._deliver

    async def delivering(url: str, params: dict[str, str]) -> None:
        await deliver(url, params)
        ended.setdefault(params["CallSid"], datetime.now(UTC))

    sim._deliver = delivering  # type: ignore[method-assign]
    return ended


@asynccontextmanager
async def apps(database_url: str, count: int):
    """`count` engine processes' connections to one database."""
    async with AsyncExitStack() as stack:
        settings = Settings(database_url=database_url, log_level="WARNING")
        yield [await stack.enter_async_context(open_app(settings)) for _ in range(count)]


# Requests go out a little after their slot: a tick's first request waits for its commit,
# which takes up to this much longer on a busy 2-core machine than the next tick's does.
JITTER = timedelta(milliseconds=200)


def assert_rate(moments: list[datetime], per_second: int) -> None:
    """At most `per_second` of `moments` in any one second (less JITTER)."""
    moments = sorted(moments)
    for index, at in enumerate(moments):
        window = [m for m in moments[index:] if m < at + timedelta(seconds=1) - JITTER]
        assert len(window) <= per_second, f"{len(window)} within a second from {at}: {window}"


@pytest.mark.parametrize("count", [2, 3])
async def test_nodes_ticking_at_the_same_moments_keep_the_rate_and_concurrency_in_total(
    app, company, database_url, count
):
    # On the wall clock: numbers where it is daytime now (federal hours hold without a window).
    async with app.transaction() as conn:
        await accounts.set_countries(conn, company, COUNTRIES)
    await add_leads(app, company, "spring", [(n, "") for n in numbers_in_calling_hours(40)])
    anytime = "\n".join(x for x in CAMPAIGN.splitlines() if not x.startswith("window"))
    text = anytime.replace("max_concurrent = 20", "max_concurrent = 4").replace(
        "attempts_per_second = 10", "attempts_per_second = 3"
    )
    await create(app, company, text)
    wall = WallClock()
    async with simulated_carrier(ANSWERED) as (carrier, sim), apps(database_url, count) as pool:
        sim.callback_delay = 0.15  # four statuses: each call is up about 0.6 s
        ended = record_call_ends(sim)
        async with AsyncExitStack() as stack:
            engines = [await stack.enter_async_context(node(a, carrier, wall)) for a in pool]
            stop = time.monotonic() + 3.0
            while time.monotonic() < stop:
                await asyncio.gather(*(engine.tick_all() for engine in engines))
                await asyncio.sleep(0.1)
            for engine in engines:
                await engine.drain()
                await engine.settle()

    created = sorted(call["at"] for call in sim.calls)
    assert len(created) >= 6, "too few calls to say anything about the rate"
    spans = [(call["at"], ended[call["sid"]]) for call in sim.calls]
    for start, _ in spans:
        up = [s for s, e in spans if s <= start < e]
        assert len(up) <= 4, f"{len(up)} calls up at {start}"
    assert_rate(created, 3)


# --- #12: a state's cap holds across campaigns ticked at once ---------------------------------


async def test_a_florida_number_in_two_campaigns_ticked_at_once_is_called_three_times_a_day(
    app, company
):
    florida = "+13055550123"
    await add_leads(app, company, "spring", [(florida, "FL")])
    await add_leads(app, company, "fall", [(florida, "FL")])
    retry = '{ NO_ANSWER = "10m", BUSY = "30m", MACHINE = "1d" }'
    await create(app, company, campaign_text("spring", "spring", retry=retry))
    await create(app, company, campaign_text("fall", "fall", retry=retry))
    spring = await campaign(app, company, "spring")
    fall = await campaign(app, company, "fall")
    clock = SimClock(NOW)  # 11:00 in New York, when the campaigns started
    async with (
        simulated_carrier(NO_ANSWER) as (carrier, sim),
        node(app, carrier, clock) as one,
        node(app, carrier, clock) as two,
    ):
        for _ in range(6):  # each campaign alone would call it three times
            await asyncio.gather(one.tick(company, spring), two.tick(company, fall))
            await asyncio.gather(one.settle(), two.settle())
            clock.advance_to(clock.now() + timedelta(minutes=11))

    assert [call["to"] for call in sim.calls].count(florida) == 3


# --- #15: a slow carrier answer for one campaign holds up no other ----------------------------


class SlowFor:
    """A carrier whose create requests for one caller id take `delay` seconds to answer."""

    def __init__(self, carrier, caller_id: str, delay: float) -> None:
        self._carrier, self._caller_id, self._delay = carrier, caller_id, delay

    def __getattr__(self, name: str):
        return getattr(self._carrier, name)

    async def place_call(self, to: str, from_: str, *args, **kwargs) -> str:
        if from_ == self._caller_id:
            await asyncio.sleep(self._delay)
        return await self._carrier.place_call(to, from_, *args, **kwargs)


async def test_a_campaign_whose_carrier_answers_slowly_holds_up_no_other(app, company):
    await add_leads(app, company, "spring", ny(3))
    await add_leads(app, company, "fall", ny(3, first=2000))
    await create(app, company, campaign_text("spring", "spring"))
    await create(app, company, campaign_text("fall", "fall", caller_id='"+13055550999"'))
    clock = SimClock(NOW)  # 11:00 in New York, when the campaigns started
    async with simulated_carrier(ANSWERED) as (carrier, sim):
        slow = SlowFor(carrier, "+13055550999", delay=3.0)
        async with node(app, slow, clock) as engine:
            started = time.monotonic()
            await asyncio.wait_for(engine.tick_all(), 2.0)
            returned = time.monotonic() - started
            for _ in range(100):  # two seconds at most
                if len(sim.calls) >= 3:
                    break
                await asyncio.sleep(0.02)
            early = sorted(call["to"] for call in sim.calls)
            await engine.drain()
            await engine.settle()

    assert returned < 1.0
    assert early == [phone for phone, _ in ny(3)]
    assert len(sim.calls) == 6
    ended = await rows(
        app, select(func.count()).select_from(attempts).where(attempts.c.state == "ended")
    )
    assert ended == [(6,)]


# --- serve's tick period is no rate ----------------------------------------------------------

# Number prefixes in three far-apart zones: whatever the hour of the test, one is in hours.
# Each takes four more digits to make a valid number there.
ZONE_PREFIXES = {
    "Europe/London": "+44207946",
    "Australia/Sydney": "+6129374",
    "Pacific/Honolulu": "+1808555",
}


def numbers_in_calling_hours(count: int) -> list[str]:
    for zone, prefix in ZONE_PREFIXES.items():
        if 9 <= datetime.now(ZoneInfo(zone)).hour < 19:
            return [f"{prefix}{n:04d}"[: len(prefix) + 4] for n in range(count)]
    raise AssertionError("no zone in calling hours: extend ZONE_PREFIXES")


async def test_serve_ticking_five_times_a_second_places_attempts_per_second_a_second(
    app, company, database_url, tmp_path
):
    numbers = numbers_in_calling_hours(40)
    async with app.transaction() as conn:
        await accounts.set_countries(conn, company, COUNTRIES)
    await add_leads(app, company, "spring", [(n, "") for n in numbers])
    anytime = "\n".join(x for x in CAMPAIGN.splitlines() if not x.startswith("window"))
    text = anytime.replace("max_concurrent = 20", "max_concurrent = 40").replace(
        "attempts_per_second = 10", "attempts_per_second = 2"
    )
    await create(app, company, text)
    scenario = tmp_path / "scenario.toml"
    scenario.write_text("seed = 1\ndefault = { answered = 1.0 }\n")
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
            while len(await rows(app, select(attempts.c.id))) < 12:
                assert server.returncode is None, "serve exited early"
                await asyncio.sleep(0.1)
    finally:
        server.send_signal(signal.SIGTERM)
        await server.communicate()

    assert server.returncode == 0
    placed = sorted(at for (at,) in await rows(app, select(attempts.c.placed_at)))
    seconds = (placed[-1] - placed[0]).total_seconds()
    # Two a second (and an interval's worth at either end of the span): not two a tick. The
    # strict one-second window across interval edges is the multi-node test's.
    assert len(placed) <= 2 * (seconds + 2), f"{len(placed)} attempts in {seconds:.1f} s"


async def test_the_next_intervals_node_counts_the_room_after_the_last_ones_intents(
    app, company, monkeypatch
):
    # Node one wins its interval and counts the room, then is slow to claim; node two, a
    # second later on its clock, wins the next interval meanwhile. Two must count one's
    # intents: the lease is the first statement of the tick's transaction, so two waits for
    # one's commit.
    await add_leads(app, company, "spring", ny(10))
    await create(app, company, campaign_text(max_concurrent=4, attempts_per_second=4))
    counted = tick.room
    calls = 0

    async def slow_first(conn, campaign):
        nonlocal calls
        calls += 1
        free = await counted(conn, campaign)
        if calls == 1:
            await asyncio.sleep(0.5)  # counted, not yet claimed
        return free

    monkeypatch.setattr("dialer.dispatch.room", slow_first)
    async with simulated_carrier(ANSWERED) as (carrier, sim):
        sim.callback_delay = 0.5  # every call still up when both ticks are done
        async with (
            node(app, carrier, SimClock(NOW)) as one,
            node(app, carrier, SimClock(NOW + timedelta(seconds=1))) as two,
        ):
            first = asyncio.create_task(one.tick_all())
            await asyncio.sleep(0.2)
            await asyncio.gather(first, two.tick_all())
            await one.drain()
            await two.drain()
            placed = len(sim.calls)
            await one.settle()
            await two.settle()

    assert placed == 4


# --- #8: serve killed with calls up, and a second serve ------------------------------------

SID, TOKEN = "AC" + "5" * 32, "t" * 32


async def carrier_calls(url: str) -> list[dict]:
    """Every call the standalone simulator holds, from its own list endpoint."""
    auth = {"Authorization": aiohttp.encode_basic_auth(SID, TOKEN)}
    async with aiohttp.ClientSession(headers=auth) as session:
        listing = f"{url}/2010-04-01/Accounts/{SID}/Calls.json?PageSize=1000"
        async with session.get(listing) as response:
            assert response.status == 200
            return (await response.json())["calls"]


async def test_serve_killed_with_calls_up_and_started_again_dials_no_number_twice(
    app, company, database_url
):
    numbers = numbers_in_calling_hours(10)
    async with app.transaction() as conn:
        await accounts.set_countries(conn, company, COUNTRIES)
    await add_leads(app, company, "spring", [(n, "") for n in numbers])
    anytime = "\n".join(x for x in CAMPAIGN.splitlines() if not x.startswith("window"))
    await create(
        app, company, anytime.replace("attempts_per_second = 10", "attempts_per_second = 4")
    )
    carrier = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dialer.carriers.simulator",
        "--port",
        "0",
        "--account-sid",
        SID,
        "--auth-token",
        TOKEN,
        "--callback-delay",
        "1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        line = (await asyncio.wait_for(carrier.stdout.readline(), 10)).decode()
        url = line.rsplit(" ", 1)[-1].strip()
        env = {
            **os.environ,
            "DIALER_DATABASE_URL": database_url,
            "DIALER_LOG_LEVEL": "WARNING",
            "DIALER_WEBHOOK_PORT": "0",
            "DIALER_TICK_SECONDS": "0.5",
            "DIALER_CARRIER": "twilio",
            "DIALER_CARRIER_URL": url,
            "DIALER_CARRIER_ACCOUNT_SID": SID,
            "DIALER_CARRIER_AUTH_TOKEN": TOKEN,
        }
        serve = (sys.executable, "-m", "dialer", "serve")
        first = await asyncio.create_subprocess_exec(
            *serve, env=env, stdout=asyncio.subprocess.DEVNULL
        )
        try:
            async with asyncio.timeout(20):
                while len(await carrier_calls(url)) < 3:
                    assert first.returncode is None, "serve exited early"
                    await asyncio.sleep(0.05)
        finally:
            first.send_signal(signal.SIGKILL)
            await first.wait()
        second = await asyncio.create_subprocess_exec(
            *serve, env=env, stdout=asyncio.subprocess.DEVNULL
        )
        try:
            # The first node's leases are taken back once its heartbeat is stale (15 s).
            async with asyncio.timeout(90):
                while (await campaign(app, company, "spring")).state is not CampaignState.COMPLETED:
                    assert second.returncode is None, "serve exited early"
                    await asyncio.sleep(0.2)
        finally:
            second.send_signal(signal.SIGTERM)
            await second.communicate()
        calls = await carrier_calls(url)
    finally:
        carrier.kill()
        await carrier.wait()

    dialed = sorted(call["to"] for call in calls)
    assert dialed == sorted(numbers)
    recorded = await rows(app, select(attempts.c.number, attempts.c.state, attempts.c.status))
    # Intents whose request had not gone out at the kill are `not_placed`, their leads dialed
    # later; every other attempt ended with what the carrier says became of its call.
    ended = [(f"+{number}", status) for number, state, status in recorded if state == "ended"]
    assert sorted(ended) == [(number, "ANSWERED") for number in sorted(numbers)]
    assert {state for _, state, _ in recorded} <= {"ended", "not_placed"}
