"""One call's story in the logs: every event about an attempt carries node, company,
campaign, attempt_id and lead_id, and no other attempt's, read from the JSON lines of a
real `dialer campaign run` on the simulated carrier, on both databases."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter

from sqlalchemy import select

from campaigns.tables import skips
from compliance.tables import attempts
from tests.test_engine import prepare, rows

OPTS_OUT = "+13055550101"  # answers and presses 9: its status adds it to the DNC list
LISTED = "+12125550104"  # put on the company's DNC list by `prepare`: skipped, never attempted
NO_ANSWER = [f"+1212555{n:04d}" for n in range(110, 120)]  # tried three times each
LEADS = "phone,state\n" + "".join(f"{n},NY\n" for n in [OPTS_OUT, LISTED, *NO_ANSWER])
SCENARIO = f"""
seed = 7
default = {{ no-answer = 1.0 }}
[[outcome]]
match = "{OPTS_OUT}"
result = "answered"
digits = "9"
"""
ATTEMPT_KEYS = ("node", "company", "campaign", "attempt_id", "lead_id")


async def run_logged(app, company, database_url, tmp_path) -> list[dict]:
    """The events `dialer campaign run spring` logs as JSON lines, every one parsed."""
    await prepare(app, company, tmp_path, LEADS)
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(SCENARIO)
    env = {
        **os.environ,
        "DIALER_DATABASE_URL": database_url,
        "DIALER_LOG_FORMAT": "json",
        "DIALER_LOG_LEVEL": "INFO",
    }
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "dialer", "campaign", "run", "spring", "--until-done"),
        *("--sim-clock", "2026-03-10T12:00Z", "--scenario", str(scenario), "--company", "acme"),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    return [json.loads(line) for line in stderr.decode().splitlines()]


async def test_every_event_of_an_attempt_carries_its_keys_and_tells_its_story(
    app, company, database_url, tmp_path
):
    events = await run_logged(app, company, database_url, tmp_path)

    made = await rows(app, select(attempts.c.id, attempts.c.lead_id, attempts.c.number))
    lead_of = {attempt_id: lead_id for attempt_id, lead_id, _ in made}
    (opt_out,) = [attempt_id for attempt_id, _, number in made if number == int(OPTS_OUT[1:])]
    (node,) = {node for (node,) in await rows(app, select(attempts.c.node))}
    about = [event for event in events if "attempt_id" in event]
    assert len(made) == 1 + 3 * len(NO_ANSWER)
    for event in about:
        assert all(event.get(key) is not None for key in ATTEMPT_KEYS), event
        # No attempt's events carry another's lead: the keys do not leak across a batch.
        assert event["lead_id"] == lead_of[event["attempt_id"]], event
        assert (event["node"], event["company"], event["campaign"]) == (node, "acme", "spring")
    told = Counter((event["attempt_id"], event["event"]) for event in about)
    for attempt_id in lead_of:
        assert told[attempt_id, "attempt.placed"] == told[attempt_id, "attempt.ended"] == 1
    story = [event["event"] for event in about if event["attempt_id"] == opt_out]
    assert story == ["attempt.placed", "dnc.added", "attempt.keypress", "attempt.ended"]
    added = [event for event in events if event["event"] == "dnc.added"]
    assert [(e["number"], e["attempt_id"]) for e in added] == [(OPTS_OUT, opt_out)]


async def test_a_skip_names_its_lead_campaign_and_node_but_no_attempt(
    app, company, database_url, tmp_path
):
    events = await run_logged(app, company, database_url, tmp_path)

    (node,) = {node for (node,) in await rows(app, select(attempts.c.node))}
    skipped = [event for event in events if event["event"] == "attempt.skipped"]
    logged = await rows(app, select(skips.c.lead_id, skips.c.number, skips.c.reason))
    assert sorted((e["lead_id"], e["number"], e["reason"]) for e in skipped) == sorted(logged)
    assert (LISTED, "COMPANY_DNC") in {(e["number"], e["reason"]) for e in skipped}
    for skip in skipped:
        assert "attempt_id" not in skip
        assert (skip["node"], skip["company"], skip["campaign"]) == (node, "acme", "spring")
