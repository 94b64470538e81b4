"""A company contacts numbers in its countries only: the US and its territories by default.

The gate's rules (hours, caps, zones, blackouts) are those of the US and its territories: a
number of another country is skipped with COUNTRY_NOT_ALLOWED, which waiting never lifts.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, inspect, select, text

from campaigns import CampaignState, repository
from campaigns.tables import campaign_leads, skips
from compliance import (
    Attempt,
    Channel,
    Code,
    DncEntry,
    DncList,
    Facts,
    Source,
    accounts,
    decide,
    explain,
    leads,
    load_rules,
    screen,
    sheets,
)
from compliance.tables import companies
from dialer.carriers.simulator import Scenario
from dialer.clock import SimClock
from dialer.database import MIGRATIONS
from dialer.runner import simulated_engine
from tests.support import NOW

RULES = load_rules()
NOON_IN_NEW_YORK = datetime(2026, 3, 10, 16, 0, tzinfo=UTC)  # Tue; 16:00 in London
TOKYO = "+81312345678"
LONDON = "+442079460958"
TORONTO = "+14165550100"
TERRITORIES = {
    "US": "+13055550134",
    "PR": "+17872345678",
    "VI": "+13406421234",
    "GU": "+16713001234",
    "AS": "+16846221234",
    "MP": "+16702345678",
}


def codes(decision) -> list[Code]:
    return [reason.code for reason in decision.reasons]


# --- the decision, on plain data ---------------------------------------------------------------


@pytest.mark.parametrize("channel", [Channel.VOICE, Channel.SMS])
@pytest.mark.parametrize(("number", "country"), [(TOKYO, "JP"), (LONDON, "GB"), (TORONTO, "CA")])
def test_a_number_outside_the_companys_countries_is_a_permanent_skip(number, country, channel):
    decision = decide(Attempt(number, channel), Facts(), NOON_IN_NEW_YORK, RULES)

    assert codes(decision) == [Code.COUNTRY_NOT_ALLOWED]
    assert decision.permanent
    assert decision.next_eligible_at is None
    assert decision.reasons[0].rule == "company"
    assert decision.reasons[0].detail == {
        "number": number,
        "country": country,
        "countries": ["AS", "GU", "MP", "PR", "US", "VI"],
    }
    assert explain(decision) == (
        f"Blocked: {number} is a number in {country}, and the company contacts numbers in "
        "AS, GU, MP, PR, US, VI only. Waiting will not help."
    )


@pytest.mark.parametrize("country", sorted(TERRITORIES))
def test_the_us_and_its_territories_are_the_default_countries(country):
    decision = decide(Attempt(TERRITORIES[country], Channel.VOICE), Facts(), NOW, RULES)

    assert Code.COUNTRY_NOT_ALLOWED not in codes(decision)
    assert decision.zones  # the gate knows where the number rings


def test_a_country_the_company_adds_is_screened_by_the_hours_rules():
    facts = Facts(countries=frozenset({"US", "GB"}))

    decision = decide(Attempt(LONDON, Channel.VOICE), facts, NOON_IN_NEW_YORK, RULES)
    night = decide(
        Attempt(LONDON, Channel.VOICE), facts, datetime(2026, 3, 10, 23, 0, tzinfo=UTC), RULES
    )
    us = decide(Attempt(TERRITORIES["PR"], Channel.VOICE), facts, NOON_IN_NEW_YORK, RULES)

    assert decision.allowed
    assert decision.local_times == {"Europe/London": "2026-03-10T16:00:00+00:00"}
    assert codes(night) == [Code.OUTSIDE_CALLING_HOURS]
    assert codes(us) == [Code.COUNTRY_NOT_ALLOWED]  # PR was not kept


def test_a_number_of_no_country_is_never_in_the_companys_countries():
    decision = decide(Attempt("+800 1234 5678", Channel.VOICE), Facts(), NOON_IN_NEW_YORK, RULES)

    assert codes(decision) == [Code.COUNTRY_NOT_ALLOWED]
    assert decision.reasons[0].detail["country"] is None
    assert "+80012345678 is a number of no country" in explain(decision)


def test_a_listed_foreign_number_reports_the_listing_too():
    entry = DncEntry(TOKYO, DncList.DNC, Source.MANUAL, "asked", "ana", NOW, None)

    decision = decide(Attempt(TOKYO, Channel.VOICE), Facts(listings=(entry,)), NOW, RULES)

    assert codes(decision) == [Code.COUNTRY_NOT_ALLOWED, Code.COMPANY_DNC]


# --- storage -----------------------------------------------------------------------------------


async def test_a_company_keeps_its_countries(engine, company):
    async with engine.begin() as conn:
        default = await accounts.company_countries(conn, company)
        await accounts.set_countries(conn, company, accounts.parse_countries("us, gb"))
        changed = await accounts.company_countries(conn, company)

    assert default == {"US", "PR", "VI", "GU", "AS", "MP"}
    assert changed == {"US", "GB"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "give at least one country"),
        (" , ", "give at least one country"),
        ("USA", "not a country code: USA"),
        ("US,XX,Mars", "not a country code: MARS, XX"),
        ("001", "not a country code: 001"),
    ],
)
def test_countries_must_be_region_codes(text, message):
    with pytest.raises(accounts.InvalidCountries, match=message):
        accounts.parse_countries(text)


async def test_screening_reads_the_countries_as_they_are_now(engine, company):
    batch = [Attempt(LONDON, Channel.VOICE), Attempt(TERRITORIES["US"], Channel.VOICE)]
    async with engine.begin() as conn:
        before = await screen(conn, company, batch, NOON_IN_NEW_YORK, RULES)
        await accounts.set_countries(conn, company, frozenset({"GB"}))
        after = await screen(conn, company, batch, NOON_IN_NEW_YORK, RULES)

    assert [codes(d) for d in before] == [[Code.COUNTRY_NOT_ALLOWED], []]
    assert [codes(d) for d in after] == [[], [Code.COUNTRY_NOT_ALLOWED]]


async def test_the_countries_cost_one_query_per_batch(engine, company):
    numbers = [LONDON, TOKYO, TORONTO, *TERRITORIES.values()]
    small = [Attempt(TERRITORIES["US"], Channel.VOICE)]
    large = [Attempt(numbers[n % len(numbers)], Channel.VOICE) for n in range(900)]
    counts = []
    for batch in (small, large):
        statements = []

        def record(*args, statements=statements):
            statements.append(args[2])

        event.listen(engine.sync_engine, "before_cursor_execute", record)
        try:
            async with engine.connect() as conn:
                decisions = await screen(conn, company, batch, NOON_IN_NEW_YORK, RULES)
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", record)
        counts.append(len(statements))

    assert counts[0] == counts[1]
    skipped = [d for d in decisions if Code.COUNTRY_NOT_ALLOWED in codes(d)]
    assert len(skipped) == 300


CAMPAIGN = """
name = "spring"
channel = "voice"
leads = "spring"
caller_id = "+13055550000"
max_attempts = 1
max_concurrent = 5
attempts_per_second = 10
window = { start = "09:00", end = "20:00", days = ["mon", "tue", "wed", "thu", "fri"] }
retry = { NO_ANSWER = "4h" }
ivr_optout_digit = "9"
"""
LEADS = """phone,external_id
(212) 555-0102,NEW_YORK
+44 20 7946 0958,LONDON
"""


async def test_a_campaign_skips_a_lead_abroad_and_logs_why(app, company, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text(LEADS)
    async with app.transaction() as conn:
        await leads.import_leads(
            conn, company, sheets.iter_records(path, leads.LEAD_COLUMNS), "spring", NOW
        )
        await repository.create_campaign(conn, company, CAMPAIGN, NOW)
        london = (await leads.find_lead(conn, company, "LONDON")).id
    scenario = Scenario.from_dict({"seed": 1, "default": {"no-answer": 1.0}})

    async with simulated_engine(app, scenario, SimClock(NOW)) as (engine, sim):
        finished = await engine.run_until_done(company, "spring")

    assert finished.state is CampaignState.COMPLETED
    assert [call["to"] for call in sim.calls] == ["+12125550102"]
    async with app.transaction() as conn:
        logged = (await conn.execute(select(skips.c.lead_id, skips.c.reason, skips.c.rule))).all()
        outcome = (
            await conn.execute(
                select(campaign_leads.c.outcome).where(campaign_leads.c.lead_id == london)
            )
        ).scalar_one()
    assert [tuple(row) for row in logged] == [(london, "COUNTRY_NOT_ALLOWED", "company")]
    assert outcome == "skipped:COUNTRY_NOT_ALLOWED"


# --- the command line --------------------------------------------------------------------------


def test_check_says_a_number_in_japan_is_blocked(dialer):
    at = ("--at", "2026-03-10T12:00-04:00")
    sentence = dialer("check", "+81 3 1234 5678", *at)
    answer = json.loads(dialer("check", "+81312345678", *at, "--json").stdout)

    assert sentence.stdout.startswith("Blocked: +81312345678 is a number in JP")
    assert "Waiting will not help" in sentence.stdout
    assert (answer["allowed"], answer["permanent"]) == (False, True)
    assert [(r["code"], r["rule"]) for r in answer["reasons"]] == [
        ("COUNTRY_NOT_ALLOWED", "company")
    ]


def test_the_countries_are_shown_and_set(dialer):
    shown = json.loads(dialer("company", "show", "--json").stdout)
    text = dialer("company", "show")
    changed = dialer("company", "set", "--countries", "us,pr,gb")
    now = json.loads(dialer("company", "show", "--json").stdout)
    london = json.loads(dialer("check", LONDON, "--at", "2026-03-10T12:00-04:00", "--json").stdout)

    assert {key: shown[key] for key in ("name", "default_region", "countries")} == {
        "name": "default",
        "default_region": "US",
        "countries": ["AS", "GU", "MP", "PR", "US", "VI"],
    }
    assert "numbers in AS, GU, MP, PR, US, VI may be contacted" in text.stdout
    assert changed.exit_code == 0
    assert changed.stdout == "Company 'default' may contact numbers in GB, PR, US.\n"
    assert "the gate knows no rules of GB" in changed.stderr
    assert now["countries"] == ["GB", "PR", "US"]
    assert london["allowed"] is True


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--countries", "USA"), 2, "not a country code: USA"),
        (("--countries", ","), 2, "give at least one country"),
        (("--countries", "US", "--company", "nobody"), 1, "no company named 'nobody'"),
    ],
)
def test_bad_countries_are_refused_and_change_nothing(dialer, args, code, message):
    before = dialer("company", "show", "--json").stdout

    refused = dialer("company", "set", *args)

    assert refused.exit_code == code
    assert message in refused.stderr
    assert "Traceback" not in refused.output
    assert dialer("company", "show", "--json").stdout == before


def _migrate(connection: Connection, revision: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(config, revision)


async def test_the_migration_gives_existing_companies_the_default_countries(engine):
    async with engine.connect() as conn:
        transaction = await conn.begin()
        try:
            await conn.run_sync(_migrate, "0010-1", down=True)
            await conn.execute(
                text(
                    "INSERT INTO companies (name, default_region, created_at) "
                    "VALUES ('older', 'US', CURRENT_TIMESTAMP)"
                )
            )
            await conn.run_sync(_migrate, "head")
            stored = (await conn.execute(select(companies.c.countries))).scalar_one()
            await conn.run_sync(_migrate, "0010-1", down=True)
            undone = {column["name"] for column in await conn.run_sync(_company_columns)}
        finally:
            await transaction.rollback()

    assert stored == "AS,GU,MP,PR,US,VI"
    assert "countries" not in undone


def _company_columns(connection: Connection) -> list[dict]:
    return inspect(connection).get_columns("companies")
