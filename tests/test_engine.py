"""The engine end to end on both backends: a simulated carrier on 127.0.0.1, signed
webhooks, the gate before every attempt, status rules, retries and the skip log."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import aiohttp
from click.testing import CliRunner
from sqlalchemy import func, select
from structlog.testing import capture_logs

from campaigns import CampaignAction, CampaignState, repository
from campaigns.tables import campaign_leads, skips
from compliance import (
    Channel,
    DncList,
    LeadChannel,
    Role,
    Source,
    accounts,
    leads,
    registry,
    sheets,
)
from compliance.tables import attempts, dnc_events
from dialer.carriers.simulator import Scenario
from dialer.cli import main
from dialer.clock import SimClock
from dialer.dispatch import Dispatcher, tick
from dialer.runner import listening, simulated_carrier, simulated_engine
from tests.support import NOW

START = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # Tue 08:00 in New York
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
LEADS = """phone,external_id,state
305-555-0101,OPTS_OUT,
(212) 555-0102,NEVER_ANSWERS,NY
212-555-0104,LISTED,NY
"""
SCENARIO = {
    "seed": 7,
    "default": {"no-answer": 1.0},
    "outcome": [{"match": "+13055550101", "result": "answered", "digits": "9"}],
}


async def prepare(app, company, tmp_path, lead_rows: str = LEADS):
    """Import `lead_rows` (CSV) into "spring", list +12125550104 on the company's DNC list,
    and create the campaign."""
    path = tmp_path / "leads.csv"
    path.write_text(lead_rows)
    async with app.transaction() as conn:
        await leads.import_leads(
            conn, company, sheets.iter_records(path, leads.LEAD_COLUMNS), "spring", NOW
        )
        await registry.add_numbers(
            conn,
            company,
            ["+12125550104"],
            DncList.DNC,
            source=Source.MANUAL,
            reason="asked",
            actor="ana",
            now=NOW,
        )
        await repository.create_campaign(conn, company, CAMPAIGN, NOW)


async def rows(app, query):
    async with app.transaction() as conn:
        return (await conn.execute(query)).all()


async def test_a_campaign_runs_to_completion_on_a_simulated_clock(app, company, tmp_path):
    await prepare(app, company, tmp_path)

    async with simulated_engine(app, Scenario.from_dict(SCENARIO), SimClock(START)) as (
        engine,
        sim,
    ):
        finished = await engine.run_until_done(company, "spring")

    assert finished.state is CampaignState.COMPLETED
    dialed = sorted(call["to"] for call in sim.calls)
    assert dialed == ["+12125550102"] * 3 + ["+13055550101"]
    assert "+12125550104" not in dialed
    placed = await rows(app, select(attempts.c.number, attempts.c.status, attempts.c.placed_at))
    opt_out = [r for r in placed if r.number == 13055550101]
    assert [r.status for r in opt_out] == ["DNC_REQUESTED"]
    # The campaign window opens at 09:00 in New York, 13:00Z.
    assert opt_out[0].placed_at == datetime(2026, 3, 10, 13, 0, tzinfo=UTC)
    retries = sorted(r.placed_at.hour for r in placed if r.number == 12125550102)
    assert retries == [13, 17, 21]
    added = await rows(app, select(dnc_events).where(dnc_events.c.source == "status_rule"))
    assert [(e.number, e.reason) for e in added] == [
        (13055550101, f"status DNC_REQUESTED on attempt {added[0].reason.split()[-1]}")
    ]
    logged = await rows(app, select(skips.c.reason, skips.c.rule, skips.c.reasons))
    every = json.dumps(["COMPANY_DNC", "OUTSIDE_CALLING_HOURS"])
    assert ("COMPANY_DNC", "list:dnc", every) in logged
    outcomes = dict(await rows(app, select(campaign_leads.c.lead_id, campaign_leads.c.outcome)))
    assert sorted(outcomes.values()) == ["DNC_REQUESTED", "NO_ANSWER", "skipped:COMPANY_DNC"]


async def test_repeated_and_shuffled_callbacks_apply_once(app, company, tmp_path):
    await prepare(app, company, tmp_path)

    async with simulated_engine(app, Scenario.from_dict(SCENARIO), SimClock(START)) as (
        engine,
        sim,
    ):
        sim.duplicate_callbacks = True
        sim.shuffle_callbacks = True
        await engine.run_until_done(company, "spring")

    ended = await rows(
        app, select(func.count()).select_from(attempts).where(attempts.c.state == "ended")
    )
    assert ended == [(len(sim.calls),)]
    added = await rows(
        app,
        select(func.count()).select_from(dnc_events).where(dnc_events.c.source == "status_rule"),
    )
    assert added == [(1,)]


async def test_a_full_tick_of_callbacks_is_committed_in_groups(app, company):
    # A big tick on one clock second: callbacks arrive while the tick's attempts
    # are still being marked placed, and are committed many to a transaction. On PostgreSQL
    # the two take row locks on the same attempts, which must come in one order.
    count = 1000
    numbers = [f"+1212200{index:04d}" for index in range(count)]
    records = (
        (row, {**dict.fromkeys(leads.LEAD_COLUMNS, ""), "phone": number, "state": "NY"})
        for row, number in enumerate(numbers, start=2)
    )
    busy = CAMPAIGN.replace("max_concurrent = 20", f"max_concurrent = {count}").replace(
        "attempts_per_second = 10", f"attempts_per_second = {count}"
    )
    async with app.transaction() as conn:
        await leads.import_leads(conn, company, records, "spring", NOW)
        await repository.create_campaign(conn, company, busy, NOW)
    clock = SimClock(datetime(2026, 3, 10, 15, 0, tzinfo=UTC))  # 11:00 in New York

    with capture_logs() as events:
        async with simulated_engine(app, Scenario(), clock) as (engine, sim):
            sim.callback_jitter = 0.2  # calls end in any order, as a real carrier's do
            finished = await asyncio.wait_for(engine.run_until_done(company, "spring"), 60)

    assert finished.state is CampaignState.COMPLETED
    assert sorted(call["to"] for call in sim.calls) == numbers
    assert sim.refused_callbacks == []
    assert sim.undelivered_callbacks == []
    retried = [e for e in events if e["event"].startswith(("callbacks.", "database."))]
    assert retried == []  # no deadlock
    ended = await rows(app, select(attempts.c.status).where(attempts.c.state == "ended"))
    assert [status for (status,) in ended] == ["ANSWERED"] * count


async def test_attempts_whose_callbacks_never_arrive_are_settled_by_asking_the_carrier(
    app, company, tmp_path
):
    await prepare(app, company, tmp_path)
    unanswered = {"seed": 7, "default": {"no-answer": 1.0}}

    async with simulated_engine(app, Scenario.from_dict(unanswered), SimClock(START)) as (
        engine,
        sim,
    ):
        engine.callback_base = "http://127.0.0.1:9"  # nothing listens: every callback is lost
        engine.settle_timeout = 0.2
        sim.callback_retries = 0
        finished = await asyncio.wait_for(engine.run_until_done(company, "spring"), 60)

    assert finished.state is CampaignState.COMPLETED
    assert len(sim.undelivered_callbacks) == len(sim.calls) == 6  # two leads, three tries
    ended = await rows(app, select(attempts.c.state, attempts.c.status, attempts.c.carrier_status))
    assert set(ended) == {("ended", "NO_ANSWER", "no-answer")}


async def test_a_forged_callback_is_refused_and_changes_nothing(app, company, tmp_path):
    await prepare(app, company, tmp_path)

    async with simulated_engine(app, Scenario.from_dict(SCENARIO), SimClock(START)) as (engine, _):
        url = f"{engine.callback_base}/webhooks/status?attempt=1"
        form = {"CallSid": "CA" + "0" * 32, "CallStatus": "completed", "Digits": "9"}
        async with aiohttp.ClientSession() as session:
            forged = await session.post(url, data=form, headers={"X-Twilio-Signature": "bad"})
            unsigned = await session.post(url, data=form)

    assert (forged.status, unsigned.status) == (403, 403)
    assert await rows(
        app,
        select(func.count()).select_from(dnc_events).where(dnc_events.c.source == "status_rule"),
    ) == [(0,)]


async def test_a_dnc_add_waits_for_a_screening_in_progress(app, company):
    # The engine screens and commits its dial intents in one transaction holding the
    # screening lock; a DNC add that starts meanwhile only commits after it. So an add that
    # committed first was seen by the screening: the DNC guarantee, on both backends.
    async with app.engine.connect() as screening:
        await screening.begin()
        await registry.lock_for_screening(screening, company)
        await screening.execute(select(func.count()).select_from(attempts))

        async def add() -> None:
            async with app.transaction() as conn:
                await registry.add_numbers(
                    conn,
                    company,
                    ["+13055550101"],
                    DncList.DNC,
                    source=Source.MANUAL,
                    reason="asked",
                    actor="ana",
                    now=NOW,
                )

        adding = asyncio.create_task(add())
        await asyncio.sleep(0.5)
        assert not adding.done()
        await screening.commit()
    await asyncio.wait_for(adding, timeout=10)


async def test_kill_9_mid_run_loses_nothing_and_a_restart_finishes(
    app, company, database_url, tmp_path
):
    many = "phone,external_id\n" + "".join(f"305-555-{n:04d},L{n}\n" for n in range(200, 320))
    (tmp_path / "leads.csv").write_text(many)
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(
        "seed = 3\ndefault = { answered = 0.5, no-answer = 0.5 }\n"
        '[[outcome]]\nmatch = "*7"\nresult = "answered"\ndigits = "9"\n'
    )
    async with app.transaction() as conn:
        await leads.import_leads(
            conn,
            company,
            sheets.iter_records(tmp_path / "leads.csv", leads.LEAD_COLUMNS),
            "spring",
            NOW,
        )
        await repository.create_campaign(
            conn,
            company,
            CAMPAIGN.replace("attempts_per_second = 10", "attempts_per_second = 4"),
            NOW,
        )
    command = [
        sys.executable,
        "-m",
        "dialer",
        "campaign",
        "run",
        "spring",
        "--until-done",
        "--company",
        "acme",
        "--sim-clock",
        "2026-03-10T13:00Z",
        "--scenario",
        str(scenario),
    ]
    env = {**os.environ, "DIALER_DATABASE_URL": database_url, "DIALER_LOG_LEVEL": "WARNING"}

    first = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.DEVNULL
    )
    try:
        while await count(app, attempts) < 20:
            assert first.returncode is None, "the run ended before it could be killed"
            await asyncio.sleep(0.02)
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    second = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await second.communicate()

    assert second.returncode == 0, err.decode()
    assert "is completed" in out.decode()
    states = await rows(
        app, select(campaign_leads.c.state, func.count()).group_by(campaign_leads.c.state)
    )
    assert states == [("done", 120)]
    open_attempts = await rows(
        app, select(attempts.c.id).where(attempts.c.state.in_(["intent", "placed", "unknown"]))
    )
    assert open_attempts == []
    per_lead = await rows(
        app,
        select(attempts.c.lead_id, func.count())
        .where(attempts.c.state != "not_placed")
        .group_by(attempts.c.lead_id)
        .having(func.count() > 3),
    )
    assert per_lead == []
    opted_out = {
        r.number
        for r in await rows(
            app, select(attempts.c.number).where(attempts.c.status == "DNC_REQUESTED")
        )
    }
    async with app.transaction() as conn:
        listed = await registry.blocked(
            conn, company, [f"+{n}" for n in opted_out], Channel.VOICE, NOW
        )
    assert opted_out
    assert len(listed) == len(opted_out)


async def count(app, table) -> int:
    return (await rows(app, select(func.count()).select_from(table)))[0][0]


async def test_a_disposition_after_the_fact_fires_the_status_rules(
    app, company, database_url, tmp_path
):
    await prepare(app, company, tmp_path)
    scenario = Scenario.from_dict(SCENARIO)
    async with simulated_engine(app, scenario, SimClock(START)) as (engine, _):
        await engine.run_until_done(company, "spring")
    attempt_id = (await rows(app, select(func.min(attempts.c.id))))[0][0]
    async with app.transaction() as conn:
        await accounts.add_user(conn, company, "mia", Role.MANAGER, False, NOW)
    runner = CliRunner()
    env = {"DIALER_DATABASE_URL": database_url, "DIALER_LOG_LEVEL": "WARNING"}

    async def dialer(*args: str):
        # The CLI runs its own event loop: give it a thread of its own.
        return await asyncio.to_thread(runner.invoke, main, [*args, "--company", "acme"], env=env)

    unknown = await dialer("interactions", "disposition", str(attempt_id), "NOPE", "--by", "mia")
    done = await dialer(
        "interactions", "disposition", str(attempt_id), "WRONG_NUMBER", "--by", "mia"
    )

    assert unknown.exit_code == 1
    assert "no call status 'NOPE'" in unknown.stderr
    assert done.exit_code == 0, done.output
    assert "lead_dnc:phone, lead_dnc:sms" in done.stdout
    lead_id, status = (
        await rows(
            app, select(attempts.c.lead_id, attempts.c.status).where(attempts.c.id == attempt_id)
        )
    )[0]
    assert status == "WRONG_NUMBER"
    async with app.transaction() as conn:
        blocked = await leads.blocked_channels(conn, [lead_id])
    assert blocked[lead_id] >= {LeadChannel.PHONE, LeadChannel.SMS}
    events = await rows(
        app, select(dnc_events.c.actor, dnc_events.c.reason).where(dnc_events.c.lead_id == lead_id)
    )
    assert ("mia", f"status WRONG_NUMBER on attempt {attempt_id}") in events


# Numbers in three far-apart zones: whatever the hour of the test, one is in calling hours.
AROUND_THE_WORLD = {
    "Europe/London": ["+442079460958", "+442079460959"],
    "Australia/Sydney": ["+61293744000", "+61293744001"],
    "Pacific/Honolulu": ["+18085550100", "+18085550101"],
}
COUNTRIES = frozenset({"GB", "AU", "US"})  # the company may contact numbers there


def numbers_in_calling_hours() -> list[str]:
    for zone, numbers in AROUND_THE_WORLD.items():
        if 9 <= datetime.now(ZoneInfo(zone)).hour < 19:
            return numbers
    raise AssertionError("no zone in calling hours: extend AROUND_THE_WORLD")


async def test_serve_runs_campaigns_unattended_and_stops_on_sigterm(
    app, company, database_url, tmp_path
):
    numbers = numbers_in_calling_hours()
    (tmp_path / "leads.csv").write_text(
        "phone,external_id\n" + "".join(f"{n},S{i}\n" for i, n in enumerate(numbers))
    )
    scenario = tmp_path / "scenario.toml"
    scenario.write_text("seed = 1\ndefault = { answered = 1.0 }\n")
    async with app.transaction() as conn:
        await accounts.set_countries(conn, company, COUNTRIES)
        await leads.import_leads(
            conn,
            company,
            sheets.iter_records(tmp_path / "leads.csv", leads.LEAD_COLUMNS),
            "spring",
            NOW,
        )
        anytime = "\n".join(x for x in CAMPAIGN.splitlines() if not x.startswith("window"))
        await repository.create_campaign(conn, company, anytime, NOW)
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
            while (await state_of(app, company, "spring")) is not CampaignState.COMPLETED:
                assert server.returncode is None, "serve exited early"
                await asyncio.sleep(0.1)
    finally:
        server.send_signal(signal.SIGTERM)
        out, _ = await server.communicate()

    assert server.returncode == 0
    assert out.decode() == "Stopped.\n"
    ended = await rows(app, select(attempts.c.number, attempts.c.status))
    assert sorted(status for _, status in ended) == ["ANSWERED", "ANSWERED"]


async def state_of(app, company, name: str) -> CampaignState:
    async with app.transaction() as conn:
        return (await repository.find_campaign(conn, company, name)).state


def record_intents(monkeypatch) -> list[tuple[float, list[str]]]:
    """Notes when each batch of dial intents was written, just before its commit."""
    written: list[tuple[float, list[str]]] = []
    commit = tick.commit_intents

    async def recording(*args, **kwargs):
        claimed, intents, skipped = await commit(*args, **kwargs)
        written.append((time.monotonic(), [intent.lead.phone for intent in intents]))
        return claimed, intents, skipped

    monkeypatch.setattr("dialer.dispatch.commit_intents", recording)
    return written


async def test_dnc_adds_racing_a_running_campaign_are_never_dialed(
    app, company, tmp_path, monkeypatch
):
    numbers = [f"+1305555{n:04d}" for n in range(1000, 1200)]
    (tmp_path / "leads.csv").write_text(
        "phone,external_id\n" + "".join(f"{n},R{i}\n" for i, n in enumerate(numbers))
    )
    async with app.transaction() as conn:
        await leads.import_leads(
            conn,
            company,
            sheets.iter_records(tmp_path / "leads.csv", leads.LEAD_COLUMNS),
            "spring",
            NOW,
        )
        await repository.create_campaign(conn, company, CAMPAIGN, NOW)
    added_at: dict[str, float] = {}

    async def add_while_running() -> None:
        for number in random.Random(4).sample(numbers, len(numbers)):
            async with app.transaction() as conn:
                await registry.add_numbers(
                    conn,
                    company,
                    [number],
                    DncList.DNC,
                    source=Source.API,
                    reason="race",
                    actor="api",
                    now=NOW,
                )
            added_at[number] = time.monotonic()
            await asyncio.sleep(0.003)  # spread the adds over the run

    scenario = Scenario.from_dict({"seed": 2, "default": {"answered": 1.0}})
    async with simulated_carrier(scenario) as (carrier, sim):
        nine_in_new_york = SimClock(datetime(2026, 3, 10, 13, 0, tzinfo=UTC))
        engine = Dispatcher(app, carrier, clock=nine_in_new_york)
        written = record_intents(monkeypatch)
        async with listening(engine, "127.0.0.1", 0):
            adder = asyncio.create_task(add_while_running())
            await engine.run_until_done(company, "spring")
            await adder

    dialed = {number for _, batch in written for number in batch}
    assert dialed, "the adds finished before the campaign dialed anyone"
    assert len(dialed) < len(numbers), "the campaign finished before the adds raced it"
    for committed, batch in written:
        late = [n for n in batch if n in added_at and added_at[n] < committed]
        assert not late, f"dialed after their DNC add had committed: {late}"
    assert {call["to"] for call in sim.calls} == dialed
