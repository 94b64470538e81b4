"""`make demo`: a spring campaign end to end on a fresh SQLite file, through the real CLI.

The story: a company sets up its Do-Not-Call lists, imports 2,000 leads spread over the US
time zones, runs a voice campaign and then a text campaign on a simulated clock through the
simulated carrier, and reads back the reports and the skip log. Some people answer the texts
with STOP or in plain words; a follow-up call campaign then skips every one of them. Each
step prints the command it runs, then what the command printed. The data is generated here,
the same every run.
"""

from __future__ import annotations

import csv
import json
import os
import random
import shlex
import sys
import time
from contextlib import nullcontext, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from dialer import cli
from dialer.settings import Settings

DEMO_DIR = Path("var/demo")
SEED = 2026
LEAD_COUNT = 2_000
SLOW_STEP = 5.0  # seconds: a step taking longer shows its time
# Settings that would put the demo's database somewhere other than its data folder.
OTHER_DATABASE = ("DIALER_DATABASE_URL", "DIALER_CONFIG")
START = "2026-03-10T12:00Z"  # a Tuesday: 08:00 in New York, 02:00 in Honolulu

# Area codes by state. Fictional numbers only: NXX-555-0100 to -0199 in every area code.
# 850 (Florida panhandle), 208 (Idaho) and 219 (Indiana) span two time zones; 915 is
# El Paso, on Mountain time unlike the rest of Texas; Arizona keeps no daylight saving.
AREA_CODES = {
    "NY": ("212", "718", "917", "518", "716"),
    "FL": ("305", "786", "407", "813", "850"),
    "TX": ("214", "512", "713", "915"),
    "AZ": ("602", "480", "520"),
    "CA": ("213", "415", "619", "916"),
    "ID": ("208",),
    "AK": ("907",),
    "HI": ("808",),
    "IN": ("219", "317"),
}
STATE_ZONE = {
    "NY": "America/New_York",
    "FL": "America/New_York",
    "TX": "America/Chicago",
    "AZ": "America/Phoenix",
    "CA": "America/Los_Angeles",
    "ID": "America/Boise",
    "AK": "America/Anchorage",
    "HI": "Pacific/Honolulu",
    "IN": "America/Indiana/Indianapolis",
}
FIRST_NAMES = ("Ann", "Bob", "Cy", "Dee", "Eli", "Fay", "Gus", "Hal", "Ivy", "Jo", "Kim", "Lu")
LAST_NAMES = ("Lee", "Ray", "Dot", "Fox", "Ng", "Wu", "Ho", "Diaz", "Khan", "Moss", "Park")
# The same number as people type it, paste it, or get it back from a spreadsheet.
FORMATS = (
    "({a}) {x}-{n}",
    "{a}.{x}.{n}",
    "+1 {a} {x} {n}",
    "1-{a}-{x}-{n}",
    "{a}{x}{n}.0",
    "{a}-{x}-{n}",
    "{a}{x}{n}",
)
# Rows no normalizer can save; the import reports each one with its reason.
INVALID_PHONES = ("555-0134", "(105) 555-0134", "n/a", "3.05555E+09", "+1 212 555 01", "")

# A campaign manager's DNC list as it really arrives: header, mixed formats, Excel
# artefacts, duplicates, a blank row, junk; some of its numbers are leads (added below).
DNC_UPLOAD_HEAD = """Phone,Name,Notes
(305) 555-0134,Ann Lee,asked twice
1-305-555-0134,Ann Lee,duplicate in another format
001 212 555 0100,Di Fox,international prefix
２１２５５５０１０１,Fi Wu,full-width digits
(212) 555-0102 ext. 44,Gus Ho,extension

3.05555E+09,Hal,scientific notation
(105) 555-0134,Jo,impossible area code
n/a,Kim,
"""

