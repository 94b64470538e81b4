"""Who may change what: `--by USER` names a user of the company whose role allows the change.

A viewer changes nothing; a manager changes lists, leads, statuses, campaigns, blackouts and
dispositions; an admin also manages users; taking a number off a list needs an admin or a
manager with can_remove_dnc. A refused actor changes nothing. Without --by a change is the
local operator's, recorded as "cli".
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import select

from campaigns import DEFAULT_STATUSES_PATH, metadata
from compliance import NotPermitted, Permission, Role, User
from compliance.accounts import authorize
from dialer.database import create_engine

Invoke = Callable[..., Result]

ACTORS = ("root", "mia", "max", "vic", "nobody")
# Who may make each kind of change (root: admin, mia: manager with can_remove_dnc,
# max: manager, vic: viewer, nobody: no user of the company).
CHANGERS = {"root", "mia", "max"}
REMOVERS = {"root", "mia"}
USER_MANAGERS = {"root"}


async def _snapshot(url: str) -> dict[str, list[tuple]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return {
                table.name: sorted(map(tuple, await conn.execute(select(table))), key=repr)
                for table in metadata.sorted_tables
            }
    finally:
        await engine.dispose()


def snapshot(url: str) -> dict[str, list[tuple]]:
    """Every row of every table: what 'nothing changed' compares."""
    return asyncio.run(_snapshot(url))


@pytest.fixture
def staff(dialer: Invoke) -> Invoke:
    for user, *options in (
        ("root", "--role", "admin"),
        ("mia", "--role", "manager", "--can-remove-dnc"),
        ("max", "--role", "manager"),
        ("vic", "--role", "viewer"),
    ):
        assert dialer("users", "add", user, *options).exit_code == 0
    return dialer


def number_of(actor: str) -> str:
    """A number of each actor's own, so one actor's change does not hide another's."""
    return f"305-555-01{ACTORS.index(actor):02d}"


def _write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def commands(tmp_path: Path) -> dict[str, tuple[set[str], Callable[[str], list[str]]]]:
    """Each command naming its actor: who may run it, and its arguments for an actor."""
    dnc_file = _write(tmp_path / "dnc.csv", "phone\n212-555-0199\n")
    statuses = _write(tmp_path / "statuses.toml", DEFAULT_STATUSES_PATH.read_text())
    return {
        "dnc add": (CHANGERS, lambda by: ["dnc", "add", number_of(by)]),
        "dnc import": (CHANGERS, lambda by: ["dnc", "import", dnc_file]),
        "dnc remove": (
            REMOVERS,
            lambda by: ["dnc", "remove", "305-555-0199", "--reason", "consent"],
        ),
        "leads dnc": (CHANGERS, lambda by: ["leads", "dnc", "L1", "--channels", "phone"]),
        "statuses load": (CHANGERS, lambda by: ["statuses", "load", statuses]),
        "blackouts add": (
            CHANGERS,
            lambda by: [
                *("blackouts", "add", "--state", "LA", "--from", "2026-08-25T00:00Z"),
                *("--until", "2026-09-20T00:00Z", "--source", f"Proc. {by}"),
            ],
        ),
        "users add": (USER_MANAGERS, lambda by: ["users", "add", f"new-{by}", "--role", "viewer"]),
    }


COMMANDS = ("dnc add", "dnc import", "dnc remove", "leads dnc", "statuses load")
COMMANDS += ("blackouts add", "users add")


@pytest.mark.parametrize(
    ("role", "can_remove_dnc", "permitted"),
    [
        (Role.VIEWER, False, set()),
        (Role.MANAGER, False, {Permission.CHANGE}),
        (Role.MANAGER, True, {Permission.CHANGE, Permission.REMOVE}),
        (Role.ADMIN, False, set(Permission)),
    ],
)
def test_each_role_may_do_what_the_contract_says(role, can_remove_dnc, permitted) -> None:
    user = User("pat", role, can_remove_dnc)

    for permission in Permission:
        if permission in permitted:
            assert authorize(user, "pat", permission) == user
        else:
            with pytest.raises(NotPermitted, match=f"pat \\({role}\\)"):
                authorize(user, "pat", permission)


