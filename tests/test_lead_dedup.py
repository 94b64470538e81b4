"""One lead per number in a list, one call per number at a time, leads added to a running
campaign's list, and what a lead's page shows; on both backends."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from alembic import command
from alembic.config import Config
from click.testing import CliRunner, Result
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from campaigns import CampaignState
from campaigns.tables import campaign_leads, campaigns, skips
from compliance import Company, leads
from compliance.tables import attempts, companies, dnc_events, lead_dnc
from compliance.tables import leads as lead_table
from dialer.cli import main
from dialer.clock import SimClock
from dialer.database import MIGRATIONS, create_engine
from dialer.dispatch import tick
from dialer.runner import simulated_carrier, simulated_engine
from tests import conftest
from tests.support import NOW
from tests.test_dispatch_nodes import (
    ANSWERED,
    add_leads,
    campaign,
    campaign_text,
    create,
    node,
    ny,
    record_call_ends,
)
from tests.test_engine import CAMPAIGN, rows


def records(*rows: dict[str, str]):
    """(row number, record) pairs as a file's reader yields them, from row 2."""
    blank = dict.fromkeys(leads.LEAD_COLUMNS, "")
    return [(number, {**blank, **row}) for number, row in enumerate(rows, start=2)]


async def import_rows(engine, company, rows, lead_list="spring"):
    async with engine.begin() as conn:
        return await leads.import_leads(conn, company, rows, lead_list, NOW)


async def stored(engine, lead_list="spring"):
    """(phone key, first name, external id) of every lead of `lead_list`, by id."""
    async with engine.begin() as conn:
        found = await conn.execute(
            select(lead_table.c.phone, lead_table.c.first_name, lead_table.c.external_id)
            .where(lead_table.c.lead_list == lead_list)
            .order_by(lead_table.c.id)
        )
        return [tuple(row) for row in found]


NO_IDS = records(
    {"phone": "305-555-0101", "first_name": "Ann"},
    {"phone": "305-555-0102", "first_name": "Bob"},
    {"phone": "305-555-0103", "first_name": "Cy"},
)


async def test_reimporting_a_file_without_external_ids_adds_nothing(engine, company):
    first = await import_rows(engine, company, NO_IDS)

    again = await import_rows(engine, company, NO_IDS)

    assert (first.added, first.duplicate_count) == (3, 0)
    assert (again.read, again.added, again.duplicate_count) == (3, 0, 3)
    assert [(d.row, d.value) for d in again.duplicates] == [
        (2, "305-555-0101"),
        (3, "305-555-0102"),
        (4, "305-555-0103"),
    ]
    assert again.duplicates[0].error.startswith("same number as lead ")
    assert len(await stored(engine)) == 3


async def test_a_number_repeated_in_a_file_keeps_its_first_row(engine, company):
    rows = records(
        {"phone": "(305) 555-0101", "first_name": "Ann"},
        {"phone": "+1 305 555 0101", "first_name": "Annie", "external_id": "A2"},
        {"phone": "305-555-0102", "first_name": "Bob"},
    )

    summary = await import_rows(engine, company, rows)

    assert (summary.added, summary.duplicate_count) == (2, 1)
    assert [(d.row, d.error) for d in summary.duplicates] == [(3, "same number as row 2")]
    assert await stored(engine) == [(13055550101, "Ann", None), (13055550102, "Bob", None)]


async def test_the_same_number_in_another_list_is_a_lead_of_that_list(engine, company):
    await import_rows(engine, company, NO_IDS)

    other = await import_rows(engine, company, NO_IDS, lead_list="fall")

    assert (other.added, other.duplicate_count) == (3, 0)


