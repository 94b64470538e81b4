"""`dialer inbound` on both backends: listing the inbound texts, the review queue, and keeping
or releasing a presumed opt-out. A release takes off the lists only the entry its own message
added, audited with the reviewer; every refusal changes nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from alembic import command
from alembic.config import Config
from click.testing import Result
from sqlalchemy import Connection, inspect, select, text
from structlog.testing import capture_logs

from campaigns import inbound
from campaigns.inbound import InboundText
from campaigns.keywords import load_keyword_actions
from campaigns.tables import inbound_messages
from compliance import accounts
from compliance.numbers import add_sending_numbers
from compliance.tables import dnc_entries
from dialer.app import open_app
from dialer.database import MIGRATIONS
from dialer.settings import Settings
from tests.support import NOW
from tests.test_actors import snapshot

Invoke = Callable[..., Result]

OURS = "+13055550100"  # the default company's sending number
THEIRS = "+13055550177"  # globex's
NOBODYS = "+13055550199"
SENDER = "+13055550142"
PRESUMED = "please stop texting me"
HOUR = timedelta(hours=1)


async def _receive(url: str, body: str, sender: str, to: str, at) -> int:
    async with (
        open_app(Settings(database_url=url, log_level="WARNING")) as app,
        app.transaction() as conn,
    ):
        text = InboundText(f"SM{uuid.uuid4().hex}", sender, to, body)
        received = await inbound.receive(conn, text, at, load_keyword_actions())
    return received.id


def receive(url: str, body: str, *, sender: str = SENDER, to: str = OURS, at=NOW) -> int:
    """Post `body` as the carrier would, through campaigns.inbound.receive; its id."""
    return asyncio.run(_receive(url, body, sender, to, at))


async def _setup(url: str) -> None:
    async with (
        open_app(Settings(database_url=url, log_level="WARNING")) as app,
        app.transaction() as conn,
    ):
        ours = await accounts.find_company(conn, "default")
        await add_sending_numbers(conn, ours, [OURS], NOW)
        globex, _ = await accounts.ensure_company(conn, "globex", NOW)
        await add_sending_numbers(conn, globex, [THEIRS], NOW)


@pytest.fixture
def staff(dialer: Invoke, database_url: str) -> Invoke:
    """The default company with its sending number and users, and a company 'globex'."""
    asyncio.run(_setup(database_url))
    for user, *options in (
        ("root", "--role", "admin"),
        ("mia", "--role", "manager", "--can-remove-dnc"),
        ("max", "--role", "manager"),
        ("vic", "--role", "viewer"),
    ):
        assert dialer("users", "add", user, *options).exit_code == 0
    return dialer


def as_json(result: Result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


async def _entries(url: str) -> list[tuple]:
    async with (
        open_app(Settings(database_url=url, log_level="WARNING")) as app,
        app.snapshot() as conn,
    ):
        query = select(dnc_entries.c.list_name, dnc_entries.c.source, dnc_entries.c.reason).where(
            dnc_entries.c.number == int(SENDER[1:])
        )
        return sorted(map(tuple, await conn.execute(query)))


def entries(url: str) -> list[tuple]:
    """The sender's entries on the company lists: (list, source, reason)."""
    return asyncio.run(_entries(url))


def listed(dialer: Invoke, *args: str) -> list[dict]:
    return as_json(dialer("inbound", "list", "--json", *args))


def reason_of(message: dict) -> str:
    return inbound.entry_reason(message["body"], message["message_sid"])


# --- listing -------------------------------------------------------------------------------