VOICE_CAMPAIGN = """\
name = "spring-calls"
channel = "voice"
leads = "spring"
caller_id = "+13055550000"
max_attempts = 2
max_concurrent = 1000
attempts_per_second = 1000
window = { start = "09:00", end = "20:00", days = ["mon", "tue", "wed", "thu", "fri", "sat"] }
retry = { NO_ANSWER = "4h", BUSY = "30m", MACHINE = "1d" }
ivr_optout_digit = "9"
"""
SMS_CAMPAIGN = """\
name = "spring-texts"
channel = "sms"
leads = "spring"
caller_id = "+13055550000"
max_attempts = 1
max_concurrent = 1000
attempts_per_second = 1000
window = { start = "10:00", end = "19:00", days = ["mon", "tue", "wed", "thu", "fri"] }
sms_body = "Hi {first_name}, our spring offer ends Friday. Reply STOP to opt out."
"""
# How the simulated carrier ends each call or text, the same for the same seed. Numbers
# ending in 17 or 71 answer and press 9 (the campaign's opt-out key): the DNC_REQUESTED
# status puts them on the company dnc list, so the text campaign must skip them.
SCENARIO = """\
seed = 7
default = { answered = 76, no-answer = 9, busy = 3, machine = 6, failed = 6, \
delivered = 95, undelivered = 5 }

[[outcome]]
match = "*17"
result = "answered"
digits = "9"

[[outcome]]
match = "*71"
result = "answered"
digits = "9"

# Whoever has a number ending in 23 answers the text with STOP, one ending in 32 in plain
# words, posted signed to the sending number's webhook as Twilio posts an incoming text.
[[reply]]
match = "*23"
body = "STOP"
delay = 0

[[reply]]
match = "*32"
body = "Please stop texting me!"
delay = 0

[[reply]]
match = "*64"
body = "help"
delay = 0
"""
FOLLOW_UP_CAMPAIGN = VOICE_CAMPAIGN.replace('"spring-calls"', '"spring-follow-up"')


@dataclass
class Leads:
    """The generated lead file and the leads the demo blocks one way or another."""

    rows: list[dict[str, str]] = field(default_factory=list)
    company_dnc: list[str] = field(default_factory=list)  # numbers as the DNC upload has them
    company_dnt: list[str] = field(default_factory=list)
    lead_dnc: dict[str, str] = field(default_factory=dict)  # external id -> channels


def messy(rng: random.Random, area: str, line: str, avoid: str = "") -> str:
    """One number written in a random format (not `avoid`)."""
    while True:
        text = rng.choice(FORMATS).format(a=area, x="555", n=line)
        if text != avoid:
            return text


def generate_leads(rng: random.Random) -> Leads:
    """2,000 leads over the US zones, messy numbers, a few invalid, some already blocked."""
    pool = [
        (state, area, f"{line:04d}")
        for state, areas in AREA_CODES.items()
        for area in areas
        for line in range(100, 200)
    ]
    picked = rng.sample(pool, LEAD_COUNT - len(INVALID_PHONES))
    generated = Leads()
    for index, (home, area, line) in enumerate(picked):
        roll = rng.random()
        # Most leads live where their number is from; some moved, some gave no address.
        state = home if roll < 0.85 else "" if roll < 0.93 else rng.choice(list(AREA_CODES))
        zone = STATE_ZONE[state] if state and rng.random() < 0.1 else ""
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        phone = messy(rng, area, line)
        generated.rows.append(
            {
                "External ID": f"L{index + 1:04d}",
                "First Name": first,
                "Last Name": last,
                "Phone": phone,
                "Email": f"{first}.{last}{index}@example.com".lower() if roll < 0.7 else "",
                "State": state,
                "Postal Code": "",
                "Timezone": zone,
            }
        )
        # Some leads are already on a company list, uploaded in another format.
        if roll > 0.97:
            generated.company_dnc.append(messy(rng, area, line, avoid=phone))
        elif roll < 0.015:
            generated.company_dnt.append(messy(rng, area, line, avoid=phone))
    for index, phone in enumerate(INVALID_PHONES, start=len(picked) + 1):
        generated.rows.append(
            {
                "External ID": f"L{index:04d}",
                "First Name": "Bad",
                "Last Name": "Number",
                "Phone": phone,
                "Email": "",
                "State": "",
                "Postal Code": "",
                "Timezone": "",
            }
        )
    # Three leads asked, in person, not to be called or texted on this number.
    generated.lead_dnc = {"L0003": "phone", "L0004": "sms", "L0005": "phone,sms"}
    return generated


