"""`dialer campaign forecast`: a campaign run on a copy, the real database unchanged; both
backends."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import insert, select

from campaigns import CampaignAction, metadata, repository
from compliance import accounts, leads, to_key
from compliance.tables import companies, dnc_entries
from compliance.tables import leads as leads_table
from dialer.cli import main
from dialer.database import create_engine, upgrade_schema
from dialer.forecast import copy_campaign
from tests.support import NOW

START = "2026-03-10T14:00Z"  # a Tuesday, 10:00 in Miami
CAMPAIGN = """\
name = "spring"
channel = "voice"
leads = "spring"
caller_id = "+13055550000"
max_attempts = 3
max_concurrent = 10
attempts_per_second = 10
window = { start = "09:00", end = "20:00", days = ["mon", "tue", "wed", "thu", "fri"] }
retry = { NO_ANSWER = "1d", BUSY = "1d", MACHINE = "1d" }
ivr_optout_digit = "9"
"""
# One caller presses 9 (a real run would put the number on the dnc list), one never answers.
SCENARIO = """\
seed = 3
[[outcome]]
match = "+13055550117"
result = "answered"
digits = "9"

[[outcome]]
match = "+13055550118"
result = "no-answer"
"""
LEADS = "phone,external_id,state\n" + "".join(f"305-555-01{n},L{n},FL\n" for n in range(11, 19))


@pytest.fixture
def dialer(database_url, tmp_path):
    """Run `dialer ARGS...` on the test database, with a company holding a list of eight
    leads (one on the dnc list), an unrelated dnc entry and a draft campaign."""
    runner = CliRunner()
    env = {"DIALER_DATABASE_URL": database_url, "DIALER_LOG_LEVEL": "WARNING"}

    def invoke(*args: str, **more_env: str) -> Result:
        return runner.invoke(main, list(args), env={**env, **more_env}, catch_exceptions=False)

    (tmp_path / "leads.csv").write_text(LEADS, encoding="utf-8")
    (tmp_path / "spring.toml").write_text(CAMPAIGN, encoding="utf-8")
    (tmp_path / "scenario.toml").write_text(SCENARIO, encoding="utf-8")
    for command in (
        ("init",),
        ("leads", "import", str(tmp_path / "leads.csv"), "--list", "spring"),
        ("dnc", "add", "305-555-0112", "212-555-0199"),
        ("campaign", "create", "--from", str(tmp_path / "spring.toml")),
    ):
        assert invoke(*command).exit_code == 0, command
    return invoke


def every_row(database_url: str) -> dict[str, list[tuple]]:
    """Every row of every table, in a stable order."""

    async def read() -> dict[str, list[tuple]]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                return {
                    table.name: sorted(
                        (await conn.execute(select(table))).all(), key=lambda row: repr(row)
                    )
                    for table in metadata.sorted_tables
                }
        finally:
            await engine.dispose()

    return asyncio.run(read())


def as_json(result: Result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def forecast(dialer, tmp_path: Path, *more: str, **env: str) -> Result:
    scenario = str(tmp_path / "scenario.toml")
    return dialer("campaign", "forecast", "spring", "--from", START, "--scenario", scenario,
                  *more, **env)  # fmt: skip


def test_a_forecast_changes_nothing_and_reports_what_a_real_run_does(
    dialer, database_url, tmp_path
):
    before = every_row(database_url)

    # A real carrier configured (and unreachable): a forecast never calls anyone.
    twilio = {"DIALER_CARRIER": "twilio", "DIALER_CARRIER_URL": "http://127.0.0.1:9"}
    twilio |= {"DIALER_CARRIER_ACCOUNT_SID": "AC0", "DIALER_CARRIER_AUTH_TOKEN": "t"}
    forecast_json = forecast(dialer, tmp_path, "--json", **twilio)
    table = forecast(dialer, tmp_path)

    assert every_row(database_url) == before
    predicted = as_json(forecast_json)
    assert predicted["state"] == "completed"
    assert (predicted["start"], predicted["horizon"]) == (
        "2026-03-10T14:00:00+00:00",
        "2026-03-17T14:00:00+00:00",
    )
    report = predicted["report"]
    assert report["dnc_added"] == {"DNC_REQUESTED": 1}
    assert report["not_contacted_by_last_reason"] == {"COMPANY_DNC": 1, "NO_ANSWER": 1}
    assert table.exit_code == 0
    assert "nothing was stored" in table.stdout
    assert "Campaign 'spring'" in table.stdout

    # The same run for real, on the database the forecast left as it was.
    scenario = str(tmp_path / "scenario.toml")
    ran = dialer("campaign", "run", "spring", "--until-done", "--sim-clock", START,
                 "--scenario", scenario)  # fmt: skip
    assert ran.exit_code == 0, ran.output
    assert as_json(dialer("report", "spring", "--format", "json")) == report


def started_and_paused(database_url: str, name: str) -> None:
    """Start the campaign at NOW (its leads due then), and pause it."""

    async def change() -> None:
        engine = create_engine(database_url)
        try:
            async with engine.begin() as conn:
                company = await accounts.find_company(conn, "default")
                for action in (CampaignAction.START, CampaignAction.PAUSE):
                    await repository.change_state(conn, company, name, action, NOW)
        finally:
            await engine.dispose()

    asyncio.run(change())


def test_a_forecast_of_a_started_campaign_stops_at_its_horizon(dialer, database_url, tmp_path):
    started_and_paused(database_url, "spring")
    before = every_row(database_url)

    predicted = as_json(forecast(dialer, tmp_path, "--days", "1", "--json"))

    assert every_row(database_url) == before
    # The lead that never answers is due again a day after its first call: past the horizon.
    assert predicted["state"] == "running"
    assert predicted["stopped_at"] == predicted["horizon"] == "2026-03-11T14:00:00+00:00"
    assert predicted["report"]["leads_still_queued"] == 1
    assert predicted["report"]["attempts_by_status"]["NO_ANSWER"] == 1
    shown = as_json(dialer("campaign", "show", "spring", "--json"))
    assert shown["state"] == "paused"


def test_bad_forecast_input_is_refused_and_changes_nothing(dialer, database_url, tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text('seed = "seven"\n', encoding="utf-8")
    before = every_row(database_url)

    unknown = dialer("campaign", "forecast", "autumn")
    bad_scenario = dialer("campaign", "forecast", "spring", "--scenario", str(broken))
    no_days = dialer("campaign", "forecast", "spring", "--days", "0")
    naive = dialer("campaign", "forecast", "spring", "--from", "2026-03-10T14:00")

    assert unknown.exit_code == 1
    assert "no campaign named 'autumn'" in unknown.stderr
    assert bad_scenario.exit_code == 1
    assert "seed" in bad_scenario.stderr
    assert (no_days.exit_code, naive.exit_code) == (2, 2)
    for result in (unknown, bad_scenario, no_days, naive):
        assert "Traceback" not in result.output
    assert every_row(database_url) == before


async def test_the_copy_holds_only_the_dnc_entries_of_the_campaigns_leads(
    engine, company, tmp_path
):
    lead = {"phone": "305-555-0111", "external_id": "L11", "state": "FL"}
    lead |= {key: "" for key in ("first_name", "last_name", "email", "postal_code", "timezone")}
    entry = {"company_id": company.id, "list_name": "dnc", "source": "manual"}
    entry |= {"added_by": "ana", "added_at": NOW}
    async with engine.begin() as conn:
        await leads.import_leads(conn, company, [(2, lead)], "spring", NOW)
        other, _ = await accounts.ensure_company(conn, "other", NOW)
        await conn.execute(
            insert(dnc_entries),
            [
                {**entry, "number": to_key("+13055550111")},
                {**entry, "number": to_key("+12125550199")},  # no lead of the list
                {**entry, "number": to_key("+13055550111"), "company_id": other.id},
            ],
        )
        await repository.create_campaign(conn, company, CAMPAIGN, NOW)
    copy = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'copy.db'}")
    try:
        await upgrade_schema(copy)
        async with engine.connect() as source, copy.begin() as target:
            await copy_campaign(source, target, company, "spring", NOW)
        async with copy.connect() as conn:
            listed = await conn.execute(select(dnc_entries.c.company_id, dnc_entries.c.number))
            copied = await conn.execute(select(leads_table.c.external_id))
            names = await conn.execute(select(companies.c.name))
            listed, copied, names = listed.all(), copied.all(), names.all()
    finally:
        await copy.dispose()

    assert listed == [(company.id, to_key("+13055550111"))]
    assert copied == [("L11",)]
    assert names == [("acme",)]


TEXTS = """\
name = "texts"
channel = "sms"
leads = "spring"
caller_id = "+13055550000"
max_attempts = 1
max_concurrent = 10
attempts_per_second = 10
window = { start = "09:00", end = "20:00", days = ["mon", "tue", "wed", "thu", "fri"] }
sms_body = "Spring offer. Reply STOP to opt out."
"""


def test_a_forecast_counts_the_opt_outs_its_scripted_replies_bring(dialer, database_url, tmp_path):
    (tmp_path / "texts.toml").write_text(TEXTS, encoding="utf-8")
    assert dialer("campaign", "create", "--from", str(tmp_path / "texts.toml")).exit_code == 0
    scenario = tmp_path / "replies.toml"
    scenario.write_text('[[reply]]\nmatch = "*13"\nbody = "STOP"\ndelay = 0\n', encoding="utf-8")
    before = every_row(database_url)

    predicted = as_json(
        dialer("campaign", "forecast", "texts", "--from", START, "--scenario", str(scenario),
               "--json")
    )  # fmt: skip

    assert every_row(database_url) == before
    report = predicted["report"]
    assert report["opt_outs"] == {"ivr_keypress": 0, "sms_keyword": 1, "sms_presumed": 0}
    ran = dialer("campaign", "run", "texts", "--until-done", "--sim-clock", START,
                 "--scenario", str(scenario))  # fmt: skip
    assert ran.exit_code == 0, ran.output
    assert as_json(dialer("report", "texts", "--format", "json")) == report