def test_list_shows_the_company_texts_with_their_fields_and_filters(
    staff: Invoke, database_url: str
):
    stop = receive(database_url, "STOP")
    help_ = receive(database_url, "HELP", sender="+13055550143", at=NOW + HOUR)
    presumed = receive(database_url, PRESUMED, sender="+13055550144", at=NOW + 2 * HOUR)

    every = listed(staff)
    opt_outs = listed(staff, "--classification", "opt_out")
    since = listed(staff, "--since", (NOW + HOUR).isoformat())
    newest = staff("inbound", "list", "--limit", "1", "--json")
    table = staff("inbound", "list")

    assert [m["id"] for m in every] == [stop, help_, presumed]
    first = every[0]
    assert first == {
        "id": stop,
        "message_sid": first["message_sid"],
        "received_at": NOW.isoformat(),
        "from": SENDER,
        "to": OURS,
        "body": "STOP",
        "classification": "opt_out",
        "keyword": "STOP",
        "spam": False,
        "action": "company_dnc added",
        "reply": first["reply"],
        "review": "none",
        "reviewed_by": None,
        "reviewed_at": None,
        "review_reason": None,
    }
    assert first["reply"]
    assert [(m["classification"], m["review"]) for m in every[1:]] == [
        ("help", "none"),
        ("opt_out_presumed", "pending"),
    ]
    assert [m["id"] for m in opt_outs] == [stop]
    assert [m["id"] for m in since] == [help_, presumed]
    assert [m["id"] for m in as_json(newest)] == [presumed]
    assert "Showing the newest 1 message;" in newest.stderr
    assert PRESUMED in table.stdout
    assert "opt_out_presumed" in table.stdout
    assert staff("inbound", "list", "--classification", "opt_in").stdout == (
        "No inbound messages.\n"
    )


def test_texts_no_company_owns_and_other_companies_texts_are_not_listed(
    staff: Invoke, database_url: str
):
    receive(database_url, PRESUMED, to=NOBODYS)
    receive(database_url, PRESUMED, to=THEIRS)

    assert staff("inbound", "list").stdout == "No inbound messages.\n"
    assert staff("inbound", "review").stdout == "No message waits for review.\n"
    assert [m["to"] for m in listed(staff, "--company", "globex")] == [THEIRS]


@pytest.mark.parametrize(
    "args",
    [
        ("--classification", "stop"),
        ("--since", "yesterday"),
        ("--since", "2026-03-10T12:00"),
        ("--limit", "0"),
    ],
)
def test_bad_listing_options_are_usage_errors(staff: Invoke, args):
    refused = staff("inbound", "list", *args)

    assert refused.exit_code == 2
    assert "Traceback" not in refused.output


def test_review_shows_only_the_messages_waiting_oldest_first(staff: Invoke, database_url: str):
    receive(database_url, "STOP")
    later = receive(database_url, PRESUMED, sender="+13055550143", at=NOW + 2 * HOUR)
    earlier = receive(database_url, "dont stop", sender="+13055550144", at=NOW + HOUR)
    receive(database_url, "HELP", sender="+13055550145", at=NOW + 3 * HOUR)

    queue = as_json(staff("inbound", "review", "--json"))
    table = staff("inbound", "review")

    assert [(m["id"], m["review"]) for m in queue] == [(earlier, "pending"), (later, "pending")]
    assert queue[0]["classification"] == "other"
    assert queue[1] == listed(staff, "--classification", "opt_out_presumed")[0]
    assert "dont stop" in table.stdout
    assert "STOP " not in table.stdout


# --- resolving -----------------------------------------------------------------------------


def test_keep_records_who_when_and_why_and_the_entry_stays(staff: Invoke, database_url: str):
    message = receive(database_url, PRESUMED)
    listed_before = entries(database_url)
    log_before = as_json(staff("dnc", "log", "--json"))

    kept = staff(
        "inbound", "resolve", str(message), "--keep", "--by", "max", "--reason", "meant it"
    )

    assert kept.exit_code == 0, kept.output
    assert kept.stdout == f"Kept message {message} from {SENDER}: its list entries stay.\n"
    [stored] = listed(staff)
    assert (stored["review"], stored["reviewed_by"], stored["review_reason"]) == (
        "kept",
        "max",
        "meant it",
    )
    assert stored["reviewed_at"]
    assert listed_before == [("dnc", "sms_keyword", reason_of(stored))]
    assert entries(database_url) == listed_before
    assert as_json(staff("dnc", "log", "--json")) == log_before
    assert as_json(staff("inbound", "review", "--json")) == []