def write_inputs(generated: Leads) -> dict[str, Path]:
    """Every file the demo's commands read, under var/demo/."""
    paths = {
        name: DEMO_DIR / file
        for name, file in (
            ("leads", "leads.csv"),
            ("dnc", "dnc-upload.csv"),
            ("dnt", "dnt-upload.csv"),
            ("voice", "spring-calls.toml"),
            ("sms", "spring-texts.toml"),
            ("follow-up", "spring-follow-up.toml"),
            ("scenario", "scenario.toml"),
            ("skips", "skips.csv"),
            ("inbound", "inbound.json"),
            ("follow-up-skips", "follow-up-skips.json"),
            ("token", "api-token.json"),
        )
    }
    with paths["leads"].open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(generated.rows[0]))
        writer.writeheader()
        writer.writerows(generated.rows)
    dnc_rows = "".join(f'"{number}",lead,from the old CRM\n' for number in generated.company_dnc)
    paths["dnc"].write_text(DNC_UPLOAD_HEAD + dnc_rows, encoding="utf-8")
    dnt_rows = "".join(f'"{number}"\n' for number in generated.company_dnt)
    paths["dnt"].write_text("Do not text\n" + dnt_rows, encoding="utf-8")
    paths["voice"].write_text(VOICE_CAMPAIGN, encoding="utf-8")
    paths["sms"].write_text(SMS_CAMPAIGN, encoding="utf-8")
    paths["follow-up"].write_text(FOLLOW_UP_CAMPAIGN, encoding="utf-8")
    paths["scenario"].write_text(SCENARIO, encoding="utf-8")
    return paths


def section(title: str, story: str) -> None:
    print(f"\n{'=' * 78}\n== {title}\n{'=' * 78}\n{story}", flush=True)


def dialer(*args: str, output: Path | None = None) -> int:
    """Run one `dialer` command as a user would, echoing it first.

    The commands run in this process (the real CLI, as `dialer` would run them), which
    spares each one the second of start-up a new interpreter costs.
    """
    redirect = f" > {output}" if output else ""
    print(f"\n$ dialer {shlex.join(args)}{redirect}", flush=True)
    started = time.perf_counter()
    target = output.open("w", encoding="utf-8") if output else nullcontext(sys.stdout)
    with target as stream, redirect_stdout(stream):
        code = _invoke(list(args))
    took = time.perf_counter() - started
    if code:
        print(f"(exit code {code})", flush=True)
    if took >= SLOW_STEP:
        print(f"({took:.1f} s)", flush=True)
    return code


def _invoke(args: list[str]) -> int:
    try:
        cli.main.main(args=args, prog_name="dialer", standalone_mode=False)
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except click.exceptions.Exit as done:
        return done.exit_code
    return 0


def must(*args: str, output: Path | None = None) -> None:
    """A step the story needs: stop the demo if it fails."""
    if dialer(*args, output=output):
        sys.exit(f"demo step failed: dialer {shlex.join(args)}")


def refused(*args: str) -> None:
    """A step that must be refused (exit code 1)."""
    if dialer(*args) != 1:
        sys.exit(f"demo step should have been refused: dialer {shlex.join(args)}")


