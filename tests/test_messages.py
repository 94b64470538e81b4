"""Messages a person reads: values quoted as the file wrote them, never as Python reprs, and
counts in correct English."""

from __future__ import annotations

import tomllib

import pytest
from click.testing import CliRunner

from campaigns import InvalidDefinition
from campaigns.definitions import parse_campaign
from campaigns.statuses import parse_statuses
from compliance.hours import parse_rules
from dialer.cli import main
from dialer.cli.support import plural

VOICE = """\
name = "spring"
channel = "voice"
leads = "spring"
caller_id = "+13055550000"
max_attempts = 1
max_concurrent = 1
attempts_per_second = 1
ivr_optout_digit = "9"
"""
SMS = VOICE.replace('"voice"', '"sms"').replace('ivr_optout_digit = "9"\n', "")
RULES = """\
[[federal.hours]]
source = "https://example.com/rule"
effective_from = 2020-01-01
"""
PYTHON_REPRS = ("None", "True", "False", "datetime.", "{'")


def refusal(parse, text: str) -> str:
    with pytest.raises((InvalidDefinition, ValueError)) as caught:
        parse(tomllib.loads(text))
    return str(caught.value)


@pytest.mark.parametrize(
    ("parse", "text", "expected"),
    [
        (parse_campaign, VOICE + 'window = { start = 09:00:00, end = "17:00" }',
         "window.start: write the time in quotes, '09:00'"),
        (parse_campaign, VOICE + 'window = { start = "09:00", end = 17:30:00 }',
         "window.end: write the time in quotes, '17:30'"),
        (parse_campaign, SMS, "sms_body: an sms campaign needs the text to send, got nothing"),
        (parse_campaign, VOICE.replace('"9"', "9"),
         "ivr_optout_digit: a voice campaign needs one keypad key (0-9, * or #), got 9"),
        (parse_campaign, VOICE.replace('max_attempts = 1', "max_attempts = true"),
         "max_attempts: must be a positive whole number, got true"),
        (parse_campaign, VOICE + "window = [1, 2]",
         'window: expected { start = "09:00", end = "20:00" }, got [1, 2]'),
        (parse_campaign, VOICE + 'window = { start = "09:00", end = "17:00", days = "mon" }',
         "window.days: must list days, e.g. [\"mon\", \"tue\"], got 'mon'"),
        (parse_campaign, VOICE + "retry = { BUSY = 30 }",
         "retry.BUSY: 30 is not a duration"),
        (parse_campaign, VOICE + 'retry = ["BUSY"]',
         "retry: expected { NO_ANSWER = \"4h\", ... }, got ['BUSY']"),
        (parse_statuses, '[[status]]\ncode = "X"\n',
         "status #1 (X), final: required, true or false, got nothing"),
        (parse_statuses, "[[status]]\ncode = 7\n", "status #1, code: 7 must be upper-case"),
        (parse_statuses, '[[status]]\ncode = "X"\nfinal = true\nactions = { a = 1 }\n',
         "status #1 (X), actions: must be a list, got { a = 1 }"),
        (parse_statuses, '[[map]]\nresult = "busy"\nstatus = 2026-03-10\n',
         "map #1, status: 2026-03-10 is not a defined [[status]] code"),
        (parse_rules, RULES + "daily = 09:00:00\n",
         "federal, hours #1, mon: 09:00:00 is not 'HH:MM-HH:MM' (start < end) or 'closed'"),
        (parse_rules, RULES.replace("2020-01-01", "true") + 'daily = "08:00-21:00"\n',
         "federal, hours #1, effective_from: true is not a date (YYYY-MM-DD)"),
        (parse_rules, RULES + 'daily = "08:00-21:00"\nstatus = "maybe"\n',
         "federal, hours #1, status: 'maybe' is not one of "),
    ],
)  # fmt: skip
def test_refusals_quote_values_as_the_file_wrote_them(parse, text, expected):
    message = refusal(parse, text)

    assert expected in message
    assert not any(python in message for python in PYTHON_REPRS), message


def test_counts_are_written_in_correct_english():
    assert [plural(n, "row") for n in (0, 1, 2, 1000)] == [
        "0 rows",
        "1 row",
        "2 rows",
        "1,000 rows",
    ]
    assert plural(1, "entry", "entries") == "1 entry"
    assert plural(3, "entry", "entries") == "3 entries"


def test_import_summaries_count_in_correct_english(tmp_path):
    runner = CliRunner()
    env = {
        "DIALER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'dialer.db'}",
        "DIALER_LOG_LEVEL": "WARNING",
    }

    def dialer(*args: str) -> str:
        result = runner.invoke(main, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    dialer("init")
    (tmp_path / "leads.csv").write_text("phone\n305-555-0111\n", encoding="utf-8")
    (tmp_path / "dnc.csv").write_text("Phone\n305-555-0112\n(305) 555-0112\n", encoding="utf-8")

    leads = dialer("leads", "import", str(tmp_path / "leads.csv"))
    dnc = dialer("dnc", "import", str(tmp_path / "dnc.csv"))
    exported = dialer("dnc", "export", "--output", str(tmp_path / "out.csv"))

    assert leads.startswith("Read 1 row: 1 lead added to 'default', ")
    assert dnc.startswith("Read 2 rows: 1 added to dnc, 0 already listed, 1 duplicate in the file")
    assert exported.startswith("Exported 1 entry to ")
