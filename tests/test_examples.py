"""The documented formats and their example files (config/examples/) hold: every example is
read by the real commands, and every documented field is one the code reads."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from campaigns import InvalidDefinition, definitions
from campaigns.definitions import parse_campaign
from compliance.leads import LEAD_COLUMNS
from dialer.carriers.simulator import Scenario
from dialer.carriers.twilio import TOTAL_TIMEOUT
from dialer.cli import main
from dialer.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "config" / "examples"
GUIDE = (EXAMPLES / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    """The text of the guide's `## title` section."""
    return GUIDE.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def first_column(text: str) -> list[str]:
    """The backticked names in the first column of a section's table rows."""
    rows = re.findall(r"^\| ([^|]+) \|", text, flags=re.MULTILINE)
    return [name for row in rows for name in re.findall(r"`([^`]+)`", row)]


@pytest.fixture
def dialer(tmp_path):
    runner = CliRunner()
    env = {
        "DIALER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'dialer.db'}",
        "DIALER_LOG_LEVEL": "WARNING",
    }

    def invoke(*args: str):
        result = runner.invoke(main, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == 0, (args, result.output)
        return result

    invoke("init")
    return invoke


def test_every_example_file_is_read_by_the_real_commands(dialer):
    loaded = dialer("statuses", "load", str(EXAMPLES / "statuses.toml"))
    imported = json.loads(
        dialer("leads", "import", str(EXAMPLES / "leads.csv"), "--list", "spring", "--json").stdout
    )
    for example in ("campaign.toml", "sms-campaign.toml"):
        dialer("campaign", "create", "--from", str(EXAMPLES / example))
    scenario = Scenario.from_toml(EXAMPLES / "scenario.toml")
    predicted = json.loads(
        dialer(
            "campaign", "forecast", "spring-calls", "--from", "2026-03-10T14:00Z", "--days", "1",
            "--scenario", str(EXAMPLES / "scenario.toml"), "--json",
        ).stdout
    )  # fmt: skip
    for name in ("spring-calls", "spring-texts"):
        dialer("campaign", "start", name)  # the opt-out key checked against the statuses

    assert "Loaded 10 call statuses" in loaded.stdout
    assert (imported["added"], imported["invalid_count"]) == (5, 0)
    assert [outcome.match for outcome in scenario.outcomes] == [
        "+13055550117",
        "*99",
        "+18085550142",
    ]
    # The example caller who presses 9 is a lead of the example file, and opts out.
    assert predicted["report"]["dnc_added"] == {"DNC_REQUESTED": 1}


def test_every_campaign_field_is_documented_and_read_by_the_parser():
    documented = first_column(section("Campaign definition"))
    fields = [name for name in documented if "." not in name]
    window = [name.split(".", 1)[1] for name in documented if name.startswith("window.")]

    assert fields == [*definitions._REQUIRED, *definitions._OPTIONAL]
    voice = tomllib.loads((EXAMPLES / "campaign.toml").read_text(encoding="utf-8"))
    every_window_field = {"start": "09:00", "end": "17:00", "days": ["mon"]}
    assert sorted(window) == sorted(every_window_field)
    assert parse_campaign({**voice, "window": every_window_field}).window is not None
    with pytest.raises(InvalidDefinition, match="unknown field"):
        parse_campaign({**voice, "window": {**every_window_field, "weeks": 1}})
    with pytest.raises(InvalidDefinition, match="unknown field"):
        parse_campaign({**voice, "speed": 1})
    for placeholder in definitions.LEAD_FIELDS:
        assert f"`{{{placeholder}}}`" in section("Campaign definition")


def test_every_lead_column_is_documented():
    assert sorted(first_column(section("Lead file"))) == sorted(LEAD_COLUMNS)


@pytest.mark.parametrize("command", ["report", "skips", "interactions"])
def test_the_readme_lists_the_formats_each_report_command_has(command):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    [listed] = re.findall(rf"^dialer {command} .*--format ([a-z|]+)\]", readme, re.MULTILINE)
    [option] = [p for p in main.get_command(None, command).params if p.name == "output_format"]

    assert isinstance(option.type, click.Choice)
    assert listed.split("|") == list(option.type.choices)


# --- the production examples: the systemd unit and the settings it reads ---------------------

UNIT = EXAMPLES / "dialer@.service"


def unit_section(text: str, name: str) -> list[tuple[str, str]]:
    """The `key=value` lines of a unit file's [name] section, in order (keys may repeat)."""
    body = text.split(f"[{name}]\n", 1)[1].split("\n[", 1)[0]
    lines = [line for line in body.splitlines() if line and not line.startswith("#")]
    return [(key, value) for key, _, value in (line.partition("=") for line in lines)]


def environment_file(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    pairs = [line.partition("=") for line in lines if line and not line.startswith("#")]
    return {key: value for key, _, value in pairs}


def setting_names(variables: dict[str, str]) -> dict[str, str]:
    """The settings the DIALER_* variables set, by name; a variable that sets none fails."""
    named = {name.removeprefix(ENV_PREFIX).lower(): name for name in variables}
    unknown = [name for key, name in named.items() if key not in Settings.model_fields]
    assert unknown == []
    assert all(name.startswith(ENV_PREFIX) for name in variables)
    return {key: variables[name] for key, name in named.items()}


def test_the_systemd_unit_runs_dialer_serve_with_real_settings_and_stops_it_with_sigterm():
    service = unit_section(UNIT.read_text(encoding="utf-8"), "Service")
    keys = dict(service)
    [start] = [value for key, value in service if key == "ExecStart"]
    program, *arguments = start.split()
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    environment = dict(value.partition("=")[::2] for key, value in service if key == "Environment")
    [env_file] = [value for key, value in service if key == "EnvironmentFile"]
    shared = environment_file(EXAMPLES / Path(env_file).name)

    assert Path(program).name in scripts["project"]["scripts"]
    assert arguments == ["serve"]
    assert main.get_command(None, "serve") is not None
    assert setting_names(environment) == {"webhook_port": "%i"}
    # Every value in the example is one the settings take (the secret key file is absent).
    assert Settings(**setting_names(shared)).public_url == shared["DIALER_PUBLIC_URL"]
    assert (keys["KillSignal"], keys["Restart"]) == ("SIGTERM", "on-failure")
    assert keys["User"] not in ("", "root")
    # A stop waits for the create requests under way, each answered within the adapter's
    # timeout; killed sooner, the node leaves attempts for the others to look up.
    assert int(keys["TimeoutStopSec"]) > TOTAL_TIMEOUT


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_verifies_the_unit(tmp_path):
    # verify checks that the program exists: the one this test suite runs.
    installed = Path(sys.executable).parent / "dialer"
    text = UNIT.read_text(encoding="utf-8").replace("/opt/dialer/.venv/bin/dialer", str(installed))
    (tmp_path / UNIT.name).write_text(text)

    verified = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "dialer@8080.service")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip

    assert verified.returncode == 0, verified.stderr
    assert [line for line in verified.stderr.splitlines() if UNIT.name in line] == []