def main() -> None:
    started = time.perf_counter()
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    home = DEMO_DIR.absolute()
    for stale in DEMO_DIR.glob("dialer.db*"):
        stale.unlink()
    generated = generate_leads(random.Random(SEED))
    paths = write_inputs(generated)
    # The demo's data folder holds its database; nothing the user set may point elsewhere.
    overridden = [name for name in OTHER_DATABASE if os.environ.pop(name, None) is not None]
    os.environ.update(
        DIALER_HOME=str(home),
        DIALER_LOG_FORMAT="console",
        # The engine logs one event per skipped attempt; the skip log below has them all.
        DIALER_LOG_LEVEL="WARNING",
    )

    section(
        "1. Company, users and the Do-Not-Call lists",
        "A fresh database and a manager who may take numbers off the lists. She uploads the\n"
        "company's messy DNC list (some rows are leads, written differently than in the lead\n"
        "file) and a Do-Not-Text list. A removal also needs a reason, or it is refused.",
    )
    must("init")
    must("users", "add", "ana", "--role", "manager", "--can-remove-dnc")
    must("dnc", "import", str(paths["dnc"]), "--by", "ana")
    must("dnc", "import", str(paths["dnt"]), "--list", "dnt", "--by", "ana")
    listed_dnc, listed_dnt = generated.company_dnc[0], generated.company_dnt[0]
    must("dnc", "check", listed_dnc, listed_dnt, "808.555.0150", "--channel", "sms")
    refused("dnc", "remove", listed_dnc, "--by", "ana", "--reason", "")

    section(
        f"2. {LEAD_COUNT:,} leads across the US time zones",
        "Numbers from New York to Honolulu, including split area codes (850, 208, 219) and\n"
        "El Paso (915); typed every which way (+1, dots, Excel's .0); a few beyond saving.\n"
        "Three leads then block a channel of their own.",
    )
    must("leads", "import", str(paths["leads"]), "--list", "spring")
    for lead, channels in generated.lead_dnc.items():
        must("leads", "dnc", lead, "--channels", channels, "--reason", "asked", "--by", "ana")

    section(
        "3. A voice campaign, then a text campaign, on a simulated clock",
        f"Both start at {START} (08:00 in New York, before anyone's window opens) and run\n"
        "until no lead can be attempted, jumping the clock over waits. Every attempt is\n"
        "screened right before it is placed; callers pressing 9 go on the company dnc list,\n"
        "which the text campaign then respects.",
    )
    must("campaign", "create", "--from", str(paths["voice"]))
    must("campaign", "create", "--from", str(paths["sms"]))
    for name in ("spring-calls", "spring-texts"):
        must(
            "campaign", "run", name, "--until-done", "--sim-clock", START,
            "--scenario", str(paths["scenario"]),
        )  # fmt: skip

    section(
        "4. Reports and the skip log",
        "What each campaign did, and every attempt the gate refused with every failing rule.",
    )
    must("report", "spring-calls")
    must("report", "spring-texts")
    must("skips", "--all", "--format", "csv", output=paths["skips"])
    with paths["skips"].open(newline="", encoding="utf-8") as file:
        rows = sum(1 for _ in csv.reader(file)) - 1
    print(f"Skip log: {paths['skips']} ({rows:,} skipped attempts)")

    section(
        "5. Replies to the texts",
        "Some people answered. STOP puts the number on the company dnc list (a revocation by\n"
        "text covers calls too: FCC 24-24) and is confirmed once; 'please stop texting me'\n"
        "is honoured the same way and waits for a person's review; HELP gets the help text.",
    )
    must("inbound", "list", "--limit", "6")
    must("inbound", "list", "--all", "--json", output=paths["inbound"])
    opted_out = opt_outs(paths["inbound"])
    stop, presumed = opted_out["opt_out"][0], opted_out["opt_out_presumed"][0]
    must("dnc", "check", stop["from"], presumed["from"])
    must("inbound", "review")
    must(
        "inbound", "resolve", str(presumed["id"]), "--keep", "--by", "ana",
        "--reason", "a clear revocation",
    )  # fmt: skip

    section(
        "6. The next campaign",
        "A follow-up call campaign on the same leads: every number that opted out by text is\n"
        "screened out (COMPANY_DNC) and never dialed.",
    )
    must("campaign", "create", "--from", str(paths["follow-up"]))
    must(
        "campaign", "run", "spring-follow-up", "--until-done", "--sim-clock", START,
        "--scenario", str(paths["scenario"]),
    )  # fmt: skip
    must(
        "skips", "--campaign", "spring-follow-up", "--all", "--format", "json",
        output=paths["follow-up-skips"],
    )  # fmt: skip
    senders = {m["from"] for messages in opted_out.values() for m in messages}
    skipped = listed_numbers(paths["follow-up-skips"])
    if not senders <= skipped:
        sys.exit(f"demo: the follow-up campaign did not skip {sorted(senders - skipped)}")
    print(
        f"spring-follow-up skipped all {len(senders)} numbers that opted out by text "
        f"(COMPANY_DNC), e.g. {', '.join(sorted(senders)[:3])}."
    )

    section(
        "7. The REST API",
        "`dialer serve` answers a JSON API on the webhook port; an admin's token opens it.\n"
        "The token is printed once: only a hash of its secret is kept.",
    )
    must("users", "add", "root", "--role", "admin")
    must("tokens", "create", "--user", "root", "--label", "demo", "--json", output=paths["token"])
    token = json.loads(paths["token"].read_text(encoding="utf-8"))["token"]
    must("tokens", "list")

    print(f"\nDatabase: {home / 'dialer.db'}   Inputs: {DEMO_DIR}/")
    print(f"Demo finished in {time.perf_counter() - started:.1f} s.")
    print(
        "\nLook at the demo's data with the CLI, from this folder\n"
        "(`source .venv/bin/activate` puts `dialer` on the PATH):"
    )
    for args in (
        ("report", "spring-calls"),
        ("skips", "--campaign", "spring-texts"),
        ("inbound", "list"),
    ):
        print(f"  {cli_command(home, *args)}")
    print("\nReach the API: run the first command, then the second in another shell:")
    print(f"  {cli_command(home, 'serve')}")
    api = f"http://{Settings().webhook_host}:{Settings().webhook_port}/api/v1/me"
    print(f"  curl -H 'Authorization: Bearer {token}' {api}")
    if overridden:
        print(f"  (with {' and '.join(overridden)} unset, as the demo ran)")