async def test_a_known_external_id_updates_its_lead(engine, company):
    await import_rows(engine, company, records({"phone": "305-555-0101", "external_id": "L1"}))
    corrected = records(
        {
            "phone": "212-555-0102",
            "first_name": "Ann",
            "timezone": "America/New_York",
            "external_id": "L1",
        }
    )

    summary = await import_rows(engine, company, corrected)
    again = await import_rows(engine, company, corrected)

    assert (summary.added, summary.updated, summary.unchanged) == (0, 1, 0)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 1)
    async with engine.begin() as conn:
        lead = await leads.find_lead(conn, company, "L1")
    assert (lead.phone, lead.phone_raw, lead.first_name, lead.timezone) == (
        "+12125550102",
        "212-555-0102",
        "Ann",
        "America/New_York",
    )
    # Its old number is free in the list again.
    freed = await import_rows(engine, company, records({"phone": "305-555-0101"}))
    assert freed.added == 1


async def test_an_update_to_a_number_the_list_holds_is_a_duplicate(engine, company):
    await import_rows(
        engine,
        company,
        records(
            {"phone": "305-555-0101", "first_name": "Ann", "external_id": "L1"},
            {"phone": "305-555-0102", "first_name": "Bob", "external_id": "L2"},
        ),
    )
    before = await stored(engine)

    summary = await import_rows(
        engine, company, records({"phone": "305-555-0101", "first_name": "X", "external_id": "L2"})
    )

    assert (summary.updated, summary.duplicate_count) == (0, 1)
    assert await stored(engine) == before


async def test_storage_refuses_a_second_lead_of_a_number_in_a_list(engine, company):
    await import_rows(engine, company, NO_IDS)

    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(
                insert(lead_table).values(
                    company_id=company.id,
                    lead_list="spring",
                    phone_raw="305-555-0101",
                    phone=13055550101,
                    created_at=NOW,
                )
            )
    async with engine.begin() as conn:
        count = await conn.scalar(select(func.count()).select_from(lead_table))
    assert count == 3


# --- migration 0009: duplicates already stored ------------------------------------------------