def test_release_removes_the_entry_the_message_added_and_audits_it(
    staff: Invoke, database_url: str
):
    message = receive(database_url, PRESUMED)
    assert entries(database_url)

    released = staff(
        "inbound", "resolve", str(message), "--release", "--by", "mia", "--reason", "a question"
    )

    assert released.exit_code == 0, released.output
    assert released.stdout == f"Released message {message}: {SENDER} removed from dnc.\n"
    assert entries(database_url) == []
    last = as_json(staff("dnc", "log", "--json"))[-1]
    assert (last["action"], last["number"], last["actor"], last["reason"]) == (
        "remove",
        SENDER,
        "mia",
        "a question",
    )
    [stored] = listed(staff)
    assert (stored["review"], stored["reviewed_by"], stored["review_reason"]) == (
        "released",
        "mia",
        "a question",
    )
    assert as_json(staff("inbound", "review", "--json")) == []


def test_release_json_names_the_lists_it_removed_the_sender_from(staff: Invoke, database_url: str):
    message = receive(database_url, PRESUMED)

    released = as_json(
        staff(
            *("inbound", "resolve", str(message), "--release"),
            *("--by", "root", "--reason", "a question", "--json"),
        )
    )

    assert released["removed_from"] == ["dnc"]
    assert (released["message"]["id"], released["message"]["review"]) == (message, "released")


def _stop_first(staff: Invoke, url: str) -> None:
    receive(url, "STOP", at=NOW - HOUR)


def _added_by_hand(staff: Invoke, url: str) -> None:
    assert staff("dnc", "add", SENDER, "--reason", "asked on the phone").exit_code == 0


@pytest.mark.parametrize("earlier", [_stop_first, _added_by_hand])
def test_release_leaves_an_entry_another_message_or_source_added(
    staff: Invoke, database_url: str, earlier
):
    earlier(staff, database_url)
    listed_before = entries(database_url)
    message = receive(database_url, PRESUMED)
    log_before = as_json(staff("dnc", "log", "--json"))

    released = staff(
        "inbound", "resolve", str(message), "--release", "--by", "mia", "--reason", "a question"
    )

    assert released.exit_code == 0, released.output
    assert "nothing removed" in released.stdout
    assert len(listed_before) == 1
    assert entries(database_url) == listed_before
    assert as_json(staff("dnc", "log", "--json")) == log_before
    assert listed(staff)[-1]["review"] == "released"


def test_release_leaves_the_entry_that_replaced_the_message_entry(staff: Invoke, database_url: str):
    message = receive(database_url, PRESUMED)
    staff("dnc", "remove", SENDER, "--by", "root", "--reason", "called back")
    staff("dnc", "add", SENDER, "--reason", "asked again on the phone")

    released = staff(
        "inbound", "resolve", str(message), "--release", "--by", "mia", "--reason", "a question"
    )

    assert released.exit_code == 0, released.output
    assert "nothing removed" in released.stdout
    assert entries(database_url) == [("dnc", "manual", "asked again on the phone")]


async def test_each_decision_is_logged(database_url, company):
    logged, ids = [], []
    async with open_app(Settings(database_url=database_url, log_level="INFO")) as app:
        async with app.transaction() as conn:
            await add_sending_numbers(conn, company, [OURS], NOW)
        for sender, release in ((SENDER, False), ("+13055550143", True)):
            async with app.transaction() as conn:
                text = InboundText(f"SM{uuid.uuid4().hex}", sender, OURS, PRESUMED)
                received = await inbound.receive(conn, text, NOW, load_keyword_actions())
                with capture_logs() as logs:
                    await inbound.resolve_review(
                        conn, company, received.id, release=release, by="mia", reason="why", now=NOW
                    )
            ids.append(received.id)
            logged += [
                tuple(entry[key] for key in ("event", "message_id", "by", "reason", "removed_from"))
                for entry in logs
                if entry["event"].startswith("inbound.")
            ]

    assert logged == [
        ("inbound.kept", ids[0], "mia", "why", []),
        ("inbound.released", ids[1], "mia", "why", ["dnc"]),
    ]


