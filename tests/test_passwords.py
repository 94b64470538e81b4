"""Users' passwords, the sign-in lockout, and the sessions' secret key.

Passwords follow NIST SP 800-63B rev. 4: 15 to 256 characters, any characters (NFKC), no
composition rules, common and context-specific ones refused with the rule named. They are
stored as argon2id hashes, never shown. Sign-ins lock after 5 failures in 15 minutes for
a user, 20 for an address, for 15 minutes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import stat
import subprocess
import sys
import unicodedata
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher, Type, extract_parameters, profiles
from click.testing import CliRunner, Result
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from compliance import Company, InvalidPassword, Role, accounts, passwords
from compliance.passwords import check_password
from compliance.tables import sign_in_failures, users
from dialer.app import App, open_app
from dialer.cli import main
from dialer.services import Caller
from dialer.services import users as service
from dialer.settings import SECRET_KEY_FILE, InvalidSettings, Settings, create_secret_key
from tests.support import NOW
from tests.test_actors import snapshot

Invoke = Callable[..., Result]

GOOD = "correct horse battery stapler"
OTHER = "a sandwich of seven tall windmills"
ADDRESS = "203.0.113.7"


# --- the rules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("", "at least 15 characters; this one has 0"),
        ("x7#" * 4 + "ab", "at least 15 characters; this one has 14"),
        ("é" * 257, "at most 256 characters; this one has 257"),
        ("my name is dorothea, hello", "cannot contain the user's name (dorothea)"),
        ("Acme-Rockets-Forever-9", "cannot contain the company's name (Acme Rockets)"),
        ("Password-for-the-long-haul", "cannot contain the word 'password'"),
        ("my p@ssw0rd is this long one", "cannot contain the word 'password'"),
        ("ｍｙ ｐａｓｓｗｏｒｄ ｉｓ ｌｏｎｇ", "cannot contain the word 'password'"),
        ("the dialer of the century", "cannot contain the word 'dialer'"),
        ("zzzzzzzzzzzzzzzzzzzz", "one character or a shorter text repeated"),
        ("tram-tram-tram-tram", "one character or a shorter text repeated"),
        ("123456789012345678", "a run of consecutive keys, letters or digits"),
        ("QWERTYUIOPASDFGHJ", "a run of consecutive keys, letters or digits"),
        ("zyxwvutsrqponmlk", "a run of consecutive keys, letters or digits"),
        ("1qaz2wsx3edc4rfv", "on the list of commonly used ones"),
        ("Correct Horse Battery Staple", "on the list of commonly used ones"),
    ],
)
def test_a_password_breaking_a_rule_is_refused_with_the_rule(password, message):
    with pytest.raises(InvalidPassword) as refused:
        check_password(password, user="dorothea", company="Acme Rockets")

    assert message in str(refused.value)


@pytest.mark.parametrize(
    "password",
    [
        "fifteen chars!!",  # exactly 15: no digit, capital or symbol rule
        "x" + "é" * 254 + "y",  # exactly 256
        "ñandú corre por la pampa",
        "東京の夜は静かで美しい星空が広がる",
        "🐦🐦🐈 birds and a cat 🐈",
        "!@#%^&*()_+{}|:<>?",  # symbols only
        "banana bread for ana",  # a name of 3 letters is too common inside words
        "    spaces count too    ",
    ],
)
def test_any_characters_are_accepted_without_composition_rules(password):
    assert check_password(password, user="ana", company="Acme") == unicodedata.normalize(
        "NFKC", password
    )


def test_length_counts_characters_after_nfkc_normalization():
    decomposed = unicodedata.normalize("NFD", "él comió ñoqui")  # 17 code points, 14 characters
    ligatures = "ﬁne ﬂowers ﬁx"  # 13 code points, 16 characters once normalized

    assert len(decomposed) == 17
    with pytest.raises(InvalidPassword, match="at least 15 characters; this one has 14"):
        check_password(decomposed, user="ana", company="Acme")
    assert check_password(ligatures, user="ana", company="Acme") == "fine flowers fix"


# --- hashes ---------------------------------------------------------------------------


async def _hash_of(app: App, company: Company, name: str) -> str | None:
    async with app.snapshot() as conn:
        return (
            await conn.execute(
                select(users.c.password_hash).where(
                    users.c.company_id == company.id, users.c.name == name
                )
            )
        ).scalar_one()


async def test_a_password_is_stored_as_an_argon2id_hash_that_verifies(app, company):
    acme = Caller("acme")
    await service.add_user(app, acme, "dorothea", Role.MANAGER, password=GOOD)

    stored = await _hash_of(app, company, "dorothea")
    signed_in = await service.verify_password(app, "acme", "dorothea", GOOD, address=ADDRESS)
    wrong = await service.verify_password(app, "acme", "dorothea", OTHER, address=ADDRESS)

    assert stored.startswith("$argon2id$")
    assert GOOD not in stored
    assert extract_parameters(stored).type is Type.ID
    assert signed_in is not None
    assert (signed_in.name, signed_in.role) == ("dorothea", Role.MANAGER)
    assert wrong is None


def test_the_production_hasher_is_rfc_9106s_low_memory_argon2id():
    # tests/conftest.py swaps the module's hasher for a cheap one: ask a process of its own.
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "from compliance.passwords import hasher as h; "
            "print(h.type.name, h.memory_cost, h.time_cost, h.parallelism)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )

    assert shown.stdout == f"ID {64 * 1024} 3 4\n"


async def test_a_password_typed_in_another_unicode_form_still_matches(app, company):
    composed = "mañana, café y canción"
    await service.add_user(app, Caller("acme"), "dorothea", Role.VIEWER, password=composed)

    decomposed = unicodedata.normalize("NFD", composed)

    assert decomposed != composed
    assert await service.verify_password(app, "acme", "dorothea", decomposed, address=ADDRESS)


async def test_a_hash_made_with_old_parameters_is_replaced_at_sign_in(app, company, monkeypatch):
    await service.add_user(app, Caller("acme"), "dorothea", Role.VIEWER, password=GOOD)
    old = await _hash_of(app, company, "dorothea")
    # A parameter raised since the hash was made.
    stronger = PasswordHasher.from_parameters(dataclasses.replace(profiles.CHEAPEST, time_cost=2))
    monkeypatch.setattr(passwords, "hasher", stronger)

    assert await service.verify_password(app, "acme", "dorothea", GOOD, address=ADDRESS)

    new = await _hash_of(app, company, "dorothea")
    assert new != old
    assert extract_parameters(new).time_cost == 2
    assert not stronger.check_needs_rehash(new)
    assert await service.verify_password(app, "acme", "dorothea", GOOD, address=ADDRESS)
    assert await _hash_of(app, company, "dorothea") == new  # no rehash without a change


async def test_a_user_without_a_password_cannot_sign_in(app, company):
    await service.add_user(app, Caller("acme"), "dorothea", Role.ADMIN)

    assert await _hash_of(app, company, "dorothea") is None
    assert await service.verify_password(app, "acme", "dorothea", "", address=ADDRESS) is None
    assert await service.verify_password(app, "acme", "dorothea", GOOD, address=ADDRESS) is None


async def test_an_unknown_user_is_checked_against_a_hash_all_the_same(app, company, monkeypatch):
    checked = []

    class Watched(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            checked.append(hash)
            return super().verify(hash, password)

    monkeypatch.setattr(passwords, "hasher", Watched.from_parameters(profiles.CHEAPEST))
    await service.add_user(app, Caller("acme"), "dorothea", Role.VIEWER)

    unknown = await service.verify_password(app, "acme", "nobody", GOOD, address=ADDRESS)
    no_password = await service.verify_password(app, "acme", "dorothea", GOOD, address=ADDRESS)

    assert (unknown, no_password) == (None, None)
    assert len(checked) == 2
    assert all(hash.startswith("$argon2id$") for hash in checked)


# --- the lockout ----------------------------------------------------------------------


async def _fail(app: App, company: Company, name: str, address: str, at: datetime) -> None:
    async with app.transaction() as conn:
        await passwords.record_failure(conn, company, name, address, at)


async def _locked(app: App, company: Company, name: str, address: str, at: datetime):
    async with app.snapshot() as conn:
        return await passwords.locked(conn, company, name, address, at)


async def test_five_failures_in_fifteen_minutes_lock_the_user_for_fifteen_minutes(app, company):
    for minute in range(0, 12, 3):  # four failures, 0 to 9 minutes
        await _fail(app, company, "dorothea", ADDRESS, NOW + timedelta(minutes=minute))
    fourth = NOW + timedelta(minutes=10)
    assert await _locked(app, company, "dorothea", ADDRESS, fourth) is None

    fifth = NOW + timedelta(minutes=12)
    await _fail(app, company, "dorothea", "198.51.100.1", fifth)

    until = fifth + timedelta(minutes=15)
    assert await _locked(app, company, "dorothea", "192.0.2.99", fifth) == until
    assert await _locked(app, company, "dorothea", ADDRESS, until - timedelta(seconds=1)) == until
    assert await _locked(app, company, "dorothea", ADDRESS, until) is None
    assert await _locked(app, company, "someone-else", "192.0.2.99", fifth) is None


async def test_failures_spread_wider_than_the_window_lock_nothing(app, company):
    for minute in range(0, 20, 4):  # five failures over 16 minutes
        await _fail(app, company, "dorothea", ADDRESS, NOW + timedelta(minutes=minute))

    assert await _locked(app, company, "dorothea", ADDRESS, NOW + timedelta(minutes=16)) is None


async def test_failures_that_count_for_nothing_any_more_are_forgotten(app, company):
    for hour in range(3):
        await _fail(app, company, "dorothea", ADDRESS, NOW + timedelta(hours=hour))

    async with app.snapshot() as conn:
        kept = (await conn.execute(select(sign_in_failures.c.at))).scalars().all()
    assert kept == [NOW + timedelta(hours=2)]


async def test_twenty_failures_from_one_address_lock_the_address(app, company):
    for index in range(20):  # one guess at twenty names: password spraying
        await _fail(app, company, f"user-{index}", ADDRESS, NOW + timedelta(seconds=index))
    last = NOW + timedelta(seconds=19)

    assert await _locked(app, company, "dorothea", ADDRESS, last) == last + timedelta(minutes=15)
    assert await _locked(app, company, "dorothea", "198.51.100.1", last) is None
    assert await _locked(app, company, "dorothea", ADDRESS, last + timedelta(minutes=15)) is None


async def test_a_lock_counts_in_its_own_company_only(app, company):
    async with app.transaction() as conn:
        other, _ = await accounts.ensure_company(conn, "globex", NOW)
    for second in range(5):
        await _fail(app, company, "dorothea", ADDRESS, NOW + timedelta(seconds=second))

    assert await _locked(app, other, "dorothea", ADDRESS, NOW + timedelta(seconds=5)) is None


async def test_a_locked_user_is_refused_even_the_right_password(app, company, monkeypatch):
    await service.add_user(app, Caller("acme"), "dorothea", Role.VIEWER, password=GOOD)
    for _ in range(5):
        assert not await service.verify_password(app, "acme", "dorothea", OTHER, address=ADDRESS)

    refused = await service.verify_password(app, "acme", "dorothea", GOOD, address=ADDRESS)
    elsewhere = await service.verify_password(app, "acme", "dorothea", GOOD, address="192.0.2.1")
    later = datetime.now(NOW.tzinfo) + timedelta(minutes=15, seconds=1)
    monkeypatch.setattr(service, "utcnow", lambda: later)
    expired = await service.verify_password(app, "acme", "dorothea", GOOD, address=ADDRESS)

    assert (refused, elsewhere) == (None, None)
    assert expired is not None
    async with app.snapshot() as conn:
        left = (await conn.execute(select(func.count()).select_from(sign_in_failures))).scalar()
    assert left == 0  # refused attempts were not counted; the success cleared the rest


async def test_a_success_clears_the_count_and_unknown_names_lock_too(app, company):
    await service.add_user(app, Caller("acme"), "dorothea", Role.VIEWER, password=GOOD)
    for _ in range(4):
        await service.verify_password(app, "acme", "dorothea", OTHER, address=ADDRESS)
    assert await service.verify_password(app, "acme", "dorothea", GOOD, address=ADDRESS)
    for _ in range(4):
        await service.verify_password(app, "acme", "dorothea", OTHER, address=ADDRESS)
    for _ in range(5):
        await service.verify_password(app, "acme", "nobody", OTHER, address=ADDRESS)

    assert await service.verify_password(app, "acme", "dorothea", GOOD, address=ADDRESS)
    assert await _locked(app, company, "nobody", "192.0.2.1", datetime.now(NOW.tzinfo))


# --- the commands ---------------------------------------------------------------------


def _verify(database_url: str, name: str, password: str) -> bool:
    async def check() -> bool:
        settings = Settings(database_url=database_url, log_level="WARNING")
        async with open_app(settings) as app:
            found = await service.verify_password(app, None, name, password, address=ADDRESS)
            return found is not None

    return asyncio.run(check())


def test_users_add_reads_the_password_from_standard_input(dialer: Invoke, database_url):
    added = dialer("users", "add", "dorothea", "--role", "admin", "--password-stdin", input=GOOD)
    crlf = dialer(
        "users", "add", "ed", "--role", "viewer", "--password-stdin", input=OTHER + "\r\n"
    )

    assert added.exit_code == 0, added.output
    assert added.stdout == "User 'dorothea' added as admin, with a password.\n"
    assert GOOD not in added.output
    assert crlf.exit_code == 0, crlf.output
    assert _verify(database_url, "dorothea", GOOD)
    assert _verify(database_url, "ed", OTHER)
    assert not _verify(database_url, "ed", OTHER + "\r")


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("", "no password on standard input"),
        ("\n", "no password on standard input"),
        ("too short\n", "at least 15 characters; this one has 9"),
        ("dorothea-dorothea-1\n", "cannot contain the user's name (dorothea)"),
        ("default settings are fine\n", "cannot contain the company's name (default)"),
        ("my password is long enough\n", "cannot contain the word 'password'"),
    ],
)
def test_a_refused_password_adds_no_user(dialer: Invoke, database_url, password, message):
    before = snapshot(database_url)

    result = dialer(
        "users", "add", "dorothea", "--role", "admin", "--password-stdin", input=password
    )

    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert snapshot(database_url) == before


def test_users_list_shows_whether_a_user_has_a_password_never_the_hash(dialer: Invoke):
    dialer("users", "add", "dorothea", "--role", "admin", "--password-stdin", input=GOOD)
    dialer("users", "add", "ed", "--role", "manager", "--can-remove-dnc")

    listed = dialer("users", "list", "--json")
    table = dialer("users", "list")

    assert listed.exit_code == 0, listed.output
    shown = json.loads(listed.stdout)
    assert [(u["name"], u["role"], u["has_password"]) for u in shown] == [
        ("dorothea", "admin", True),
        ("ed", "manager", False),
    ]
    assert set(shown[0]) == {
        "name",
        "role",
        "can_remove_dnc",
        "created_at",
        "has_password",
        "password_changed_at",
        "password_changed_by",
    }
    assert (shown[0]["password_changed_by"], shown[1]["password_changed_at"]) == ("cli", None)
    for output in (listed.output, table.output):
        assert "argon2" not in output
        assert GOOD not in output
    assert "dorothea" in table.stdout


def test_users_passwd_replaces_the_password(dialer: Invoke, database_url):
    dialer("users", "add", "root", "--role", "admin")
    dialer("users", "add", "dorothea", "--role", "viewer")

    first = dialer("users", "passwd", "dorothea", input=GOOD + "\n")
    second = dialer("users", "passwd", "dorothea", "--by", "root", input=OTHER + "\n")

    assert (first.exit_code, second.exit_code) == (0, 0)
    assert first.stdout == "Password of 'dorothea' set.\n"
    assert second.stdout == "Password of 'dorothea' replaced.\n"
    assert not _verify(database_url, "dorothea", GOOD)
    assert _verify(database_url, "dorothea", OTHER)
    shown = json.loads(dialer("users", "list", "--json").stdout)
    assert shown[0]["name"] == "dorothea"
    assert shown[0]["password_changed_by"] == "root"


def test_users_passwd_needs_an_admin_or_the_user_and_an_existing_user(dialer: Invoke, database_url):
    dialer("users", "add", "max", "--role", "manager", "--password-stdin", input=GOOD)
    dialer("users", "add", "vic", "--role", "viewer")
    before = snapshot(database_url)

    by_other = dialer("users", "passwd", "vic", "--by", "max", input=OTHER)
    unknown = dialer("users", "passwd", "nobody", input=OTHER)
    weak = dialer("users", "passwd", "vic", input="aaaaaaaaaaaaaaaaaaaa")
    empty = dialer("users", "passwd", "vic", input="")

    assert [r.exit_code for r in (by_other, unknown, weak, empty)] == [1, 1, 1, 1]
    assert "max (manager) may not manage users" in by_other.stderr
    assert "no user named 'nobody'" in unknown.stderr
    assert "a shorter text repeated" in weak.stderr
    assert "no password on standard input" in empty.stderr
    assert snapshot(database_url) == before

    own = dialer("users", "passwd", "max", "--by", "max", input=OTHER)

    assert own.exit_code == 0, own.output
    assert _verify(database_url, "max", OTHER)


# --- the secret key -------------------------------------------------------------------


@pytest.fixture
def init_in(tmp_path: Path) -> Callable[..., Result]:
    """Run `dialer init` on a data folder of its own; env adds settings."""
    home = tmp_path / "home"

    def invoke(**env: str) -> Result:
        return CliRunner().invoke(
            main,
            ["init"],
            env={"DIALER_HOME": str(home), "DIALER_LOG_LEVEL": "WARNING", **env},
            catch_exceptions=False,
        )

    return invoke


def test_init_creates_a_private_fernet_key_and_keeps_it(init_in, tmp_path):
    key_file = tmp_path / "home" / SECRET_KEY_FILE

    first = init_in()
    key = key_file.read_text()
    second = init_in()

    assert first.exit_code == 0, first.output
    assert f"Secret key: created {key_file}" in first.stdout
    assert "DIALER_SECRET_KEY" in first.stdout
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    Fernet(key.strip())  # a key aiohttp-session's EncryptedCookieStorage takes
    assert second.exit_code == 0
    assert f"Secret key: {key_file}\n" in second.stdout
    assert key_file.read_text() == key
    assert Settings(home=tmp_path / "home").secret_key == key.strip()
    assert Settings(home=tmp_path / "home").secret_key_file == key_file


def test_a_secret_key_setting_wins_and_init_writes_no_file(init_in, tmp_path, monkeypatch):
    key = Fernet.generate_key().decode()

    created = init_in(DIALER_SECRET_KEY=key)
    monkeypatch.setenv("DIALER_SECRET_KEY", key)

    assert created.exit_code == 0, created.output
    assert "Secret key: the secret_key setting" in created.stdout
    assert not (tmp_path / "home" / SECRET_KEY_FILE).exists()
    assert Settings(home=tmp_path / "home").secret_key == key


def test_a_malformed_secret_key_is_refused_without_showing_it(init_in, tmp_path):
    home = tmp_path / "home"
    refused = init_in(DIALER_SECRET_KEY="hunter2-not-a-key")
    home.mkdir()
    (home / SECRET_KEY_FILE).write_text("truncated-key\n")
    from_file = init_in()

    assert refused.exit_code == 1
    assert "DIALER_SECRET_KEY: not a Fernet key" in refused.stderr
    assert "hunter2" not in refused.output
    assert from_file.exit_code == 1
    assert f"secret_key: the file {home / SECRET_KEY_FILE} holds no Fernet key" in from_file.stderr
    assert "truncated" not in from_file.output
    assert (home / SECRET_KEY_FILE).read_text() == "truncated-key\n"
    assert not (home / "dialer.db").exists()
    with pytest.raises(InvalidSettings, match="holds no Fernet key"):
        Settings(home=home)


def test_the_key_file_is_never_replaced(tmp_path):
    home = tmp_path / "home"
    path = create_secret_key(home)
    key = path.read_text()

    assert create_secret_key(home) == path
    assert path.read_text() == key
    assert sorted(os.listdir(home)) == [SECRET_KEY_FILE]  # no partial file left behind