@pytest.mark.parametrize("command", COMMANDS)
def test_only_a_user_whose_role_allows_it_changes_anything(
    staff: Invoke, database_url: str, tmp_path: Path, command: str
) -> None:
    leads = _write(tmp_path / "leads.csv", "phone,external_id\n305-555-0150,L1\n")
    assert staff("leads", "import", leads).exit_code == 0
    assert staff("dnc", "add", "305-555-0199").exit_code == 0
    allowed, arguments = commands(tmp_path)[command]

    for actor in (a for a in ACTORS if a not in allowed):
        before = snapshot(database_url)
        refused = staff(*arguments(actor), "--by", actor)

        assert refused.exit_code == 1, (actor, refused.output)
        assert "refused" in refused.stderr
        assert actor in refused.stderr
        assert snapshot(database_url) == before, actor

    for actor in sorted(allowed):
        # The removal needs the number listed again after the previous permitted removal.
        staff("dnc", "add", "305-555-0199")
        done = staff(*arguments(actor), "--by", actor)
        assert done.exit_code == 0, (actor, done.output)


def test_refusals_name_the_user_the_role_and_the_change(staff: Invoke, tmp_path: Path) -> None:
    staff("dnc", "add", "305-555-0199")
    upload = _write(tmp_path / "dnc.csv", "phone\n212-555-0199\n")

    viewer = staff("dnc", "add", "305-555-0100", "--by", "vic")
    manager = staff("dnc", "remove", "305-555-0199", "--reason", "consent", "--by", "max")
    stranger = staff("dnc", "import", upload, "--by", "nobody")
    not_admin = staff("users", "add", "eve", "--role", "admin", "--by", "mia")

    assert "vic (viewer) may not change lists" in viewer.stderr
    assert "max (manager) lacks the can_remove_dnc permission" in manager.stderr
    assert "no user named 'nobody' in this company" in stranger.stderr
    assert "mia (manager) may not manage users" in not_admin.stderr


def test_the_actor_recorded_is_the_user_or_the_local_operator(staff: Invoke) -> None:
    assert staff("dnc", "add", "305-555-0100", "--by", "max").exit_code == 0
    assert staff("dnc", "add", "305-555-0101").exit_code == 0
    assert (
        staff("dnc", "remove", "305-555-0100", "--reason", "consent", "--by", "mia").exit_code == 0
    )

    log = json.loads(staff("dnc", "log", "--json").stdout)
    assert sorted((e["action"], e["number"], e["actor"]) for e in log) == [
        ("add", "+13055550100", "max"),
        ("add", "+13055550101", "cli"),
        ("remove", "+13055550100", "mia"),
    ]


def test_a_removal_still_needs_its_actor(staff: Invoke) -> None:
    staff("dnc", "add", "305-555-0199")

    assert staff("dnc", "remove", "305-555-0199", "--reason", "consent").exit_code == 2


def test_a_disposition_needs_a_manager_or_admin(staff: Invoke, database_url: str) -> None:
    before = snapshot(database_url)

    viewer = staff("interactions", "disposition", "1", "WRONG_NUMBER", "--by", "vic")
    stranger = staff("interactions", "disposition", "1", "WRONG_NUMBER", "--by", "nobody")
    manager = staff("interactions", "disposition", "1", "WRONG_NUMBER", "--by", "max")

    assert (viewer.exit_code, stranger.exit_code) == (1, 1)
    assert "vic (viewer) may not change" in viewer.stderr
    assert "no user named 'nobody'" in stranger.stderr
    # A manager gets past the actor check; there is no attempt 1 to set.
    assert "no attempt 1" in manager.stderr
    assert snapshot(database_url) == before


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("", (), "not empty or blank"),
        ("   ", (), "not empty or blank"),
        (" ana", (), "spaces around it"),
        ("cli", (), "changes made without --by"),
        ("a\tb", (), "control or invisible characters"),
        ("x" * 101, (), "at most 100 characters"),
        ("vera", ("--can-remove-dnc",), "a viewer changes nothing"),
    ],
)
def test_users_add_refuses_a_user_who_could_not_act(
    dialer: Invoke, database_url: str, name: str, options: tuple[str, ...], message: str
) -> None:
    before = snapshot(database_url)

    result = dialer("users", "add", name, "--role", "viewer", *options)

    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert snapshot(database_url) == before
