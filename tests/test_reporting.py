"""Reports over what the engine wrote: skip log, interactions, campaign figures; both backends."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from campaigns import UnknownCampaign, repository
from campaigns.reports import campaign_report, interactions, skip_log
from campaigns.tables import campaign_leads, skips
from compliance import Company, accounts, leads, to_key
from compliance.tables import attempts, dnc_events
from compliance.tables import leads as leads_table
from dialer.cli import main, reports
from tests.support import NOW

DEFINITION = """
name = "{name}"
channel = "voice"
leads = "spring-list"
caller_id = "+13055550000"
max_attempts = 3
max_concurrent = 20
attempts_per_second = 10
window = {{ start = "09:00", end = "20:00", days = ["mon", "tue", "wed", "thu", "fri"] }}
retry = {{ NO_ANSWER = "4h", BUSY = "30m", MACHINE = "1d" }}
ivr_optout_digit = "9"
"""
# The other company's campaigns call from a number of its own: a number is one company's.
THEIR_DEFINITION = DEFINITION.replace("+13055550000", "+13055550009")

SKIP_KEYS = [
    "campaign",
    "lead_id",
    "external_id",
    "number",
    "channel",
    "reason",
    "reasons",
    "rule",
    "detail",
    "decided_at",
]
INTERACTION_KEYS = [
    "id",
    "campaign",
    "lead_id",
    "external_id",
    "number",
    "channel",
    "result",
    "digits",
    "status",
    "placed_at",
    "ended_at",
]
EDT = timezone(timedelta(hours=-4))
NO_OPT_OUTS = {"ivr_keypress": 0, "sms_keyword": 0, "sms_presumed": 0}


def at(hour: int, minute: int = 0) -> datetime:
    return NOW.replace(hour=hour, minute=minute)


@dataclass
class Seeded:
    """Ids of what `seed` wrote."""

    leads: dict[str, int]
    attempts: dict[str, int]


async def _leads(conn, company: Company, rows: list[tuple[str, str]]) -> dict[str, int]:
    records = [
        (
            number,
            {
                "phone": phone,
                "first_name": "",
                "last_name": "",
                "email": "",
                "state": "FL",
                "postal_code": "",
                "timezone": "",
                "external_id": external_id,
            },
        )
        for number, (external_id, phone) in enumerate(rows, start=2)
    ]
    await leads.import_leads(conn, company, records, "spring-list", NOW)
    found = await conn.execute(
        select(leads_table.c.external_id, leads_table.c.id).where(
            leads_table.c.company_id == company.id
        )
    )
    return dict(found.all())


def _skip(company: Company, campaign_id: int | None, lead_id: int | None, **values) -> dict:
    codes = values.pop("codes")
    rules = values.pop("rules")
    return {
        "company_id": company.id,
        "campaign_id": campaign_id,
        "lead_id": lead_id,
        "channel": "voice",
        "reason": codes[0],
        "reasons": json.dumps(codes),
        "rule": rules[0],
        "detail": json.dumps(
            [
                {"code": c, "rule": r, "detail": {"n": i}}
                for i, (c, r) in enumerate(zip(codes, rules, strict=True))
            ]
        ),
        "permanent": False,
        "node": "n1",
        **values,
    }


async def seed(engine: AsyncEngine, company: Company) -> Seeded:
    """Two campaigns of `company` and a same-named one of another company, with queues,
    attempts, skips and DNC events for each."""
    async with engine.begin() as conn:
        other, _ = await accounts.ensure_company(conn, "other", NOW)
        await repository.seed_status_book(conn, other, NOW)
        ids = await _leads(
            conn,
            company,
            [("L1", "305-555-0101"), ("L2", "305-555-0102"), ("L3", "305-555-0103")],
        )
        ids |= await _leads(conn, other, [("O1", "305-555-0109")])
        spring = await repository.create_campaign(
            conn, company, DEFINITION.format(name="spring-followup"), NOW
        )
        autumn = await repository.create_campaign(
            conn, company, DEFINITION.format(name="autumn"), NOW
        )
        theirs = await repository.create_campaign(
            conn, other, THEIR_DEFINITION.format(name="spring-followup"), NOW
        )
        await repository.create_campaign(conn, other, THEIR_DEFINITION.format(name="winter"), NOW)
        queue = [
            (spring.id, ids["L1"], "done", "ANSWERED"),
            (spring.id, ids["L2"], "in_flight", None),
            (spring.id, ids["L3"], "queued", None),
            (autumn.id, ids["L1"], "done", "skipped:MAX_ATTEMPTS"),
            (autumn.id, ids["L2"], "done", "ANSWERED"),
            (theirs.id, ids["O1"], "done", "DNC_REQUESTED"),
        ]
        await conn.execute(
            insert(campaign_leads),
            [
                {"campaign_id": c, "lead_id": lead, "state": s, "due_at": NOW, "outcome": o}
                for c, lead, s, o in queue
            ],
        )

        def attempt(name, owner, campaign, lead, phone, placed_at, **outcome):
            return name, {
                "company_id": owner.id,
                "campaign_id": campaign.id,
                "lead_id": ids[lead],
                "number": to_key(phone),
                "channel": "voice",
                "placed_at": placed_at,
                "state": "ended" if outcome else "intent",
                "result": None,
                "digits": None,
                "status": None,
                "ended_at": None,
                **outcome,
            }

        rows = [
            attempt(
                "a1",
                company,
                spring,
                "L1",
                "+13055550101",
                datetime(2026, 3, 10, 11, 5, tzinfo=EDT),  # 15:05 UTC, New York time
                result="no-answer",
                status="NO_ANSWER",
                ended_at=at(15, 6),
            ),
            attempt(
                "a2",
                company,
                spring,
                "L1",
                "+13055550101",
                at(15, 40),
                result="answered",
                digits="9",
                status="DNC_REQUESTED",
                ended_at=at(15, 42),
            ),
            attempt(
                "a3",
                company,
                spring,
                "L2",
                "+13055550102",
                at(16, 10),
                result="busy",
                status="BUSY",
                ended_at=at(16, 11),
            ),
            attempt("a4", company, spring, "L2", "+13055550102", at(16, 50)),
            attempt(
                "a6",
                company,
                spring,
                "L1",
                "+13055550101",
                at(17, 30),
                result="answered",
                status="ANSWERED",
                ended_at=at(17, 31),
            ),
            attempt(
                "a5",
                company,
                autumn,
                "L2",
                "+13055550102",
                at(15, 20),
                result="answered",
                status="ANSWERED",
                ended_at=at(15, 25),
            ),
            attempt(
                "o1",
                other,
                theirs,
                "O1",
                "+13055550109",
                at(15, 10),
                result="answered",
                status="DNC_REQUESTED",
                ended_at=at(15, 12),
            ),
        ]
        made = {}
        for name, values in rows:
            made[name] = (
                await conn.execute(insert(attempts).values(**values).returning(attempts.c.id))
            ).scalar_one()

        await conn.execute(
            insert(skips),
            [
                _skip(
                    company,
                    spring.id,
                    ids["L3"],
                    number="+13055550103",
                    codes=["COMPANY_DNC", "OUTSIDE_CALLING_HOURS"],
                    rules=["list:dnc", "state:FL"],
                    decided_at=at(15),
                ),
                _skip(
                    company,
                    spring.id,
                    ids["L2"],
                    number="+13055550102",
                    codes=["OUTSIDE_CALLING_HOURS"],
                    rules=["state:FL"],
                    decided_at=at(21),
                ),
                _skip(
                    company,
                    autumn.id,
                    ids["L1"],
                    number="+13055550101",
                    codes=["MAX_ATTEMPTS"],
                    rules=["campaign"],
                    decided_at=at(16, 30),
                ),
                _skip(
                    company,
                    None,
                    None,
                    number="555",
                    codes=["INVALID_NUMBER"],
                    rules=["number"],
                    decided_at=at(17),
                ),
                _skip(
                    other,
                    theirs.id,
                    ids["O1"],
                    number="+13055550109",
                    codes=["COMPANY_DNC"],
                    rules=["list:dnc"],
                    decided_at=at(15, 30),
                ),
            ],
        )

        def event(owner, source, reason, **values):
            return {
                "company_id": owner.id,
                "at": NOW,
                "action": "add",
                "list_name": "dnc",
                "number": None,
                "lead_id": None,
                "channels": None,
                "source": source,
                "reason": reason,
                "actor": "engine",
                **values,
            }

        a2, a3, a5, o1 = made["a2"], made["a3"], made["a5"], made["o1"]
        await conn.execute(
            insert(dnc_events),
            [
                # Counted: the two additions of a2's DNC_REQUESTED rules, a3's BUSY rule.
                event(company, "status_rule", f"status DNC_REQUESTED on attempt {a2}",
                      number=to_key("+13055550101")),
                event(company, "status_rule", f"status DNC_REQUESTED on attempt {a2}",
                      action="lead_channels", list_name=None, lead_id=ids["L1"], channels="phone"),
                event(company, "status_rule", f"status BUSY on attempt {a3}",
                      number=to_key("+13055550102")),
                # Not counted: another campaign's attempt, another source, another company,
                # an attempt id that only starts like a3's, a removal, an unrelated text.
                event(company, "status_rule", f"status ANSWERED on attempt {a5}",
                      number=to_key("+13055550102")),
                event(company, "manual", f"status DNC_REQUESTED on attempt {a2}",
                      number=to_key("+13055550101")),
                event(other, "status_rule", f"status DNC_REQUESTED on attempt {a2}",
                      number=to_key("+13055550109")),
                event(other, "status_rule", f"status DNC_REQUESTED on attempt {o1}",
                      number=to_key("+13055550109")),
                event(company, "status_rule", f"status BUSY on attempt {a3}7",
                      number=to_key("+13055550102")),
                event(company, "status_rule", f"status BUSY on attempt {a3}x",
                      number=to_key("+13055550102")),
                event(company, "status_rule", f"status BUSY on attempt {a3}", action="remove",
                      number=to_key("+13055550102")),
                event(company, "status_rule", "asked on the phone",
                      number=to_key("+13055550102")),
            ],
        )  # fmt: skip
    return Seeded(leads=ids, attempts=made)


@pytest.fixture
async def seeded(engine: AsyncEngine, company: Company) -> Seeded:
    return await seed(engine, company)


async def _read(engine: AsyncEngine, function, company: Company, *args, **kwargs):
    async with engine.connect() as conn:
        page = await function(conn, company, *args, **kwargs)
        return [row async for row in page.rows]


def _skips(engine, company, campaign=None, reason=None, since=None, until=None):
    return _read(
        engine, skip_log, company, campaign=campaign, reason=reason, since=since, until=until
    )


# --- storage functions ------------------------------------------------------------------


async def test_skip_log_shows_every_skip_of_the_company_oldest_first(engine, company, seeded):
    rows = await _skips(engine, company)

    assert [(r.campaign, r.number, r.reason) for r in rows] == [
        ("spring-followup", "+13055550103", "COMPANY_DNC"),
        ("autumn", "+13055550101", "MAX_ATTEMPTS"),
        (None, "555", "INVALID_NUMBER"),
        ("spring-followup", "+13055550102", "OUTSIDE_CALLING_HOURS"),
    ]
    assert rows[0].as_dict() == {
        "campaign": "spring-followup",
        "lead_id": seeded.leads["L3"],
        "external_id": "L3",
        "number": "+13055550103",
        "channel": "voice",
        "reason": "COMPANY_DNC",
        "reasons": ["COMPANY_DNC", "OUTSIDE_CALLING_HOURS"],
        "rule": "list:dnc",
        "detail": [
            {"code": "COMPANY_DNC", "rule": "list:dnc", "detail": {"n": 0}},
            {"code": "OUTSIDE_CALLING_HOURS", "rule": "state:FL", "detail": {"n": 1}},
        ],
        "decided_at": "2026-03-10T15:00:00+00:00",
    }
    assert rows[2].as_dict()["lead_id"] is None
    assert rows[2].as_dict()["external_id"] is None


async def test_skip_log_filters_by_campaign_reason_and_time(engine, company, seeded):
    spring = await _skips(engine, company, campaign="spring-followup")
    dnc = await _skips(engine, company, reason="COMPANY_DNC")
    hours = await _skips(engine, company, reason="OUTSIDE_CALLING_HOURS")
    window = await _skips(engine, company, since=at(16, 30), until=at(21))
    local = await _skips(engine, company, since=datetime(2026, 3, 10, 13, 30, tzinfo=EDT))

    assert [r.number for r in spring] == ["+13055550103", "+13055550102"]
    # The reason filter is the first failing code, as the report counts them.
    assert [r.number for r in dnc] == ["+13055550103"]
    assert [r.number for r in hours] == ["+13055550102"]
    assert [r.reason for r in window] == ["MAX_ATTEMPTS", "INVALID_NUMBER"]
    assert [r.reason for r in local] == ["OUTSIDE_CALLING_HOURS"]
    assert await _skips(engine, company, campaign="autumn", reason="COMPANY_DNC") == []


async def test_skip_log_and_interactions_stay_inside_the_company(engine, company, seeded):
    async with engine.begin() as conn:
        other = await accounts.find_company(conn, "other")

    theirs = await _skips(engine, other)
    their_attempts = await _read(engine, interactions, other, campaign=None)

    assert [(r.campaign, r.external_id, r.number) for r in theirs] == [
        ("spring-followup", "O1", "+13055550109")
    ]
    assert [r.id for r in their_attempts] == [seeded.attempts["o1"]]
    with pytest.raises(UnknownCampaign):
        await _skips(engine, company, campaign="winter")
    with pytest.raises(UnknownCampaign):
        await _read(engine, interactions, company, campaign="winter")


async def test_interactions_list_attempts_in_order_with_their_outcome(engine, company, seeded):
    every = await _read(engine, interactions, company, campaign=None)
    spring = await _read(engine, interactions, company, campaign="spring-followup")

    ids = seeded.attempts
    assert [r.id for r in every] == [ids[a] for a in ("a1", "a5", "a2", "a3", "a4", "a6")]
    assert [r.id for r in spring] == [ids[a] for a in ("a1", "a2", "a3", "a4", "a6")]
    assert spring[1].as_dict() == {
        "id": ids["a2"],
        "campaign": "spring-followup",
        "lead_id": seeded.leads["L1"],
        "external_id": "L1",
        "number": "+13055550101",
        "channel": "voice",
        "result": "answered",
        "digits": "9",
        "status": "DNC_REQUESTED",
        "placed_at": "2026-03-10T15:40:00+00:00",
        "ended_at": "2026-03-10T15:42:00+00:00",
    }
    assert spring[3].as_dict()["ended_at"] is None
    assert spring[0].as_dict()["placed_at"] == "2026-03-10T15:05:00+00:00"


async def test_campaign_report_aggregates_one_campaign(engine, company, seeded):
    async with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # Hours are UTC whatever the session's zone.
            await conn.execute(text("SET TIME ZONE 'America/New_York'"))
        report = await campaign_report(conn, company, "spring-followup")

    assert report.as_dict() == {
        "campaign": "spring-followup",
        "lead_list": "spring-list",
        "leads_in_queue": 3,
        "leads_attempted": 2,
        "leads_contacted": 1,
        "leads_still_queued": 2,
        "leads_not_contacted": 0,
        "not_contacted_by_last_reason": {},
        "attempts_by_status": {"ANSWERED": 1, "BUSY": 1, "DNC_REQUESTED": 1, "NO_ANSWER": 1},
        "skips_later_attempted": {},
        "skips_not_attempted_after": {"COMPANY_DNC": 1, "OUTSIDE_CALLING_HOURS": 1},
        "dnc_added": {"BUSY": 1, "DNC_REQUESTED": 2},
        "attempts_per_hour": {
            "2026-03-10T15:00Z": 2,
            "2026-03-10T16:00Z": 2,
            "2026-03-10T17:00Z": 1,
        },
        # a2's keys 9 gave DNC_REQUESTED, whose rules added two entries: one attempt.
        "opt_outs": {"ivr_keypress": 1, "sms_keyword": 0, "sms_presumed": 0},
    }


async def test_campaign_report_of_another_campaign_and_company(engine, company, seeded):
    async with engine.begin() as conn:
        other = await accounts.find_company(conn, "other")
        autumn = await campaign_report(conn, company, "autumn")
        theirs = await campaign_report(conn, other, "spring-followup")
        with pytest.raises(UnknownCampaign):
            await campaign_report(conn, company, "winter")

    assert autumn.as_dict() == {
        "campaign": "autumn",
        "lead_list": "spring-list",
        "leads_in_queue": 2,
        "leads_attempted": 1,
        "leads_contacted": 1,
        "leads_still_queued": 0,
        "leads_not_contacted": 1,
        "not_contacted_by_last_reason": {"MAX_ATTEMPTS": 1},
        "attempts_by_status": {"ANSWERED": 1},
        "skips_later_attempted": {},
        "skips_not_attempted_after": {"MAX_ATTEMPTS": 1},
        "dnc_added": {"ANSWERED": 1},
        "attempts_per_hour": {"2026-03-10T15:00Z": 1},
        "opt_outs": NO_OPT_OUTS,
    }
    assert theirs.as_dict() == {
        "campaign": "spring-followup",
        "lead_list": "spring-list",
        "leads_in_queue": 1,
        "leads_attempted": 1,
        "leads_contacted": 1,
        "leads_still_queued": 0,
        "leads_not_contacted": 0,
        "not_contacted_by_last_reason": {},
        "attempts_by_status": {"DNC_REQUESTED": 1},
        "skips_later_attempted": {},
        "skips_not_attempted_after": {"COMPANY_DNC": 1},
        "dnc_added": {"DNC_REQUESTED": 1},
        "attempts_per_hour": {"2026-03-10T15:00Z": 1},
        "opt_outs": NO_OPT_OUTS,
    }


async def test_an_untouched_campaign_reports_zeros(engine, company):
    async with engine.begin() as conn:
        await _leads(conn, company, [("L1", "305-555-0101")])
        await repository.create_campaign(conn, company, DEFINITION.format(name="new"), NOW)
        report = await campaign_report(conn, company, "new")

    assert report.as_dict() == {
        "campaign": "new",
        "lead_list": "spring-list",
        "leads_in_queue": 0,
        "leads_attempted": 0,
        "leads_contacted": 0,
        "leads_still_queued": 0,
        "leads_not_contacted": 0,
        "not_contacted_by_last_reason": {},
        "attempts_by_status": {},
        "skips_later_attempted": {},
        "skips_not_attempted_after": {},
        "dnc_added": {},
        "attempts_per_hour": {},
        "opt_outs": NO_OPT_OUTS,
    }


async def test_campaign_report_tells_waits_from_the_reasons_leads_were_not_contacted(
    engine, company
):
    """A skip the lead was attempted after was a wait; a lead never contacted counts once,
    under the reason it was left with."""
    async with engine.begin() as conn:
        ids = await _leads(
            conn,
            company,
            [(f"W{n}", f"305-555-011{n}") for n in range(1, 5)],
        )
        calls = await repository.create_campaign(
            conn, company, DEFINITION.format(name="calls"), NOW
        )
        queue = [("W1", "done", "ANSWERED"), ("W2", "done", "NO_ANSWER")]
        queue += [("W3", "done", "skipped:COMPANY_DNC"), ("W4", "queued", None)]
        await conn.execute(
            insert(campaign_leads),
            [
                {"campaign_id": calls.id, "lead_id": ids[lead], "state": state, "due_at": NOW,
                 "outcome": outcome}
                for lead, state, outcome in queue
            ],
        )  # fmt: skip
        early = [("W1", "OUTSIDE_CALLING_HOURS"), ("W2", "OUTSIDE_CALLING_HOURS")]
        early += [("W3", "COMPANY_DNC"), ("W4", "OUTSIDE_CALLING_HOURS")]
        await conn.execute(
            insert(skips),
            [
                _skip(company, calls.id, ids[lead], number=f"+1305555011{lead[1]}",
                      codes=[code], rules=["rule"], decided_at=at(12))
                for lead, code in early
            ],
        )  # fmt: skip
        ended = [("W1", "answered", "ANSWERED", "ended"), ("W2", "no-answer", "NO_ANSWER", "ended")]
        # The carrier refused W4's request before placing it: no attempt, and no wait over.
        ended += [("W4", "not_placed", None, "not_placed")]
        await conn.execute(
            insert(attempts),
            [
                {"company_id": company.id, "campaign_id": calls.id, "lead_id": ids[lead],
                 "number": to_key(f"+1305555011{lead[1]}"), "channel": "voice",
                 "placed_at": at(14), "state": phase, "result": result, "status": status,
                 "ended_at": at(14, 1)}
                for lead, result, status, phase in ended
            ],
        )  # fmt: skip
        report = await campaign_report(conn, company, "calls")

    assert (report.leads_in_queue, report.leads_attempted, report.leads_contacted) == (4, 2, 1)
    assert (report.leads_still_queued, report.leads_not_contacted) == (1, 2)
    assert report.not_contacted_by_last_reason == {"COMPANY_DNC": 1, "NO_ANSWER": 1}
    assert report.skips_later_attempted == {"OUTSIDE_CALLING_HOURS": 2}
    assert report.skips_not_attempted_after == {"COMPANY_DNC": 1, "OUTSIDE_CALLING_HOURS": 1}
    assert report.attempts_by_status == {"ANSWERED": 1, "NO_ANSWER": 1}


# --- the command line -------------------------------------------------------------------


@pytest.fixture
def dialer(database_url, seeded):
    """Run `dialer ARGS... --company acme` against the seeded test database."""
    runner = CliRunner()
    env = {"DIALER_DATABASE_URL": database_url, "DIALER_LOG_LEVEL": "WARNING"}

    def invoke(*args: str, company: str = "acme") -> Result:
        return runner.invoke(main, [*args, "--company", company], env=env, catch_exceptions=False)

    return invoke


def as_json(result: Result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def as_csv(result: Result) -> tuple[list[str], list[dict[str, str]]]:
    assert result.exit_code == 0, result.output
    reader = csv.DictReader(io.StringIO(result.stdout))
    return list(reader.fieldnames or []), list(reader)


def test_skips_command_json_matches_the_log_and_filters(dialer, seeded):
    every = as_json(dialer("skips", "--format", "json"))
    spring = as_json(dialer("skips", "--campaign", "spring-followup", "--format", "json"))
    by_reason = as_json(dialer("skips", "--reason", "max_attempts", "--format", "json"))
    window = as_json(
        dialer(
            "skips",
            "--since",
            "2026-03-10T12:30-04:00",
            "--until",
            "2026-03-10T17:00Z",
            "--format",
            "json",
        )
    )
    theirs = as_json(dialer("skips", "--format", "json", company="other"))

    assert [list(row) for row in every] == [SKIP_KEYS] * 4
    assert [r["number"] for r in every] == ["+13055550103", "+13055550101", "555", "+13055550102"]
    assert every[0]["reasons"] == ["COMPANY_DNC", "OUTSIDE_CALLING_HOURS"]
    assert every[0]["detail"][1] == {
        "code": "OUTSIDE_CALLING_HOURS",
        "rule": "state:FL",
        "detail": {"n": 1},
    }
    assert every[0]["decided_at"] == "2026-03-10T15:00:00+00:00"
    assert [r["number"] for r in spring] == ["+13055550103", "+13055550102"]
    assert [r["external_id"] for r in by_reason] == ["L1"]
    assert [r["reason"] for r in window] == ["MAX_ATTEMPTS"]
    assert [r["number"] for r in theirs] == ["+13055550109"]


def test_skips_command_refuses_bad_input(dialer, seeded):
    naive = dialer("skips", "--since", "2026-03-10T12:30")
    garbage = dialer("skips", "--until", "yesterday")
    unknown_reason = dialer("skips", "--reason", "BORED")
    unknown_campaign = dialer("skips", "--campaign", "winter")

    assert (naive.exit_code, garbage.exit_code, unknown_reason.exit_code) == (2, 2, 2)
    assert "UTC offset" in naive.stderr
    assert unknown_campaign.exit_code == 1
    assert "no campaign named 'winter'" in unknown_campaign.stderr


def test_skips_command_csv_and_table(dialer, seeded):
    header, rows = as_csv(dialer("skips", "--format", "csv"))
    table = dialer("skips", "--campaign", "autumn")
    empty = dialer("skips", "--campaign", "autumn", "--reason", "COMPANY_DNC")

    assert header == SKIP_KEYS
    assert rows[0] == {
        "campaign": "spring-followup",
        "lead_id": str(seeded.leads["L3"]),
        "external_id": "L3",
        "number": "+13055550103",
        "channel": "voice",
        "reason": "COMPANY_DNC",
        "reasons": "COMPANY_DNC|OUTSIDE_CALLING_HOURS",
        "rule": "list:dnc",
        "detail": json.dumps(
            [
                {"code": "COMPANY_DNC", "rule": "list:dnc", "detail": {"n": 0}},
                {"code": "OUTSIDE_CALLING_HOURS", "rule": "state:FL", "detail": {"n": 1}},
            ]
        ),
        "decided_at": "2026-03-10T15:00:00+00:00",
    }
    assert (rows[2]["campaign"], rows[2]["lead_id"], rows[2]["number"]) == ("", "", "555")
    assert json.loads(rows[1]["detail"])[0]["code"] == "MAX_ATTEMPTS"
    assert table.exit_code == 0
    assert "MAX_ATTEMPTS" in table.stdout
    assert "+13055550101" in table.stdout
    assert "COMPANY_DNC" not in table.stdout
    assert empty.stdout == "No skipped attempts.\n"


def test_interactions_command_in_every_format(dialer, seeded):
    ids = seeded.attempts
    every = as_json(dialer("interactions", "--format", "json"))
    spring = as_json(dialer("interactions", "--campaign", "spring-followup", "--format", "json"))
    header, rows = as_csv(dialer("interactions", "--campaign", "autumn", "--format", "csv"))
    table = dialer("interactions", "--campaign", "spring-followup")
    theirs = as_json(dialer("interactions", "--format", "json", company="other"))

    assert [list(row) for row in every] == [INTERACTION_KEYS] * 6
    assert [r["id"] for r in every] == [ids[a] for a in ("a1", "a5", "a2", "a3", "a4", "a6")]
    assert [r["id"] for r in spring] == [ids[a] for a in ("a1", "a2", "a3", "a4", "a6")]
    assert spring[1]["number"] == "+13055550101"
    assert (spring[1]["result"], spring[1]["digits"], spring[1]["status"]) == (
        "answered",
        "9",
        "DNC_REQUESTED",
    )
    assert header == INTERACTION_KEYS
    assert rows == [
        {
            "id": str(ids["a5"]),
            "campaign": "autumn",
            "lead_id": str(seeded.leads["L2"]),
            "external_id": "L2",
            "number": "+13055550102",
            "channel": "voice",
            "result": "answered",
            "digits": "",
            "status": "ANSWERED",
            "placed_at": "2026-03-10T15:20:00+00:00",
            "ended_at": "2026-03-10T15:25:00+00:00",
        }
    ]
    assert table.exit_code == 0
    assert "DNC_REQUESTED" in table.stdout
    assert "2026-03-10T15:20" not in table.stdout  # autumn's attempt
    assert [r["id"] for r in theirs] == [ids["o1"]]
    assert dialer("interactions", "--campaign", "winter").exit_code == 1


def test_report_command_json_and_table(dialer, seeded):
    report = as_json(dialer("report", "spring-followup", "--format", "json"))
    theirs = as_json(dialer("report", "spring-followup", "--format", "json", company="other"))
    table = dialer("report", "spring-followup")

    assert report == {
        "campaign": "spring-followup",
        "lead_list": "spring-list",
        "leads_in_queue": 3,
        "leads_attempted": 2,
        "leads_contacted": 1,
        "leads_still_queued": 2,
        "leads_not_contacted": 0,
        "not_contacted_by_last_reason": {},
        "attempts_by_status": {"ANSWERED": 1, "BUSY": 1, "DNC_REQUESTED": 1, "NO_ANSWER": 1},
        "skips_later_attempted": {},
        "skips_not_attempted_after": {"COMPANY_DNC": 1, "OUTSIDE_CALLING_HOURS": 1},
        "dnc_added": {"BUSY": 1, "DNC_REQUESTED": 2},
        "attempts_per_hour": {
            "2026-03-10T15:00Z": 2,
            "2026-03-10T16:00Z": 2,
            "2026-03-10T17:00Z": 1,
        },
        # a2's keys 9 gave DNC_REQUESTED, whose rules added two entries: one attempt.
        "opt_outs": {"ivr_keypress": 1, "sms_keyword": 0, "sms_presumed": 0},
    }
    assert (theirs["leads_in_queue"], theirs["attempts_by_status"]) == (1, {"DNC_REQUESTED": 1})
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0] == "Campaign 'spring-followup'"
    for title in (
        "Attempts by call status",
        "DNC additions by status rules",
        "Attempts per hour (UTC)",
    ):
        assert title in lines
    assert any(line.startswith("Skips later attempted (waits") for line in lines)
    assert any("attempted" in line and "2" in line for line in lines)
    # Each lead figure says what it counts.
    assert any("in the queue" in line and "leads of list 'spring-list'" in line for line in lines)
    assert any("contacted" in line and "answered" in line for line in lines)
    assert any("2026-03-10T16:00Z" in line for line in lines)
    assert any("OUTSIDE_CALLING_HOURS" in line for line in lines)


def test_the_commands_are_registered_on_main():
    names = ("skips", "interactions", "report")
    assert [main.get_command(None, name) for name in names] == [
        reports.skips,
        reports.interactions,
        reports.report,
    ]


def test_report_command_refuses_unknown_campaigns_and_formats(dialer, seeded):
    unknown = dialer("report", "winter")
    csv_format = dialer("report", "spring-followup", "--format", "csv")
    empty = dialer("report", "winter", company="other")

    assert unknown.exit_code == 1
    assert "no campaign named 'winter'" in unknown.stderr
    assert csv_format.exit_code == 2
    assert empty.exit_code == 0
    assert empty.stdout.count("none") == 6


# --- long listings: the newest page unless --all; spreadsheet-safe CSV ------------------

EXTRA = 150


@pytest.fixture
async def crowded(engine: AsyncEngine, company: Company, seeded: Seeded) -> list[str]:
    """EXTRA more skips and attempts of `company`, after the seeded ones; their numbers,
    oldest first."""
    numbers = [f"+1305556{index:04d}" for index in range(EXTRA)]
    later = [at(22) + timedelta(seconds=index) for index in range(EXTRA)]
    async with engine.begin() as conn:
        await conn.execute(
            insert(skips),
            [
                _skip(company, None, None, number=n, codes=["COMPANY_DNC"], rules=["list:dnc"])
                | {"decided_at": moment}
                for n, moment in zip(numbers, later, strict=True)
            ],
        )
        await conn.execute(
            insert(attempts),
            [
                {
                    "company_id": company.id,
                    "number": to_key(n),
                    "channel": "voice",
                    "placed_at": moment,
                    "state": "intent",
                }
                for n, moment in zip(numbers, later, strict=True)
            ],
        )
    return numbers


@pytest.mark.parametrize("command", ["skips", "interactions"])
def test_listings_show_the_newest_100_oldest_first_and_say_there_are_more(dialer, crowded, command):
    shown = dialer(command, "--format", "json")
    table = dialer(command)

    assert [r["number"] for r in as_json(shown)] == crowded[-100:]
    assert "Showing the newest 100" in shown.stderr
    assert "--all" in shown.stderr
    assert table.exit_code == 0
    assert sum(number in table.stdout for number in crowded) == 100
    assert "Showing the newest 100" in table.stderr


@pytest.mark.parametrize(("command", "seeded_rows"), [("skips", 4), ("interactions", 6)])
def test_listings_show_everything_with_all_and_n_with_limit(dialer, crowded, command, seeded_rows):
    every = dialer(command, "--all", "--format", "json")
    three = dialer(command, "--limit", "3", "--format", "json")
    _, rows = as_csv(dialer(command, "--all", "--format", "csv"))

    assert [r["number"] for r in as_json(every)][seeded_rows:] == crowded
    assert len(as_json(every)) == seeded_rows + EXTRA
    assert every.stderr == ""
    assert [r["number"] for r in as_json(three)] == crowded[-3:]
    assert "newest 3" in three.stderr
    assert [r["number"] for r in rows][seeded_rows:] == crowded
    assert dialer(command, "--all", "--limit", "3").exit_code == 2


def test_skips_with_filters_page_what_they_keep(dialer, crowded):
    spring = dialer("skips", "--campaign", "spring-followup", "--limit", "1", "--format", "json")

    assert [r["number"] for r in as_json(spring)] == ["+13055550102"]
    assert "newest 1 skip;" in spring.stderr


@pytest.fixture
async def formulas(engine: AsyncEngine, company: Company, seeded: Seeded) -> None:
    """A skip of an input that is a formula, and an attempt of a lead whose external id is."""
    async with engine.begin() as conn:
        await conn.execute(
            insert(skips),
            [
                _skip(
                    company,
                    None,
                    None,
                    number="=1+1",
                    codes=["INVALID_NUMBER"],
                    rules=["@SUM(1)"],
                    decided_at=at(23),
                )
            ],
        )
        ids = await _leads(conn, company, [('=HYPERLINK("http://evil.example")', "305-555-0199")])
        await conn.execute(
            insert(attempts).values(
                company_id=company.id,
                lead_id=ids['=HYPERLINK("http://evil.example")'],
                number=to_key("+13055550199"),
                channel="voice",
                placed_at=at(23),
                state="intent",
            )
        )


def test_csv_listings_write_no_formula(dialer, formulas):
    _, skipped = as_csv(dialer("skips", "--format", "csv"))
    _, attempted = as_csv(dialer("interactions", "--format", "csv"))

    assert (skipped[-1]["number"], skipped[-1]["rule"]) == ("'=1+1", "'@SUM(1)")
    assert skipped[0]["number"] == "+13055550103"
    assert attempted[-1]["external_id"] == '\'=HYPERLINK("http://evil.example")'
    assert attempted[-1]["number"] == "+13055550199"
