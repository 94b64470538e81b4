"""Instants and durations at the edges: accepted from 1970-01-01 to 2100-01-01, retry delays
of at most 365 days; outside, a clear refusal and nothing changed. A blackout ends early
(`blackouts end`), audited, and one stored far in the future no longer halts the gate."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import Result
from sqlalchemy import func, insert, select, text

from campaigns import (
    CampaignState,
    InvalidDefinition,
    parse_campaign,
    parse_duration,
    repository,
)
from campaigns.outcomes import next_step
from campaigns.statuses import CallStatus
from campaigns.tables import campaign_leads
from compliance import (
    Attempt,
    Channel,
    Code,
    InvalidBlackout,
    NotPermitted,
    Role,
    accounts,
    blackouts,
    leads,
    load_rules,
    registry,
    screen,
    sheets,
)
from compliance.hours import check_hours
from compliance.tables import blackouts as blackouts_table
from dialer.carriers.simulator import Scenario
from dialer.clock import SimClock
from dialer.database import create_engine
from dialer.runner import simulated_engine
from tests.support import NOW

RULES = load_rules()
NEW_ORLEANS = "+15045550100"
FAR_FUTURE = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)  # the last instant accepted
OUT_OF_RANGE = ("0001-01-01T00:00Z", "1969-12-31T23:59Z", "2100-01-01T00:01Z", "9999-12-31T23:59Z")
RANGE_MESSAGE = "from 1970-01-01 to 2100-01-01"


def listed(dialer) -> list[dict]:
    result = dialer("blackouts", "list", "--all", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def add_louisiana(dialer, *extra: str) -> Result:
    return dialer(
        *("blackouts", "add", "--state", "LA", "--source", "Proc. 90", "--reason", "Hurricane"),
        *extra,
    )


# --- instants: one range everywhere one is given ----------------------------------------------


@pytest.mark.parametrize("moment", OUT_OF_RANGE)
def test_a_blackout_outside_the_range_is_refused_and_nothing_is_stored(dialer, moment):
    until = add_louisiana(dialer, "--until", moment)
    start = add_louisiana(dialer, "--from", moment, "--until", "2026-09-20T00:00Z")

    assert (until.exit_code, start.exit_code) == (2, 2)
    assert RANGE_MESSAGE in until.stderr
    assert "--until" in until.stderr
    assert "--from" in start.stderr
    assert "Traceback" not in until.output + start.output
    assert listed(dialer) == []


def test_the_range_ends_are_accepted(dialer):
    added = add_louisiana(dialer, "--from", "1970-01-01T00:00Z", "--until", "2100-01-01T00:00Z")

    assert added.exit_code == 0, added.output
    assert [b["ends_at"] for b in listed(dialer)] == ["2100-01-01T00:00:00+00:00"]
    decision = json.loads(
        dialer("check", NEW_ORLEANS, "--at", "2099-06-01T16:00Z", "--json").stdout
    )
    assert decision["next_eligible_at"] == "2100-01-01T00:00:00+00:00"  # 18:00 in New Orleans


@pytest.mark.parametrize("moment", ["0001-01-01T00:00Z", "9999-12-31T23:00Z"])
def test_check_at_outside_the_range_is_a_usage_error(dialer, moment):
    result = dialer("check", NEW_ORLEANS, "--at", moment)

    assert result.exit_code == 2
    assert RANGE_MESSAGE in result.stderr
    assert "--at" in result.stderr


@pytest.mark.parametrize("option", ["--since", "--until"])
def test_skips_since_and_until_outside_the_range_are_usage_errors(dialer, option):
    result = dialer("skips", option, "9999-12-31T23:00Z")

    assert result.exit_code == 2
    assert RANGE_MESSAGE in result.stderr


SPRING = """
name = "spring"
channel = "voice"
leads = "spring"
caller_id = "+13055550000"
max_attempts = 2
max_concurrent = 5
attempts_per_second = 5
retry = { NO_ANSWER = "4h", BUSY = "30m", MACHINE = "1d" }
ivr_optout_digit = "9"
"""


@pytest.mark.parametrize("moment", ["0001-01-01T00:00Z", "9999-12-31T00:00Z"])
def test_a_run_on_a_clock_outside_the_range_is_refused_before_anything_is_written(
    dialer, database_url, tmp_path, moment
):
    lead_file = tmp_path / "leads.csv"
    lead_file.write_text("phone\n305-555-0101\n212-555-0102\n")
    definition = tmp_path / "spring.toml"
    definition.write_text(SPRING)
    assert dialer("leads", "import", str(lead_file), "--list", "spring").exit_code == 0
    assert dialer("campaign", "create", "--from", str(definition)).exit_code == 0

    result = dialer("campaign", "run", "spring", "--until-done", "--sim-clock", moment)

    assert result.exit_code == 2
    assert RANGE_MESSAGE in result.stderr
    shown = json.loads(dialer("campaign", "show", "spring", "--json").stdout)
    assert shown["state"] == "draft"
    assert asyncio.run(_count(database_url, campaign_leads)) == 0


async def _count(database_url: str, table) -> int:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(select(func.count()).select_from(table))).scalar_one()
    finally:
        await engine.dispose()


async def test_the_domain_refuses_a_blackout_outside_the_range(engine, company):
    async with engine.begin() as conn:
        with pytest.raises(InvalidBlackout, match=RANGE_MESSAGE):
            await blackouts.add_blackout(
                conn,
                company,
                "LA",
                NOW,
                FAR_FUTURE,
                reason="",
                source="Proc. 90",
                by="ana",
                now=NOW,
            )
        stored = await blackouts.blackouts_after(conn, company, NOW)
    assert stored == ()


# --- the gate: a blackout stored far in the future (by the old code) -----------------------


async def store_far_future_blackout(conn, company) -> None:
    """As the old code stored it: no range check on the way in."""
    await conn.execute(
        insert(blackouts_table).values(
            company_id=company.id,
            state="LA",
            starts_at=NOW - timedelta(days=1),
            ends_at=FAR_FUTURE,
            reason="Hurricane",
            source="Proc. 90",
            added_by="ana",
            added_at=NOW,
        )
    )


async def test_a_far_future_blackout_blocks_its_state_with_no_time_in_sight(engine, company):
    batch = [Attempt(NEW_ORLEANS, Channel.VOICE), Attempt("+12125550102", Channel.VOICE)]
    async with engine.begin() as conn:
        await store_far_future_blackout(conn, company)
        louisiana, new_york = await screen(conn, company, batch, NOW, RULES)

    assert [reason.code for reason in louisiana.reasons] == [Code.STATE_EMERGENCY_BLACKOUT]
    assert not louisiana.permanent
    assert louisiana.next_eligible_at is None
    assert new_york.allowed


def test_the_gate_names_no_instant_past_the_range():
    new_york = ["America/New_York"]
    evening = datetime(2099, 12, 31, 3, 0, tzinfo=UTC)  # 22:00 on 2099-12-30 in New York
    past_the_end = datetime(2100, 1, 1, 3, 0, tzinfo=UTC)  # 22:00 on 2099-12-31
    near_the_limit = datetime(9999, 12, 30, 3, 0, tzinfo=UTC)  # where adding days overflows

    before = check_hours(evening, new_york, [], "voice", RULES)
    after = check_hours(past_the_end, new_york, [], "voice", RULES)
    far = check_hours(near_the_limit, new_york, [], "voice", RULES)

    assert before.next_eligible_at == datetime(2099, 12, 31, 13, 0, tzinfo=UTC)
    assert [reason.code for reason in after.reasons] == [Code.OUTSIDE_CALLING_HOURS]
    assert after.next_eligible_at is None
    assert not far.allowed
    assert far.next_eligible_at is None


def test_dialer_check_answers_despite_a_far_future_blackout(dialer, database_url):
    asyncio.run(_store_in_default_company(database_url))

    result = dialer("check", NEW_ORLEANS, "--at", "2026-03-10T16:00Z", "--json")
    sentence = dialer("check", NEW_ORLEANS, "--at", "2026-03-10T16:00Z")
    elsewhere = dialer("check", "+12125550102", "--at", "2026-03-10T16:00Z", "--json")

    decision = json.loads(result.stdout)
    assert [reason["code"] for reason in decision["reasons"]] == ["STATE_EMERGENCY_BLACKOUT"]
    assert decision["next_eligible_at"] is None
    assert "no possible time in sight" in sentence.stdout
    assert json.loads(elsewhere.stdout)["allowed"] is True


async def _store_in_default_company(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await store_far_future_blackout(conn, await accounts.find_company(conn, "default"))
    finally:
        await engine.dispose()


async def test_a_campaign_runs_to_completion_despite_a_far_future_blackout(app, company, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("phone,external_id\n504-555-0100,LOUISIANA\n212-555-0102,NEW_YORK\n")
    async with app.transaction() as conn:
        await store_far_future_blackout(conn, company)
        await leads.import_leads(
            conn, company, sheets.iter_records(path, leads.LEAD_COLUMNS), "spring", NOW
        )
        await repository.create_campaign(conn, company, SPRING, NOW)
    scenario = Scenario.from_dict({"seed": 1, "default": {"busy": 1.0}})

    async with simulated_engine(app, scenario, SimClock(NOW)) as (engine, sim):
        finished = await engine.run_until_done(company, "spring")

    assert finished.state is CampaignState.COMPLETED
    assert [call["to"] for call in sim.calls] == ["+12125550102"] * 2
    async with app.transaction() as conn:
        outcomes = sorted((await conn.execute(select(campaign_leads.c.outcome))).scalars().all())
    assert outcomes == ["BUSY", "skipped:STATE_EMERGENCY_BLACKOUT"]


# --- durations ---------------------------------------------------------------------------------


VOICE = {
    "name": "spring",
    "channel": "voice",
    "leads": "spring",
    "caller_id": "+13055550000",
    "max_attempts": 3,
    "max_concurrent": 5,
    "attempts_per_second": 5,
    "ivr_optout_digit": "9",
}


@pytest.mark.parametrize("delay", ["366d", "999999999d", "99999999999d", "8761h", "31536001s"])
def test_a_retry_delay_over_365_days_is_refused_naming_the_field(delay):
    with pytest.raises(InvalidDefinition, match=r"retry\.BUSY") as refused:
        parse_campaign({**VOICE, "retry": {"BUSY": delay}})

    assert "365 days" in str(refused.value)
    assert delay in str(refused.value)


@pytest.mark.parametrize("delay", ["365d", "8760h", "364d23h59m60s"])
def test_a_retry_delay_of_365_days_is_accepted(delay):
    assert parse_duration(delay) == timedelta(days=365)


def test_campaign_create_refuses_an_overflowing_retry_delay(dialer, tmp_path):
    definition = tmp_path / "spring.toml"
    for delay in ("999999999d", "99999999999d"):
        definition.write_text(SPRING.replace('BUSY = "30m"', f'BUSY = "{delay}"'))

        result = dialer("campaign", "create", "--from", str(definition))

        assert result.exit_code == 1
        assert "retry.BUSY" in result.stderr
        assert "365 days" in result.stderr
    assert json.loads(dialer("campaign", "list", "--json").stdout) == []


def test_a_retry_due_past_the_range_finishes_the_lead_instead_of_overflowing():
    busy = CallStatus("BUSY", "Busy", final=False)
    checked = parse_campaign({**VOICE, "retry": {"BUSY": "30d"}})
    huge = replace(checked, retry={"BUSY": timedelta(days=999_999_999)})  # not from a file

    assert next_step(busy, checked, 1, NOW).due_at == NOW + timedelta(days=30)
    assert next_step(busy, checked, 1, LATEST - timedelta(days=30)).due_at == LATEST
    assert next_step(busy, checked, 1, LATEST - timedelta(days=29)).outcome == "BUSY"
    assert next_step(busy, huge, 1, NOW).outcome == "BUSY"


# --- ending a blackout early ------------------------------------------------------------------


@pytest.fixture
def louisiana(dialer):
    """A Louisiana blackout over March 2098, users who may and may not end it; its id."""
    dialer("users", "add", "mia", "--role", "manager", "--can-remove-dnc")
    dialer("users", "add", "root", "--role", "admin")
    dialer("users", "add", "max", "--role", "manager")
    added = add_louisiana(dialer, "--from", "2098-03-01T00:00Z", "--until", "2098-04-01T00:00Z")
    assert added.exit_code == 0, added.output
    return str(listed(dialer)[0]["id"])


def check_at(dialer, moment: str) -> dict:
    return json.loads(dialer("check", NEW_ORLEANS, "--at", moment, "--json").stdout)


def test_blackouts_list_shows_each_id(dialer, louisiana):
    add_louisiana(dialer, "--from", "2098-05-01T00:00Z", "--until", "2098-06-01T00:00Z")

    shown = listed(dialer)
    table = dialer("blackouts", "list", "--all")

    assert [b["id"] for b in shown] == [int(louisiana), int(louisiana) + 1]
    assert table.stdout.split()[0] == "id"
    assert f"\n{louisiana} " in table.stdout


def test_ending_a_blackout_early_lets_calls_go_and_is_audited(dialer, louisiana):
    before = check_at(dialer, "2098-03-20T16:00Z")

    ended = dialer(
        *("blackouts", "end", louisiana, "--at", "2098-03-15T00:00Z"),
        *("--by", "mia", "--reason", "Proclamation 91 lifts it"),
    )

    assert ended.exit_code == 0, ended.output
    assert "2098-03-15T00:00:00+00:00" in ended.stdout
    assert [r["code"] for r in before["reasons"]] == ["STATE_EMERGENCY_BLACKOUT"]
    assert before["next_eligible_at"] == "2098-04-01T00:00:00+00:00"
    assert check_at(dialer, "2098-03-20T16:00Z")["allowed"] is True
    during = check_at(dialer, "2098-03-10T16:00Z")
    assert [r["code"] for r in during["reasons"]] == ["STATE_EMERGENCY_BLACKOUT"]
    assert during["next_eligible_at"] == "2098-03-15T00:00:00+00:00"
    [record] = listed(dialer)
    assert record["ends_at"] == "2098-04-01T00:00:00+00:00"  # as declared
    assert record["ended"]["at"] == "2098-03-15T00:00:00+00:00"
    assert record["ended"]["by"] == "mia"
    assert record["ended"]["reason"] == "Proclamation 91 lifts it"
    assert record["ended"]["entered_at"]
    table = dialer("blackouts", "list", "--all").stdout
    assert "mia" in table
    assert "Proclamation 91 lifts it" in table


def test_an_admin_ends_a_blackout_now_by_default(dialer):
    dialer("users", "add", "root", "--role", "admin")
    add_louisiana(dialer, "--until", "2099-01-01T00:00Z")
    [record] = listed(dialer)

    ended = dialer("blackouts", "end", str(record["id"]), "--by", "root", "--reason", "lifted")

    assert ended.exit_code == 0, ended.output
    assert dialer("blackouts", "list", "--json").stdout.strip() == "[]"
    now = json.loads(dialer("check", NEW_ORLEANS, "--json").stdout)
    assert "STATE_EMERGENCY_BLACKOUT" not in [reason["code"] for reason in now["reasons"]]


@pytest.mark.parametrize(
    ("by", "reason", "message"),
    [
        ("max", "lifted", "can_remove_dnc"),
        ("nobody", "lifted", "no user named"),
        ("mia", " ", "reason"),
    ],
)
def test_ending_needs_a_permitted_user_and_a_reason(dialer, louisiana, by, reason, message):
    before = listed(dialer)

    refused = dialer("blackouts", "end", louisiana, "--by", by, "--reason", reason)

    assert refused.exit_code == 1
    assert message in refused.stderr
    assert listed(dialer) == before


def test_ending_refuses_usage_errors_and_unknown_blackouts(dialer, louisiana):
    before = listed(dialer)

    no_by = dialer("blackouts", "end", louisiana, "--reason", "lifted")
    no_reason = dialer("blackouts", "end", louisiana, "--by", "mia")
    far = dialer(
        "blackouts", "end", louisiana, "--at", "9999-01-01T00:00Z", "--by", "mia", "--reason", "x"
    )
    unknown = dialer("blackouts", "end", "999", "--by", "mia", "--reason", "lifted")
    not_a_number = dialer("blackouts", "end", "LA", "--by", "mia", "--reason", "lifted")

    assert (no_by.exit_code, no_reason.exit_code, far.exit_code) == (2, 2, 2)
    assert RANGE_MESSAGE in far.stderr
    assert unknown.exit_code == 1
    assert "no blackout 999" in unknown.stderr
    assert not_a_number.exit_code == 2
    assert listed(dialer) == before


def test_a_blackout_already_over_cannot_be_ended_again(dialer, louisiana):
    first = dialer("blackouts", "end", louisiana, "--by", "mia", "--reason", "lifted")
    ended = listed(dialer)

    again = dialer("blackouts", "end", louisiana, "--by", "root", "--reason", "again")
    add_louisiana(dialer, "--from", "2026-01-01T00:00Z", "--until", "2026-02-01T00:00Z")
    past = str(listed(dialer)[0]["id"])  # earliest first
    late = dialer(
        *("blackouts", "end", louisiana, "--at", "2098-05-01T00:00Z"),
        *("--by", "mia", "--reason", "x"),
    )
    over = dialer("blackouts", "end", past, "--by", "mia", "--reason", "lifted")

    assert first.exit_code == 0, first.output
    assert again.exit_code == 1
    assert "already ended" in again.stderr
    assert late.exit_code == 1
    assert over.exit_code == 1
    assert "already over" in over.stderr
    assert [b for b in listed(dialer) if str(b["id"]) == louisiana] == ended


async def test_ending_a_blackout_early_at_its_end_or_later_is_refused(engine, company):
    async with engine.begin() as conn:
        await accounts.add_user(conn, company, "mia", Role.MANAGER, True, NOW)
        user = await accounts.find_user(conn, company, "mia")
        added = await blackouts.add_blackout(
            conn,
            company,
            "LA",
            NOW,
            NOW + timedelta(days=3),
            reason="",
            source="Proc. 90",
            by="ana",
            now=NOW,
        )
        with pytest.raises(InvalidBlackout, match="ends at"):
            await blackouts.end_blackout(
                conn,
                company,
                added.id,
                NOW + timedelta(days=3),
                user=user,
                by="mia",
                reason="late",
                now=NOW,
            )
        with pytest.raises(NotPermitted):
            await blackouts.end_blackout(
                conn, company, added.id, NOW, user=None, by="nobody", reason="x", now=NOW
            )
        with pytest.raises(InvalidBlackout, match=RANGE_MESSAGE):
            await blackouts.end_blackout(
                conn, company, added.id, FAR_FUTURE, user=user, by="mia", reason="x", now=NOW
            )
        ended = await blackouts.end_blackout(
            conn,
            company,
            added.id,
            NOW + timedelta(days=1),
            user=user,
            by="mia",
            reason="lifted",
            now=NOW,
        )
        still = await blackouts.blackouts_after(conn, company, NOW)
        later = await blackouts.blackouts_after(conn, company, NOW + timedelta(days=1))

    assert ended.until == NOW + timedelta(days=1)
    assert [b.id for b in still] == [added.id]
    assert later == ()


@pytest.mark.postgresql
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_ending_a_blackout_waits_for_a_screening_in_progress(engine, company):
    async with engine.begin() as conn:
        await accounts.add_user(conn, company, "mia", Role.MANAGER, True, NOW)
        added = await blackouts.add_blackout(
            conn,
            company,
            "LA",
            NOW,
            NOW + timedelta(days=3),
            reason="",
            source="Proc. 90",
            by="ana",
            now=NOW,
        )

    async def end() -> None:
        async with engine.begin() as conn:
            user = await accounts.find_user(conn, company, "mia")
            await blackouts.end_blackout(
                conn, company, added.id, NOW, user=user, by="mia", reason="lifted", now=NOW
            )

    async with engine.connect() as screening:
        await screening.begin()
        await registry.lock_for_screening(screening, company)
        ending = asyncio.create_task(end())
        async with engine.connect() as observer:
            while not ending.done():  # until it waits for the lock, or ends without it
                if await _waits_for_advisory_lock(observer):
                    break
                await asyncio.sleep(0.01)
        assert not ending.done()
        await screening.commit()
    await ending
    async with engine.connect() as conn:
        assert await blackouts.blackouts_after(conn, company, NOW) == ()


async def _waits_for_advisory_lock(conn) -> bool:
    waiting = await conn.execute(
        text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    )
    return waiting.scalar_one() > 0