# --- refusals ------------------------------------------------------------------------------


@pytest.fixture
def messages(staff: Invoke, database_url: str) -> dict[str, int]:
    """A pending message, one already kept, one that needs no review, and globex's."""
    ids = {
        "pending": receive(database_url, PRESUMED),
        "kept": receive(database_url, PRESUMED, sender="+13055550143"),
        "stop": receive(database_url, "STOP", sender="+13055550144"),
        "globex": receive(database_url, PRESUMED, to=THEIRS),
    }
    kept = staff("inbound", "resolve", str(ids["kept"]), "--keep", "--by", "max", "--reason", "ok")
    assert kept.exit_code == 0, kept.output
    return ids


REFUSALS = [
    ("999", ("--keep", "--by", "max", "--reason", "x"), 1, "no inbound message 999"),
    ("globex", ("--keep", "--by", "max", "--reason", "x"), 1, "no inbound message"),
    ("globex", ("--release", "--by", "root", "--reason", "x"), 1, "no inbound message"),
    (
        "kept",
        ("--release", "--by", "root", "--reason", "x"),
        1,
        "is not waiting for review (kept by max at ",
    ),
    ("stop", ("--keep", "--by", "max", "--reason", "x"), 1, "is not waiting for review"),
    (
        "pending",
        ("--release", "--by", "max", "--reason", "x"),
        1,
        "max (manager) lacks the can_remove_dnc permission",
    ),
    ("pending", ("--keep", "--by", "vic", "--reason", "x"), 1, "vic (viewer) may not"),
    ("pending", ("--keep", "--by", "nobody", "--reason", "x"), 1, "no user named 'nobody'"),
    ("pending", ("--keep", "--by", "max", "--reason", "  "), 1, "give the reason"),
    ("pending", ("--keep", "--release", "--by", "root", "--reason", "x"), 2, "exactly one"),
    ("pending", ("--by", "root", "--reason", "x"), 2, "exactly one"),
    ("pending", ("--keep", "--by", "max"), 2, "--reason"),
    ("pending", ("--keep", "--reason", "x"), 2, "--by"),
    ("0", ("--keep", "--by", "max", "--reason", "x"), 2, "MESSAGE_ID"),
]


@pytest.mark.parametrize(("which", "args", "code", "message"), REFUSALS)
def test_refused_decisions_say_why_and_change_nothing(
    staff: Invoke, database_url: str, messages: dict[str, int], which, args, code, message
):
    before = snapshot(database_url)

    refused = staff("inbound", "resolve", str(messages.get(which, which)), *args)

    assert refused.exit_code == code, refused.output
    assert message in refused.stderr
    assert "Traceback" not in refused.output
    assert snapshot(database_url) == before


# --- the migration -------------------------------------------------------------------------


def _migrate(connection: Connection, revision: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(config, revision)


def _columns(connection: Connection) -> set[str]:
    return {column["name"] for column in inspect(connection).get_columns("inbound_messages")}


async def test_the_migration_adds_the_review_columns_and_keeps_stored_messages(engine):
    async with engine.connect() as conn:
        transaction = await conn.begin()
        try:
            await conn.run_sync(_migrate, "0014", down=True)
            await conn.execute(
                text(
                    "INSERT INTO inbound_messages (message_sid, from_number, to_number, body, "
                    "received_at, classification, review) VALUES "
                    "('SM1', 13055550142, 13055550100, 'remove me', CURRENT_TIMESTAMP, "
                    "'opt_out_presumed', 'pending')"
                )
            )
            await conn.run_sync(_migrate, "head")
            [stored] = (await conn.execute(select(inbound_messages))).all()
            await conn.run_sync(_migrate, "0014", down=True)
            undone = await conn.run_sync(_columns)
        finally:
            await transaction.rollback()

    assert (stored.body, stored.review) == ("remove me", "pending")
    assert (stored.reviewed_by, stored.reviewed_at, stored.review_reason) == (None, None, None)
    assert {"reviewed_by", "reviewed_at", "review_reason"}.isdisjoint(undone)
