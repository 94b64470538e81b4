"""The Spam list on both backends: numbers whose inbound texts the company ignores.

It is audited like the DNC lists, and blocks nothing outbound: a listed number is screened
as any other.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable

import pytest
from click.testing import Result
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from compliance import (
    Attempt,
    Channel,
    Company,
    RemovalRefused,
    accounts,
    load_rules,
    registry,
    screen,
    spam,
)
from tests.support import NOW
from tests.test_actors import snapshot

A = "+13055550134"
B = "+12125550100"
NEW_YORK_NOON = "2026-03-10T12:00-04:00"

Invoke = Callable[..., Result]


async def add(engine: AsyncEngine, company: Company, numbers, reason="robot replies"):
    async with engine.begin() as conn:
        return await spam.add_numbers(conn, company, numbers, reason=reason, actor="ana", now=NOW)


async def remove(engine: AsyncEngine, company: Company, numbers, reason="a real customer"):
    async with engine.begin() as conn:
        return await spam.remove_numbers(
            conn, company, numbers, reason=reason, actor="ana", now=NOW
        )


async def listed(engine: AsyncEngine, company: Company, numbers=(A, B)) -> set[str]:
    async with engine.connect() as conn:
        return await spam.is_spam(conn, company, list(numbers))


async def trail(engine: AsyncEngine, company: Company) -> list[tuple[str, str, str, str]]:
    async with engine.connect() as conn:
        page = await spam.events(conn, company)
        return [(e.action, e.number, e.actor, e.reason) async for e in page.rows]


# --- storage -------------------------------------------------------------------------------


async def test_numbers_are_added_once_and_removed_with_a_reason_every_change_audited(
    engine, company
):
    assert await add(engine, company, [A, B]) == [B, A]
    assert await add(engine, company, [A]) == []
    assert await listed(engine, company) == {A, B}

    assert await remove(engine, company, [A]) == [A]
    assert await remove(engine, company, [A]) == []

    assert await listed(engine, company) == {B}
    assert await trail(engine, company) == [
        ("add", B, "ana", "robot replies"),
        ("add", A, "ana", "robot replies"),
        ("remove", A, "ana", "a real customer"),
    ]


async def test_a_removal_without_a_reason_is_refused_and_changes_nothing(engine, company):
    await add(engine, company, [A])

    with pytest.raises(RemovalRefused, match="reason is required"):
        await remove(engine, company, [A], reason="  ")

    assert await listed(engine, company) == {A}
    assert [action for action, *_ in await trail(engine, company)] == ["add"]


async def test_is_spam_asks_one_query_for_a_batch(engine, company):
    numbers = [f"+1305555{i:04d}" for i in range(2_000)]
    await add(engine, company, numbers[::7])
    statements = []

    def record(*args):
        statements.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        found = await listed(engine, company, numbers)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)

    assert found == set(numbers[::7])
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1


async def test_the_list_streams_in_the_order_numbers_were_added(engine, company):
    await add(engine, company, [B])
    async with engine.begin() as conn:
        await spam.add_numbers(conn, company, [A], reason="", actor="cli", now=NOW.replace(hour=16))

    async with engine.connect() as conn:
        every = await spam.entries(conn, company)
        last = await spam.entries(conn, company, limit=1)
        assert [(e.number, e.added_by) async for e in every.rows] == [(B, "ana"), (A, "cli")]
        assert [e.number async for e in last.rows] == [A]
    assert (every.more, last.more) == (False, True)


async def test_companies_see_and_change_only_their_own_list(engine, company):
    async with engine.begin() as conn:
        other, _ = await accounts.ensure_company(conn, "globex", NOW)
    await add(engine, company, [A])

    assert await listed(engine, other) == set()
    assert await remove(engine, other, [A]) == []
    assert await trail(engine, other) == []
    assert await listed(engine, company) == {A}


@pytest.mark.parametrize(
    "statement", ["UPDATE spam_events SET reason = 'x'", "DELETE FROM spam_events"]
)
async def test_the_audit_trail_is_append_only(engine, company, statement):
    await add(engine, company, [A])

    with pytest.raises(DBAPIError, match="append-only"):
        async with engine.begin() as conn:
            await conn.execute(text(statement))
    assert len(await trail(engine, company)) == 1


async def test_a_spam_listed_number_is_still_allowed_on_every_channel(engine, company):
    await add(engine, company, [A])
    noon = NOW.replace(hour=16)  # 12:00 in Florida

    async with engine.begin() as conn:
        decisions = await screen(
            conn, company, [Attempt(A, Channel.VOICE), Attempt(A, Channel.SMS)], noon, load_rules()
        )
        for channel in (Channel.VOICE, Channel.SMS):
            assert await registry.blocked(conn, company, [A], channel, noon) == {}
        assert await registry.listings(conn, company, [A], noon) == {}

    assert [(d.allowed, d.reasons) for d in decisions] == [(True, ()), (True, ())]
    assert await listed(engine, company) == {A}


# --- the command line ----------------------------------------------------------------------


def as_json(result: Result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_add_list_remove_and_log(dialer: Invoke):
    dialer("users", "add", "max", "--role", "manager")

    added = dialer("spam", "add", "(305) 555-0134", "--reason", "robot replies", "--by", "max")
    again = dialer("spam", "add", "305.555.0134", "212-555-0100", "--json")
    listing = as_json(dialer("spam", "list", "--json"))
    table = dialer("spam", "list")
    removed = dialer("spam", "remove", "305-555-0134", "--reason", "a customer", "--by", "max")

    assert added.stdout == "Added 1 number to the Spam list; 0 numbers already on it.\n"
    assert as_json(again) == {"added": [B], "already_listed": [A]}
    assert [(e["number"], e["reason"], e["added_by"]) for e in listing] == [
        (A, "robot replies", "max"),
        (B, "", "cli"),
    ]
    assert "robot replies" in table.stdout
    assert removed.stdout == "Removed 1 number from the Spam list; 0 numbers not on it.\n"
    assert as_json(dialer("spam", "remove", A, B, "--reason", "x", "--json")) == {
        "removed": [B],
        "not_listed": [A],
    }
    assert dialer("spam", "list").stdout == "The Spam list is empty.\n"
    log = as_json(dialer("spam", "log", "--number", "305 555 0134", "--json"))
    assert [(e["action"], e["number"], e["actor"], e["reason"]) for e in log] == [
        ("add", A, "max", "robot replies"),
        ("remove", A, "max", "a customer"),
    ]
    assert "a customer" in dialer("spam", "log").stdout


def test_list_shows_the_newest_numbers_unless_told_otherwise(dialer: Invoke):
    for number in ("305-555-0101", "305-555-0102", "305-555-0103"):
        dialer("spam", "add", number)

    newest = dialer("spam", "list", "--limit", "2", "--json")
    every = dialer("spam", "list", "--all", "--json")
    both = dialer("spam", "list", "--limit", "2", "--all")

    assert [e["number"] for e in as_json(newest)] == ["+13055550102", "+13055550103"]
    assert "Showing the newest 2 numbers" in newest.stderr
    assert len(as_json(every)) == 3
    assert every.stderr == ""
    assert both.exit_code == 2


@pytest.mark.parametrize(
    "args",
    [
        ("spam", "add", "305-555-0134", "555-0134"),
        ("spam", "remove", "305-555-0135", "555-0134", "--reason", "a customer"),
        ("spam", "remove", "305-555-0135", "--reason", " "),
        ("spam", "add", "305-555-0134", "--by", "vic"),
        ("spam", "add", "305-555-0134", "--by", "nobody"),
        ("spam", "remove", "305-555-0135", "--reason", "a customer", "--by", "vic"),
    ],
)
def test_refused_changes_exit_1_with_a_clear_error_and_change_nothing(
    dialer: Invoke, database_url: str, args
):
    dialer("users", "add", "vic", "--role", "viewer")
    dialer("spam", "add", "305-555-0135")
    before = snapshot(database_url)

    refused = dialer(*args)

    assert refused.exit_code == 1
    assert refused.stderr.startswith("Error: ")
    assert "Traceback" not in refused.output
    assert snapshot(database_url) == before


def test_a_manager_without_can_remove_dnc_may_remove_but_needs_a_reason(dialer: Invoke):
    dialer("users", "add", "max", "--role", "manager")
    dialer("spam", "add", "305-555-0134")

    blank = dialer("spam", "remove", "305-555-0134", "--by", "max", "--reason", " ")
    missing = dialer("spam", "remove", "305-555-0134", "--by", "max")
    removed = dialer("spam", "remove", "305-555-0134", "--by", "max", "--reason", "a customer")

    assert (blank.exit_code, missing.exit_code, removed.exit_code) == (1, 2, 0)
    assert "a reason is required" in blank.stderr
    assert "can_remove_dnc" in dialer("spam", "remove", "--help").stdout


def test_the_spam_list_blocks_nothing_outbound(dialer: Invoke):
    dialer("spam", "add", "305-555-0134", "--reason", "robot replies")

    for channel in ("voice", "sms"):
        checked = dialer("check", "305-555-0134", "--channel", channel, "--at", NEW_YORK_NOON)
        looked_up = as_json(dialer("dnc", "check", "305-555-0134", "--channel", channel, "--json"))
        assert checked.exit_code == 0, checked.output
        assert checked.stdout.startswith("Allowed")
        assert (looked_up[0]["blocked"], looked_up[0]["lists"]) == (False, [])
    exported = list(csv.DictReader(io.StringIO(dialer("dnc", "export").stdout)))
    assert exported == []
    assert dialer("dnc", "log").stdout == "No events.\n"


def test_every_spam_change_is_a_json_log_event(tmp_path):
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
    added = dialer("spam", "add", "305-555-0134", "--reason", "robot replies")
    events = [json.loads(line) for line in added.stderr.splitlines()]

    assert added.returncode == 0
    assert [{k: v for k, v in e.items() if k != "timestamp"} for e in events] == [
        {
            "event": "spam.added",
            "company": "default",
            "number": A,
            "reason": "robot replies",
            "by": "cli",
            "level": "info",
        }
    ]