def _migrate_to(connection, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def _migrate_url_to(url: str, revision: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_migrate_to, revision)
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def at_0008(request, tmp_path) -> Iterator[str]:
    """The URL of a new database migrated to 0008 only."""
    name = f"dialer_0008_{uuid.uuid4().hex[:12]}"
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    else:
        server = request.getfixturevalue("postgres_url")
        asyncio.run(conftest._admin(f'CREATE DATABASE "{name}"'))
        url = make_url(server).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_migrate_url_to(url, "0008"))
    yield url
    if request.param == "postgresql":
        asyncio.run(conftest._admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


async def test_migration_keeps_the_first_lead_of_a_number_and_its_history(at_0008):
    engine = create_engine(at_0008)
    spring = [(1, 13055550101, "Ann"), (2, 13055550101, "Annie"), (3, 13055550102, "Bob")]
    async with engine.begin() as conn:
        await conn.execute(insert(companies).values(id=1, name="acme", created_at=NOW))
        for lead_id, phone, name, lead_list in [(*lead, "spring") for lead in spring] + [
            (4, 13055550101, "Ann", "fall")
        ]:
            await conn.execute(
                insert(lead_table).values(
                    id=lead_id,
                    company_id=1,
                    lead_list=lead_list,
                    first_name=name,
                    phone_raw=str(phone),
                    phone=phone,
                    created_at=NOW,
                )
            )
        await conn.execute(
            insert(lead_dnc).values(lead_id=2, phone=True, updated_by="ana", **_created())
        )
        await conn.execute(
            insert(campaigns).values(
                id=1, company_id=1, name="spring", state="running", definition="", **_created()
            )
        )
        for lead_id in (1, 2, 3):
            await conn.execute(
                insert(campaign_leads).values(
                    campaign_id=1, lead_id=lead_id, state="queued", due_at=NOW
                )
            )
        await conn.execute(
            insert(attempts).values(
                company_id=1,
                campaign_id=1,
                lead_id=2,
                number=13055550101,
                channel="voice",
                placed_at=NOW,
                state="ended",
            )
        )

    async with engine.begin() as conn:
        await conn.run_sync(_migrate_to, "head")

    async with engine.begin() as conn:
        marks = await conn.execute(
            select(lead_table.c.id, lead_table.c.duplicate_of).order_by(lead_table.c.id)
        )
        queue_rows = await conn.execute(
            select(
                campaign_leads.c.lead_id, campaign_leads.c.state, campaign_leads.c.outcome
            ).order_by(campaign_leads.c.lead_id)
        )
        blocked = await conn.execute(select(lead_dnc.c.lead_id, lead_dnc.c.phone))
        events = await conn.execute(
            select(dnc_events.c.lead_id, dnc_events.c.channels, dnc_events.c.actor)
        )
        attempted = await conn.scalar(select(attempts.c.lead_id))
        assert sorted(marks) == [(1, None), (2, 1), (3, None), (4, None)]
        assert list(queue_rows) == [
            (1, "queued", None),
            (2, "done", "duplicate"),
            (3, "queued", None),
        ]
        assert sorted(blocked) == [(1, True), (2, True)]
        assert list(events) == [(1, "phone", "migration 0009")]
        assert attempted == 2
        company = Company(1, "acme", "US")
        summary = await leads.import_leads(
            conn, company, records({"phone": "305-555-0101"}), "spring", NOW
        )
        assert summary.duplicates[0].error == "same number as lead 1"
        assert (await leads.find_lead(conn, company, "2")).duplicate_of == 1
    await engine.dispose()


def _created() -> dict[str, object]:
    return {"created_at": NOW, "updated_at": NOW}


# --- the command line ---------------------------------------------------------------------------


def dialer(database_url: str, *args: str) -> Result:
    """`dialer ARGS... --company acme` on the test database, as a user runs it."""
    env = {"DIALER_DATABASE_URL": database_url, "DIALER_LOG_LEVEL": "WARNING"}
    return CliRunner().invoke(main, [*args, "--company", "acme"], env=env, catch_exceptions=False)


def test_leads_import_reports_duplicates_and_changes_nothing_for_them(
    database_url, company, tmp_path
):
    path = tmp_path / "leads.csv"
    path.write_text("phone,first_name\n305-555-0101,Ann\n305-555-0102,Bob\n(305) 555-0101,Ann\n")

    first = dialer(database_url, "leads", "import", str(path), "--list", "spring")
    again = dialer(database_url, "leads", "import", str(path), "--list", "spring", "--json")

    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines()[0] == (
        "Read 3 rows: 2 leads added to 'spring', 0 updated, 0 unchanged, 1 duplicate, 0 invalid."
    )
    assert "same number as row 2" in first.stdout
    summary = json.loads(again.stdout)
    assert (summary["added"], summary["duplicate_count"]) == (0, 3)
    assert [d["row"] for d in summary["duplicates"]] == [2, 3, 4]


# --- leads added after a campaign started -------------------------------------------------------


async def test_leads_imported_while_a_campaign_runs_are_attempted(
    app, company, database_url, tmp_path
):
    await add_leads(app, company, "spring", ny(1))
    await create(app, company, campaign_text())
    spring = await campaign(app, company, "spring")
    later = tmp_path / "later.csv"
    later.write_text("phone\n+12125551000\n+12125551001\n+12125551002\n")
    async with simulated_engine(app, ANSWERED, SimClock(NOW)) as (engine, sim):
        await engine.tick(company, spring)
        await engine.settle()
        assert len(sim.calls) == 1

        imported = await asyncio.to_thread(
            dialer, database_url, "leads", "import", str(later), "--list", "spring"
        )
        finished = await engine.run_until_done(company, "spring")

    assert imported.exit_code == 0, imported.output
    assert sorted(call["to"] for call in sim.calls) == [
        "+12125551000",
        "+12125551001",
        "+12125551002",
    ]
    assert finished.state is CampaignState.COMPLETED
    assert "Campaign 'spring': 2 new leads queued." in imported.stdout


# --- one call to a number at a time -------------------------------------------------------------


async def test_a_number_in_two_campaigns_is_never_in_two_calls_at_once(app, company):
    number = "+12125550123"
    await add_leads(app, company, "spring", [(number, "NY")])
    await add_leads(app, company, "fall", [(number, "NY")])
    await create(app, company, campaign_text("spring", "spring"))
    await create(app, company, campaign_text("fall", "fall"))
    spring = await campaign(app, company, "spring")
    fall = await campaign(app, company, "fall")
    clock = SimClock(NOW)  # 11:00 in New York, when the campaigns started
    async with (
        simulated_carrier(ANSWERED) as (carrier, sim),
        node(app, carrier, clock) as one,
        node(app, carrier, clock) as two,
    ):
        sim.callback_delay = 0.05  # the first call is still up when the second tick screens
        ended = record_call_ends(sim)
        for _ in range(3):
            await asyncio.gather(one.tick(company, spring), two.tick(company, fall))
            if len(sim.calls) == 1:  # the other lead waits its turn, unlogged
                assert await rows(app, select(skips.c.id)) == []
            await asyncio.gather(one.settle(), two.settle())
            clock.advance_to(clock.now() + tick.NUMBER_BUSY_WAIT)

    spans = sorted((call["at"], ended[call["sid"]]) for call in sim.calls)
    assert [call["to"] for call in sim.calls] == [number, number]
    assert spans[0][1] <= spans[1][0], f"calls overlap: {spans}"
    outcomes = await rows(app, select(campaign_leads.c.outcome, campaign_leads.c.attempts))
    assert outcomes == [("ANSWERED", 1), ("ANSWERED", 1)]


# --- a lead's page ------------------------------------------------------------------------------


def test_leads_show_names_the_company_lists_and_the_leads_attempts_and_skips(
    database_url, company, tmp_path
):
    people = tmp_path / "leads.csv"
    people.write_text(
        "phone,external_id,state\n212-555-0101,TEXTS_OFF,NY\n212-555-0102,LISTED,NY\n"
    )
    spring = tmp_path / "spring.toml"
    spring.write_text(CAMPAIGN)
    assert dialer(database_url, "leads", "import", str(people), "--list", "spring").exit_code == 0
    assert dialer(database_url, "dnc", "add", "212-555-0101", "--list", "dnt").exit_code == 0
    assert dialer(database_url, "dnc", "add", "212-555-0102", "--reason", "asked").exit_code == 0
    assert dialer(database_url, "campaign", "create", "--from", str(spring)).exit_code == 0
    ran = dialer(
        database_url, "campaign", "run", "spring", "--until-done", "--sim-clock", NOW.isoformat()
    )
    assert ran.exit_code == 0, ran.output

    texts_off = json.loads(dialer(database_url, "leads", "show", "TEXTS_OFF", "--json").stdout)
    listed = json.loads(dialer(database_url, "leads", "show", "LISTED", "--json").stdout)
    shown = dialer(database_url, "leads", "show", "LISTED")

    assert [(b["list"], b["blocks"]) for b in texts_off["company_lists"]] == [("dnt", ["sms"])]
    assert [(a["number"], a["campaign"]) for a in texts_off["attempts"]] == [
        ("+12125550101", "spring")
    ] * len(texts_off["attempts"])
    assert texts_off["attempts"]
    [block] = listed["company_lists"]
    assert (block["list"], block["blocks"], block["reason"]) == ("dnc", ["voice", "sms"], "asked")
    assert listed["attempts"] == []
    assert [s["reason"] for s in listed["skips"]] == ["COMPANY_DNC"]
    assert "Company list dnc: blocks voice, sms to this number" in shown.stdout
    assert "COMPANY_DNC" in shown.stdout
    assert "Attempts: none." in shown.stdout


async def test_leads_show_lists_the_newest_attempts_first_and_at_most_twenty(
    app, company, database_url
):
    await add_leads(app, company, "spring", ny(1))
    async with app.transaction() as conn:
        await conn.execute(
            insert(attempts),
            [
                {
                    "company_id": company.id,
                    "lead_id": 1,
                    "number": 12125551000,
                    "channel": "voice",
                    "placed_at": NOW + timedelta(minutes=minute),
                    "state": "ended",
                }
                for minute in range(25)
            ],
        )

    shown = await asyncio.to_thread(dialer, database_url, "leads", "show", "1", "--json")

    placed = [attempt["placed_at"] for attempt in json.loads(shown.stdout)["attempts"]]
    assert placed == [(NOW + timedelta(minutes=m)).isoformat() for m in range(24, 4, -1)]
