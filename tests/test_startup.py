"""Starting `dialer` wrong: a clear message, exit 1, nothing created or changed.

Each command runs as a user runs it, in its own process, with a data folder of its own.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from dialer import demo
from dialer.cli import main

CAMPAIGN = """\
name = "spring-calls"
channel = "voice"
leads = "spring"
caller_id = "+13055550000"
max_attempts = 1
max_concurrent = 1
attempts_per_second = 1
ivr_optout_digit = "9"
"""
NOT_UTF8 = b'name = "caf\xe9"\n'  # Latin-1, as an old editor saves it


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def dialer(home: Path, tmp_path: Path):
    """Run `dialer ARGS...` in a new process on the data folder `home`; env adds settings."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
    base |= {"DIALER_HOME": str(home), "DIALER_LOG_LEVEL": "WARNING"}

    def invoke(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dialer", *args],
            env=base | env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    return invoke


def refused(result: subprocess.CompletedProcess[str], *phrases: str) -> str:
    """The message of a command that failed cleanly (exit 1, no traceback)."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("Error: "), result.stderr
    for phrase in phrases:
        assert phrase in result.stderr
    return result.stderr


def as_json(result: subprocess.CompletedProcess[str]):
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def initialized(dialer, home: Path, tmp_path: Path):
    """A database with a lead list `spring` and a draft campaign on it, set up in this
    process (quicker); the commands under test still run in their own."""
    leads = tmp_path / "leads.csv"
    leads.write_text("Phone\n305-555-0134\n212-555-0100\n", encoding="utf-8")
    definition = tmp_path / "spring-calls.toml"
    definition.write_text(CAMPAIGN, encoding="utf-8")
    runner = CliRunner()
    env = {"DIALER_HOME": str(home), "DIALER_LOG_LEVEL": "WARNING"}
    for args in (
        ["init"],
        ["leads", "import", str(leads), "--list", "spring"],
        ["campaign", "create", "--from", str(definition)],
    ):
        assert runner.invoke(main, args, env=env, catch_exceptions=False).exit_code == 0
    return dialer


# --- before `dialer init` -------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("campaign", "list"),
        ("dnc", "add", "305-555-0134"),
        ("leads", "show", "L1"),
        ("report", "spring-calls"),
        ("serve",),
    ],
)
def test_a_command_before_init_says_to_run_init_and_creates_nothing(dialer, home, args):
    message = refused(dialer(*args), "dialer init", str(home / "dialer.db"))

    assert "no such table" not in message
    assert not home.exists()


def test_init_creates_the_data_folder_and_says_where_the_database_is(dialer, home):
    created = dialer("init")

    assert created.returncode == 0, created.stderr
    assert f"Database: {home / 'dialer.db'}\n" in created.stdout
    assert (home / "dialer.db").is_file()
    assert as_json(dialer("campaign", "list", "--json")) == []


def test_the_data_folder_is_absolute_and_the_database_url_wins_over_it(dialer, tmp_path):
    relative = dialer("init", DIALER_HOME="data")
    elsewhere = tmp_path / "elsewhere.db"
    explicit = dialer("init", DIALER_DATABASE_URL=f"sqlite+aiosqlite:///{elsewhere}")

    assert f"Database: {tmp_path / 'data' / 'dialer.db'}\n" in relative.stdout
    assert f"Database: {elsewhere}\n" in explicit.stdout
    assert elsewhere.is_file()


def test_without_dialer_home_the_database_is_in_the_users_data_folder(dialer, tmp_path):
    data = tmp_path / "xdg"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}

    created = subprocess.run(
        [sys.executable, "-m", "dialer", "init"],
        env=env | {"XDG_DATA_HOME": str(data)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )

    assert created.returncode == 0, created.stderr
    assert f"Database: {data / 'dialer' / 'dialer.db'}\n" in created.stdout


def test_an_empty_dialer_home_is_refused(dialer, tmp_path):
    refused(dialer("init", DIALER_HOME=" "), "DIALER_HOME", "empty folder name")

    assert list(tmp_path.iterdir()) == []


def test_a_data_folder_that_is_a_file_is_refused(dialer, home):
    home.write_text("not a folder\n")

    refused(dialer("init"), f"cannot create the folder {home}")

    assert home.read_text() == "not a folder\n"


@pytest.mark.postgresql
def test_init_on_postgresql_names_the_server_without_the_password(dialer, postgres_url):
    url = make_url(postgres_url).set(password="s3cret")
    server = f"postgresql+asyncpg://{url.username}@{url.host}:{url.port}/{url.database}"

    created = dialer("init", DIALER_DATABASE_URL=url.render_as_string(hide_password=False))

    # Whether the server checks the password or not, it is never shown.
    assert server in created.stdout + created.stderr
    assert "s3cret" not in created.stdout + created.stderr


def test_an_empty_database_file_is_not_a_dialer_database(dialer, home):
    home.mkdir()
    (home / "dialer.db").touch()

    refused(dialer("campaign", "list"), "no dialer schema", "dialer init")

    assert (home / "dialer.db").stat().st_size == 0


# --- bad settings ---------------------------------------------------------------------


# A setting, a bad value, and what the message must say about it.
BAD_SETTINGS = [
    ("DIALER_LOG_LEVEL", "LOUD", "'DEBUG', 'INFO', 'WARNING' or 'ERROR'"),
    ("DIALER_LOG_FORMAT", "xml", "'auto', 'json' or 'console'"),
    ("DIALER_DATABASE_URL", "not a url", "not a database URL"),
    ("DIALER_DATABASE_URL", "mysql://ana:s3cret@db/dialer", "the driver mysql"),
    ("DIALER_DATABASE_URL", "postgresql://ana@db/dialer", "postgresql+asyncpg://"),
    ("DIALER_WEBHOOK_PORT", "99999", "65535"),
    ("DIALER_TICK_SECONDS", "0", "greater than 0"),
    ("DIALER_TICK_SECONDS", "inf", "finite"),
    ("DIALER_DEFAULT_REGION", "USA", "not a region code"),
    ("DIALER_DEFAULT_COMPANY", " ", "a company needs a name"),
    ("DIALER_CARRIER", "skype", "'simulator' or 'twilio'"),
    ("DIALER_CARRIER_URL", "api.twilio.com", "not an http:// or https:// address"),
]


def test_a_bad_setting_is_named_and_changes_nothing(dialer):
    assert dialer("init").returncode == 0

    for variable, value, phrase in BAD_SETTINGS:
        message = refused(dialer("dnc", "add", "305-555-0134", **{variable: value}), phrase)
        assert f"invalid setting {variable}" in message
        assert "s3cret" not in message

    twilio = dialer("serve", DIALER_CARRIER="twilio", DIALER_CARRIER_ACCOUNT_SID="AC1")
    refused(twilio, "invalid setting carrier = twilio needs carrier_auth_token")
    assert as_json(dialer("dnc", "check", "305-555-0134", "--json"))[0]["blocked"] is False


def test_a_bad_settings_file_is_named(dialer, tmp_path, home):
    settings = tmp_path / "settings.toml"
    settings.write_bytes(b'log_level = "INFO"\ncolour = "blue"\n')
    unknown_key = dialer("init", DIALER_CONFIG=str(settings))
    settings.write_bytes(b"log_level = \n")
    bad_toml = dialer("init", DIALER_CONFIG=str(settings))
    settings.write_bytes(NOT_UTF8)
    not_utf8 = dialer("init", DIALER_CONFIG=str(settings))
    missing = dialer("init", DIALER_CONFIG=str(tmp_path / "nope.toml"))

    refused(unknown_key, f"colour in {settings} is not a setting")
    refused(bad_toml, str(settings), "line 1")
    refused(not_utf8, str(settings), "not UTF-8")
    refused(missing, "DIALER_CONFIG", "nope.toml")
    assert not home.exists()


def test_a_sqlite_file_in_a_missing_folder_is_refused(dialer, tmp_path):
    missing = tmp_path / "no" / "such" / "folder"

    message = refused(dialer("init", DIALER_DATABASE_URL=f"sqlite+aiosqlite:///{missing}/x.db"))

    assert f"the folder {missing} " in message
    assert not (tmp_path / "no").exists()


def test_a_file_that_is_not_a_database_is_refused(dialer, tmp_path):
    notes = tmp_path / "notes.db"
    notes.write_text("shopping list\n")

    refused(
        dialer("campaign", "list", DIALER_DATABASE_URL=f"sqlite+aiosqlite:///{notes}"),
        f"cannot open the database at {notes}",
    )
    assert notes.read_text() == "shopping list\n"


def test_postgresql_refusing_connections_is_named_by_host(dialer):
    port = unused_port()
    url = f"postgresql+asyncpg://postgres:s3cret@127.0.0.1:{port}/dialer"

    for args in (("init",), ("campaign", "list"), ("serve",)):
        message = refused(dialer(*args, DIALER_DATABASE_URL=url), f"127.0.0.1:{port}")
        assert "Connection refused" in message
        assert "s3cret" not in message


@pytest.mark.postgresql
def test_a_postgresql_database_that_does_not_exist_is_named(dialer, postgres_url):
    url = make_url(postgres_url).set(database="dialer_no_such_database")

    refused(
        dialer("campaign", "list", DIALER_DATABASE_URL=url.render_as_string(False)),
        f"{url.host}:{url.port}/dialer_no_such_database",
        'database "dialer_no_such_database" does not exist',
    )


# --- bad files ------------------------------------------------------------------------


def test_a_campaign_file_that_is_not_utf8_is_refused(initialized, tmp_path):
    definition = tmp_path / "latin1.toml"
    definition.write_bytes(b'name = "caf\xe9"\nchannel = "voice"\n')
    before = as_json(initialized("campaign", "list", "--json"))

    refused(
        initialized("campaign", "create", "--from", str(definition)),
        f"{definition} is not UTF-8 text (byte 0xE9 on line 1)",
    )
    assert as_json(initialized("campaign", "list", "--json")) == before


def test_a_campaign_file_with_a_byte_order_mark_is_read(initialized, tmp_path):
    definition = tmp_path / "notepad.toml"
    definition.write_bytes(b"\xef\xbb\xbf" + CAMPAIGN.replace("spring-calls", "fall").encode())

    assert initialized("campaign", "create", "--from", str(definition)).returncode == 0


def test_a_statuses_file_that_is_not_utf8_is_refused(initialized, tmp_path):
    book = tmp_path / "statuses.toml"
    book.write_bytes(b'[statuses.DNC_REQUESTED]\nlabel = "Ne pas appeler \xe0 nouveau"\n')
    before = as_json(initialized("statuses", "list", "--json"))

    refused(initialized("statuses", "load", str(book)), "not UTF-8 text", "line 2")
    assert as_json(initialized("statuses", "list", "--json")) == before


# A scenario file and what the message about it must say.
BAD_SCENARIOS = [
    (NOT_UTF8, "not UTF-8 text"),
    (b"seed = \n", "line 1"),
    (b'seed = "seven"\n', "seed: expected a whole number"),
    (b'[[outcome]]\nmatch = "*17"\n', "outcome[0]: missing result"),
    (b'[[outcome]]\nmatch = "*17"\nresult = "hung-up"\n', "outcome[0].result"),
]


def test_a_bad_scenario_file_is_refused_before_the_campaign_starts(initialized, tmp_path):
    scenario = tmp_path / "scenario.toml"

    for content, phrase in BAD_SCENARIOS:
        scenario.write_bytes(content)
        run = initialized(
            "campaign", "run", "spring-calls", "--until-done",
            "--sim-clock", "2026-03-10T15:00Z", "--scenario", str(scenario),
        )  # fmt: skip
        refused(run, str(scenario), phrase)

    assert as_json(initialized("campaign", "show", "spring-calls", "--json"))["state"] == "draft"


def test_a_bad_scenario_setting_is_refused_by_serve(dialer, tmp_path):
    scenario = tmp_path / "scenario.toml"
    scenario.write_bytes(NOT_UTF8)
    assert dialer("init").returncode == 0

    refused(dialer("serve", DIALER_SCENARIO=str(scenario)), str(scenario), "not UTF-8")


# --- the demo's way in ----------------------------------------------------------------


def test_the_demos_hint_reaches_its_database(dialer, home, tmp_path):
    assert dialer("init").returncode == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}

    command = demo.cli_command(home, "campaign", "list", "--json")
    # From the folder the demo ran in, as its hint says.
    shown = subprocess.run(
        command, shell=True, env=env, capture_output=True, text=True, check=False
    )

    assert command.startswith(f"DIALER_HOME={home} ")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == []


@pytest.mark.parametrize("host", ["127.0.0.1", "no-such-host.invalid"])
def test_serve_on_an_address_it_cannot_listen_on_says_so(initialized, host):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = initialized("serve", DIALER_WEBHOOK_HOST=host, DIALER_WEBHOOK_PORT=port)

    refused(result, f"cannot listen for webhooks on {host}:{port}")
