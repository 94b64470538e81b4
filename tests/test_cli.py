"""The `dialer` command line as a campaign manager uses it, on both backends."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest
from click.testing import Result

from campaigns import DEFAULT_STATUSES_PATH


def as_json(result: Result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def verdict(result: Result):
    """The decision `dialer check --json` printed; its exit code says it too."""
    decision = json.loads(result.stdout)
    assert result.exit_code == (0 if decision["allowed"] else 1), result.output
    return decision


def test_init_is_idempotent(dialer):
    result = dialer("init")
    assert result.exit_code == 0
    assert "company 'default' exists" in result.stdout


def test_check_reports_each_input_in_the_documented_shape(dialer):
    assert dialer("dnc", "add", "(305) 555-0134").exit_code == 0
    assert dialer("dnc", "add", "212.555.0100", "--list", "dnt").exit_code == 0

    voice = as_json(dialer("dnc", "check", "+1 305 555 0134", "2125550100", "12", "--json"))
    sms = as_json(dialer("dnc", "check", "1-212-555-0100", "--channel", "sms", "--json"))

    assert voice[0] == {
        "input": "+1 305 555 0134",
        "number": "+13055550134",
        "valid": True,
        "blocked": True,
        "lists": ["dnc"],
    }
    assert voice[1] == {
        "input": "2125550100",
        "number": "+12125550100",
        "valid": True,
        "blocked": False,
        "lists": [],
    }
    assert (voice[2]["number"], voice[2]["valid"], voice[2]["blocked"]) == (None, False, False)
    assert sms == [
        {
            "input": "1-212-555-0100",
            "number": "+12125550100",
            "valid": True,
            "blocked": True,
            "lists": ["dnt"],
        }
    ]


def test_an_invalid_number_refuses_the_whole_add(dialer):
    result = dialer("dnc", "add", "305-555-0134", "555-0134")

    assert result.exit_code == 1
    assert "too short" in result.stderr
    assert as_json(dialer("dnc", "check", "305-555-0134", "--json"))[0]["blocked"] is False


def test_removal_needs_a_permitted_user_and_a_reason(dialer):
    dialer("users", "add", "mia", "--role", "manager", "--can-remove-dnc")
    dialer("dnc", "add", "305-555-0134")

    no_reason = dialer("dnc", "remove", "305-555-0134", "--by", "mia", "--reason", " ")
    missing_reason = dialer("dnc", "remove", "305-555-0134", "--by", "mia")
    assert (no_reason.exit_code, missing_reason.exit_code) == (1, 2)
    assert "reason is required" in no_reason.stderr
    assert as_json(dialer("dnc", "check", "305-555-0134", "--json"))[0]["blocked"] is True

    removed = dialer("dnc", "remove", "305-555-0134", "--by", "mia", "--reason", "consent")
    assert removed.exit_code == 0
    assert as_json(dialer("dnc", "check", "305-555-0134", "--json"))[0]["blocked"] is False


def test_import_prints_the_summary_and_refuses_broken_files(dialer, tmp_path):
    upload = tmp_path / "list.csv"
    upload.write_text("phone\n305-555-0134\n(305) 555-0134\nnope\n305-555-0135\n")
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really")

    summary = as_json(dialer("dnc", "import", str(upload), "--json"))
    refused = dialer("dnc", "import", str(broken))

    assert summary == {
        "read": 4,
        "added": 2,
        "already_listed": 0,
        "duplicates_in_file": 1,
        "invalid": [{"row": 4, "value": "nope", "error": "no digits"}],
        "invalid_count": 1,
    }
    assert refused.exit_code == 1
    assert "broken.xlsx" in refused.stderr


def test_export_and_log_show_what_was_done(dialer, tmp_path):
    dialer("users", "add", "ana", "--role", "manager")
    dialer("dnc", "add", "305-555-0134", "--reason", "asked", "--by", "ana")
    dialer("dnc", "add", "212-555-0100", "--list", "dnt")
    output = tmp_path / "export.csv"

    assert dialer("dnc", "export", "--output", str(output)).exit_code == 0
    rows = list(csv.DictReader(io.StringIO(output.read_text(encoding="utf-8"))))
    assert [(r["number"], r["list"], r["reason"], r["added_by"]) for r in rows] == [
        ("+13055550134", "dnc", "asked", "ana"),
        ("+12125550100", "dnt", "", "cli"),
    ]
    dnt_only = list(csv.DictReader(io.StringIO(dialer("dnc", "export", "--list", "dnt").stdout)))
    assert [r["number"] for r in dnt_only] == ["+12125550100"]

    log = as_json(dialer("dnc", "log", "--number", "(305) 555-0134", "--json"))
    assert [(e["action"], e["number"], e["actor"], e["reason"]) for e in log] == [
        ("add", "+13055550134", "ana", "asked")
    ]


def test_leads_import_channel_dnc_and_show(dialer, tmp_path):
    leads = tmp_path / "leads.csv"
    leads.write_text("phone,first_name,external_id,state\n305-555-0134,Ann,L1,FL\n")
    assert (
        as_json(dialer("leads", "import", str(leads), "--list", "spring", "--json"))["added"] == 1
    )

    changed = dialer("leads", "dnc", "L1", "--channels", "sms,phone", "--reason", "asked")
    shown = as_json(dialer("leads", "show", "L1", "--json"))
    bad = dialer("leads", "dnc", "L1", "--channels", "fax")
    cleared = dialer("leads", "dnc", "L1", "--channels", "")

    assert changed.exit_code == 0
    assert (shown["is_dnc"], shown["dnc"]["channels"], shown["status"]) == (
        True,
        ["phone", "sms"],
        "new",
    )
    assert bad.exit_code == 2
    assert cleared.exit_code == 0
    assert as_json(dialer("leads", "show", "L1", "--json"))["is_dnc"] is False
    assert dialer("leads", "show", "nobody").exit_code == 1


def test_users_and_companies_are_checked(dialer):
    assert dialer("users", "add", "ana", "--role", "viewer").exit_code == 0
    duplicate = dialer("users", "add", "ana", "--role", "viewer")
    unknown = dialer("dnc", "add", "305-555-0134", "--company", "nope")

    assert duplicate.exit_code == 1
    assert unknown.exit_code == 1
    assert "no company named 'nope'" in unknown.stderr
    assert dialer("users", "add", "bo", "--role", "owner").exit_code == 2


def test_every_dnc_change_is_a_json_log_event(tmp_path):
    env = {
        **os.environ,
        "DIALER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "DIALER_LOG_FORMAT": "auto",
    }

    def dialer(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dialer", *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    assert dialer("init").returncode == 0
    assert dialer("users", "add", "ana", "--role", "manager").returncode == 0
    added = dialer("dnc", "add", "305-555-0134", "--reason", "asked", "--by", "ana")

    assert added.returncode == 0
    events = [json.loads(line) for line in added.stderr.splitlines()]
    assert events == [
        {
            "event": "dnc.added",
            "company": "default",
            "number": "+13055550134",
            "list": "dnc",
            "source": "manual",
            "reason": "asked",
            "by": "ana",
            "level": "info",
            "timestamp": events[0]["timestamp"],
        }
    ]
    assert added.stdout == "Added 1 to dnc; 0 already listed.\n"


def test_check_explains_the_decision(dialer):
    dialer("dnc", "add", "305-555-0134", "--reason", "asked")

    evening = verdict(dialer("check", "(305) 555-0140", "--at", "2026-03-10T20:30-04:00", "--json"))
    listed = dialer("check", "305-555-0134", "--at", "2026-03-10T12:00-04:00")
    sentence = dialer("check", "(305) 555-0140", "--at", "2026-03-10T20:30-04:00")
    naive = dialer("check", "(305) 555-0140", "--at", "2026-03-10T20:30")

    assert evening == {
        "number": "+13055550140",
        "allowed": False,
        "permanent": False,
        "reasons": evening["reasons"],
        "zones": ["America/New_York"],
        "local_times": {"America/New_York": "2026-03-10T20:30:00-04:00"},
        "next_eligible_at": "2026-03-11T12:00:00+00:00",
    }
    assert [(r["code"], r["rule"]) for r in evening["reasons"]] == [
        ("OUTSIDE_CALLING_HOURS", "state:FL")
    ]
    assert sentence.stdout.startswith("Blocked: it is 20:30 in America/New_York")
    assert "company dnc list" in listed.stdout
    assert "Waiting will not help" in listed.stdout
    assert naive.exit_code == 2


def test_a_blackout_stops_calls_and_texts_to_its_state_until_it_ends(dialer):
    added = dialer(
        *("blackouts", "add", "--state", "la", "--from", "2026-08-25T00:00Z"),
        *("--until", "2026-09-20T00:00Z", "--reason", "Hurricane", "--source", "Proc. 90"),
    )
    during = verdict(dialer("check", "504-555-0100", "--at", "2026-09-01T11:00-05:00", "--json"))
    text = dialer("check", "504-555-0100", "--channel", "sms", "--at", "2026-09-01T11:00-05:00")
    after = verdict(dialer("check", "504-555-0100", "--at", "2026-09-21T11:00-05:00", "--json"))
    listed = as_json(dialer("blackouts", "list", "--all", "--json"))
    unknown = dialer(
        "blackouts", "add", "--state", "XX", "--until", "2030-01-01T00:00Z", "--source", "x"
    )

    assert added.stdout.startswith("No calls or texts to LA from 2026-08-25T00:00:00+00:00")
    assert [r["code"] for r in during["reasons"]] == ["STATE_EMERGENCY_BLACKOUT"]
    assert during["next_eligible_at"] == "2026-09-20T00:00:00+00:00"
    assert "state LA is under an emergency blackout" in text.stdout
    assert after["allowed"] is True
    assert [(b["state"], b["reason"], b["source"]) for b in listed] == [
        ("LA", "Hurricane", "Proc. 90")
    ]
    assert unknown.exit_code == 1
    assert "not a US state" in unknown.output
    assert as_json(dialer("blackouts", "list", "--all", "--json")) == listed


SPRING = """
name = "spring-followup"
channel = "voice"
leads = "spring-list"
caller_id = "+13055550000"
max_attempts = 3
max_concurrent = 20
attempts_per_second = 10
window = { start = "09:00", end = "20:00", days = ["mon", "tue", "wed", "thu", "fri"] }
retry = { NO_ANSWER = "4h", BUSY = "30m", MACHINE = "1d" }
ivr_optout_digit = "9"
"""


def import_spring_list(dialer, tmp_path):
    """The lead list SPRING dials."""
    leads = tmp_path / "spring-list.csv"
    leads.write_text("phone,external_id\n305-555-0150,S1\n")
    assert dialer("leads", "import", str(leads), "--list", "spring-list").exit_code == 0


def test_campaign_lifecycle_from_a_toml_definition(dialer, tmp_path):
    import_spring_list(dialer, tmp_path)
    definition = tmp_path / "spring.toml"
    definition.write_text(SPRING)
    broken = tmp_path / "broken.toml"
    broken.write_text(SPRING.replace('"09:00"', '"9am"'))

    created = as_json(dialer("campaign", "create", "--from", str(definition), "--json"))
    refused = dialer("campaign", "create", "--from", str(broken))
    again = dialer("campaign", "create", "--from", str(definition))

    assert (created["name"], created["state"], created["channel"]) == (
        "spring-followup",
        "draft",
        "voice",
    )
    assert refused.exit_code == 1
    assert "broken.toml" in refused.stderr
    assert "window.start" in refused.stderr
    assert again.exit_code == 1
    assert "already exists" in again.stderr
    assert dialer("campaign", "pause", "spring-followup").exit_code == 1
    for action, state in (
        ("start", "running"),
        ("pause", "paused"),
        ("resume", "running"),
        ("stop", "stopped"),
    ):
        result = dialer("campaign", action, "spring-followup")
        assert result.stdout == f"Campaign 'spring-followup' is {state}.\n"
    listed = as_json(dialer("campaign", "list", "--json"))
    assert [(c["name"], c["state"]) for c in listed] == [("spring-followup", "stopped")]
    shown = as_json(dialer("campaign", "show", "spring-followup", "--json"))
    assert shown["definition"] == SPRING
    assert dialer("campaign", "show", "nope").exit_code == 1


def test_statuses_are_seeded_listed_and_replaced(dialer, tmp_path):
    seeded = as_json(dialer("statuses", "list", "--json"))
    by_code = {status["code"]: status for status in seeded["statuses"]}
    assert by_code["DNC_REQUESTED"]["actions"] == ["company_dnc"]
    assert {"result": "answered", "digits": "9", "status": "DNC_REQUESTED"} in seeded["map"]

    custom = tmp_path / "statuses.toml"
    custom.write_text(
        '[[status]]\ncode = "DNC"\nfinal = true\n'
        '[[status]]\ncode = "OTHER"\nfinal = true\n'
        + "".join(
            f'[[map]]\nresult = "{result}"\nstatus = "OTHER"\n'
            for result in (
                "answered",
                "no-answer",
                "busy",
                "failed",
                "machine",
                "delivered",
                "undelivered",
            )
        )
    )
    assert dialer("statuses", "load", str(custom)).exit_code == 0
    replaced = as_json(dialer("statuses", "list", "--json"))
    # A status called DNC without actions does nothing.
    assert {s["code"]: s["actions"] for s in replaced["statuses"]} == {"DNC": [], "OTHER": []}
    bad = tmp_path / "bad.toml"
    bad.write_text('[[status]]\ncode = "X"\nfinal = true\nactions = ["fax_dnc"]\n')
    refused = dialer("statuses", "load", str(bad))
    assert refused.exit_code == 1
    assert "bad.toml" in refused.stderr
    assert as_json(dialer("statuses", "list", "--json")) == replaced


def test_check_applies_a_campaigns_window_and_channel(dialer, tmp_path):
    import_spring_list(dialer, tmp_path)
    definition = tmp_path / "spring.toml"
    definition.write_text(SPRING)
    dialer("campaign", "create", "--from", str(definition))

    saturday_noon = "2026-03-14T12:00-04:00"
    plain = verdict(dialer("check", "305-555-0140", "--at", saturday_noon, "--json"))
    with_campaign = verdict(
        dialer(
            "check",
            "305-555-0140",
            "--at",
            saturday_noon,
            "--campaign",
            "spring-followup",
            "--json",
        )
    )

    assert plain["allowed"] is True
    assert [(r["code"], r["rule"]) for r in with_campaign["reasons"]] == [
        ("RESTRICTED_DAY", "campaign")
    ]
    assert with_campaign["next_eligible_at"] == "2026-03-16T13:00:00+00:00"


def test_campaign_create_refuses_a_lead_list_the_company_does_not_have(dialer, tmp_path):
    definition = tmp_path / "spring.toml"
    definition.write_text(SPRING)

    refused = dialer("campaign", "create", "--from", str(definition))

    assert refused.exit_code == 1
    assert "no lead list 'spring-list'" in refused.stderr
    assert "dialer leads import FILE --list spring-list" in refused.stderr
    assert as_json(dialer("campaign", "list", "--json")) == []


def test_check_exits_0_when_allowed_and_1_when_blocked(dialer):
    dialer("dnc", "add", "305-555-0134")
    noon = "2026-03-10T12:00-04:00"

    for args, printed in (((), "company dnc list"), (("--json",), "COMPANY_DNC")):
        allowed = dialer("check", "305-555-0140", "--at", noon, *args)
        blocked = dialer("check", "305-555-0134", "--at", noon, *args)
        assert (allowed.exit_code, blocked.exit_code) == (0, 1), args
        assert printed in blocked.stdout
    # `dnc check` is a lookup: its answer is in the blocked flags.
    looked_up = dialer("dnc", "check", "305-555-0134", "--json")
    assert looked_up.exit_code == 0
    assert json.loads(looked_up.stdout)[0]["blocked"] is True


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--state", "Louisiana", "did you mean LA?"),
        ("--state", "Z'Z", "not the postal code of a US state or territory"),
        ("--timezone", "america/los_angeles", "did you mean America/Los_Angeles?"),
        ("--timezone", "Mars/Base", "not an IANA time zone"),
    ],
)
def test_check_refuses_an_unknown_state_or_time_zone(dialer, option, value, message):
    dialer(
        *("blackouts", "add", "--state", "LA", "--from", "2026-08-25T00:00Z"),
        *("--until", "2026-09-20T00:00Z", "--source", "Proc. 90"),
    )
    # A Californian number at 08:30 Pacific: a Louisiana or Eastern lead may not be called.
    args = ("check", "213-555-0100", "--at", "2026-09-01T08:30-07:00")

    refused = dialer(*args, option, value)

    assert refused.exit_code == 2
    assert message in refused.stderr
    assert "Allowed" not in refused.output


def test_check_takes_a_state_in_any_case(dialer):
    dialer(
        *("blackouts", "add", "--state", "LA", "--from", "2026-08-25T00:00Z"),
        *("--until", "2026-09-20T00:00Z", "--source", "Proc. 90"),
    )

    during = dialer("check", "213-555-0100", "--at", "2026-09-01T11:00-07:00", "--state", "la")

    assert during.exit_code == 1
    assert "state LA is under an emergency blackout" in during.stdout


BOOK = DEFAULT_STATUSES_PATH.read_text(encoding="utf-8")
BOOKS_BREAKING_SPRING = {
    "opt-out blocks nothing": (
        BOOK.replace('actions = ["company_dnc"]\n', ""),
        "ivr_optout_digit: pressing '9' gives status DNC_REQUESTED, which blocks nothing",
    ),
    "retried status made final": (
        BOOK.replace('label = "Busy"\nfinal = false', 'label = "Busy"\nfinal = true'),
        "retry.BUSY: BUSY is final",
    ),
}


@pytest.mark.parametrize("broken", sorted(BOOKS_BREAKING_SPRING))
def test_statuses_load_refuses_a_book_a_running_or_paused_campaign_cannot_use(
    dialer, tmp_path, broken
):
    import_spring_list(dialer, tmp_path)
    definition = tmp_path / "spring.toml"
    definition.write_text(SPRING)
    dialer("campaign", "create", "--from", str(definition))
    book, problem = BOOKS_BREAKING_SPRING[broken]
    statuses = tmp_path / "statuses.toml"
    statuses.write_text(book)
    loaded = as_json(dialer("statuses", "list", "--json"))

    for action in ("start", "pause"):
        assert dialer("campaign", action, "spring-followup").exit_code == 0
        refused = dialer("statuses", "load", str(statuses))
        assert refused.exit_code == 1, action
        assert "campaign 'spring-followup'" in refused.stderr
        assert problem in refused.stderr
        assert as_json(dialer("statuses", "list", "--json")) == loaded

    assert dialer("campaign", "stop", "spring-followup").exit_code == 0
    assert dialer("statuses", "load", str(statuses)).exit_code == 0