def opt_outs(inbound: Path) -> dict[str, list[dict[str, Any]]]:
    """The opt-outs in an `inbound list --json` file, by class, oldest first."""
    messages = json.loads(inbound.read_text(encoding="utf-8"))
    found = {
        kind: [m for m in messages if m["classification"] == kind]
        for kind in ("opt_out", "opt_out_presumed")
    }
    if not all(found.values()):
        sys.exit(f"demo: the scripted replies brought no {' or '.join(found)} ({inbound})")
    return found


def listed_numbers(skip_log: Path) -> set[str]:
    """The numbers a `skips --format json` file skipped because of the company dnc list."""
    rows = json.loads(skip_log.read_text(encoding="utf-8"))
    return {row["number"] for row in rows if "COMPANY_DNC" in row["reasons"]}


def cli_command(home: Path, *args: str) -> str:
    """The shell command running `dialer ARGS` on the database in `home`, from this folder."""
    script = Path(sys.executable).parent / "dialer"
    program = [script] if script.exists() else [Path(sys.executable), "-m", "dialer"]
    shown = [str(_from_here(part)) if isinstance(part, Path) else part for part in program]
    return f"DIALER_HOME={shlex.quote(str(home))} {shlex.join([*shown, *args])}"


def _from_here(path: Path) -> Path:
    """`path` relative to the working folder when it is inside it, else as it is."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


if __name__ == "__main__":
    main()
