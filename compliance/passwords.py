"""Users' passwords: the rules a new one must meet, its argon2id hash on the user's row,
and the lockout after repeated failed sign-ins.

Rules after NIST SP 800-63B rev. 4 (section 3.1.1.2, a password as the only factor): at
least 15 characters, at most 256, any characters, Unicode NFKC-normalized (so one text
typed two ways is one password), no composition rules, and a refusal of commonly used,
expected or context-specific ones. Hashing and checking cost ~64 MiB and a good part of a
CPU second by design: they run in a thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from datetime import datetime, timedelta

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from compliance.accounts import MAX_USER_NAME, Company, Role, User
from compliance.tables import sign_in_failures, users

log = structlog.get_logger("compliance.passwords")

MIN_PASSWORD = 15
MAX_PASSWORD = 256

# argon2id, RFC 9106's second recommended (low-memory) profile: t=3, m=64 MiB, p=4. Only
# tests/conftest.py replaces it (with argon2's CHEAPEST profile, to keep the suite fast);
# no setting or argument reaches it, so production cannot pick weaker parameters.
hasher = PasswordHasher()

# Expected words: the service's own name, and the word everyone tries first.
_EXPECTED = ("password", "dialer")
# Shorter names occur inside ordinary words too often (ana in banana) to be refused there.
_MIN_CONTEXT = 4
# Look-alike digits and symbols read as the letters they stand for (p@ssw0rd is password).
_LOOK_ALIKES = str.maketrans("0134578@$!", "oleastbasi")
# Runs of keys, letters and digits, either way: a password inside one is no secret.
_RUNS = tuple(
    run + run[::-1]
    for run in (
        "0123456789" * 3,
        "abcdefghijklmnopqrstuvwxyz" * 2,
        "qwertyuiopasdfghjklzxcvbnm" * 2,
        "qazwsxedcrfvtgbyhnujmikolp" * 2,
    )
)
_MIN_RUN = 8
# Long passwords high in the breach corpora that no rule above refuses, as compared: letters
# and digits only, case-folded.
_COMMON = frozenset(
    {
        "1q2w3e4r5t6y7u8i",
        "1q2w3e4r5t6y7u8i9o0p",
        "1qaz2wsx3edc4rfv",
        "1qaz2wsx3edc4rfv5tgb",
        "zaq12wsxcde34rfv",
        "zaq1xsw2cde3vfr4",
        "qwerty123456789",
        "qwertyuiop123456789",
        "123456789qwertyuiop",
        "1234567890qwertyuiop",
        "asdfghjkl123456789",
        "iloveyou123456789",
        "correcthorsebatterystaple",
        "thequickbrownfoxjumpsoverthelazydog",
    }
)


class InvalidPassword(ValueError):
    """A password that breaks a rule; the message says which. Nothing was changed."""


def normalized(password: str) -> str:
    """The password as hashed: NFKC, so that composed and decomposed accents, full-width
    letters and ligatures typed on another keyboard still match."""
    return unicodedata.normalize("NFKC", password)


def check_password(password: str, *, user: str, company: str) -> str:
    """The normalized password, if it meets every rule for `user` of `company`;
    InvalidPassword naming the first rule it breaks otherwise."""
    text = normalized(password)
    if len(text) < MIN_PASSWORD:
        raise InvalidPassword(
            f"a password needs at least {MIN_PASSWORD} characters; this one has {len(text)}"
        )
    if len(text) > MAX_PASSWORD:
        raise InvalidPassword(
            f"a password has at most {MAX_PASSWORD} characters; this one has {len(text):,}"
        )
    read = _as_read(text)
    for word, what in ((user, "the user's name"), (company, "the company's name")):
        wanted = _as_read(word)
        if len(wanted) >= _MIN_CONTEXT and wanted in read:
            raise InvalidPassword(f"a password cannot contain {what} ({word})")
    for word in _EXPECTED:
        if word in read:
            raise InvalidPassword(f"a password cannot contain the word {word!r}")
    plain = _letters_and_digits(text)
    if any(_repeated(form) for form in (text.casefold(), plain) if form):
        raise InvalidPassword("a password cannot be one character or a shorter text repeated")
    if len(plain) >= _MIN_RUN and any(plain in run for run in _RUNS):
        raise InvalidPassword("a password cannot be a run of consecutive keys, letters or digits")
    if plain in _COMMON:
        raise InvalidPassword("this password is on the list of commonly used ones")
    return text


def _letters_and_digits(text: str) -> str:
    """What the rules compare: letters and digits only, case-folded (Pass-Word is password)."""
    return "".join(char for char in text.casefold() if char.isalnum())


def _as_read(text: str) -> str:
    """Letters and digits as a reader takes them: look-alikes read as letters, so that
    p@ssw0rd is password."""
    return _letters_and_digits(normalized(text).casefold().translate(_LOOK_ALIKES))


def _repeated(text: str) -> bool:
    return re.fullmatch(r"(.+?)\1+", text, flags=re.DOTALL) is not None


async def hash_password(password: str) -> str:
    """The argon2id hash of the normalized password (in a thread: it is slow by design)."""
    return await asyncio.to_thread(hasher.hash, normalized(password))


async def matches(password_hash: str, password: str) -> bool:
    """Whether `password` (normalized) is the one hashed (in a thread, as hashing)."""
    try:
        return await asyncio.to_thread(hasher.verify, password_hash, normalized(password))
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with other parameters than the hasher's today."""
    return hasher.check_needs_rehash(password_hash)


_dummies: dict[PasswordHasher, str] = {}


async def dummy_hash() -> str:
    """A hash of no one's password, made with today's parameters: checking a password
    against it when the user is unknown costs what checking a real one does, so the time
    an answer takes does not reveal whether the user exists."""
    if hasher not in _dummies:
        _dummies[hasher] = await asyncio.to_thread(hasher.hash, "no user has this password")
    return _dummies[hasher]


async def credentials(
    conn: AsyncConnection, company: Company, name: str
) -> tuple[User, str | None] | None:
    """The user of `company` named `name` and their password hash (None: no password);
    None when there is no such user."""
    row = (
        await conn.execute(
            select(users.c.name, users.c.role, users.c.can_remove_dnc, users.c.password_hash).where(
                users.c.company_id == company.id, users.c.name == name
            )
        )
    ).first()
    if row is None:
        return None
    return User(row.name, Role(row.role), row.can_remove_dnc), row.password_hash


async def password_set_at(conn: AsyncConnection, company: Company, name: str) -> datetime | None:
    """When the user `name` of `company` got their password; None when there is no such
    user or they have none. A session begun before it has ended."""
    return (
        await conn.execute(
            select(users.c.password_changed_at).where(
                users.c.company_id == company.id,
                users.c.name == name,
                users.c.password_hash.is_not(None),
            )
        )
    ).scalar_one_or_none()


async def set_hash(
    conn: AsyncConnection, company: Company, name: str, password_hash: str, now: datetime, by: str
) -> bool:
    """Give the user `name` this password hash (from `hash_password`), recording who and
    when; False when there is no such user."""
    changed = await conn.execute(
        update(users)
        .where(users.c.company_id == company.id, users.c.name == name)
        .values(password_hash=password_hash, password_changed_at=now, password_changed_by=by)
    )
    if changed.rowcount:
        log.info("user.password_set", company=company.name, user=name, by=by)
    return bool(changed.rowcount)


async def rehash(
    conn: AsyncConnection, company: Company, name: str, old_hash: str, new_hash: str
) -> None:
    """Replace a hash made with old parameters by one of the same password made with
    today's, unless the password was changed meanwhile. Not a change of password: who
    changed it and when stay as they were."""
    await conn.execute(
        update(users)
        .where(
            users.c.company_id == company.id,
            users.c.name == name,
            users.c.password_hash == old_hash,
        )
        .values(password_hash=new_hash)
    )
    log.info("user.password_rehashed", company=company.name, user=name)


# --- the lockout ------------------------------------------------------------------------

# After OWASP's Authentication Cheat Sheet ("Account Lockout"; "Protect against automated
# attacks"): a lock after a few failures in a window, for a fixed duration, counted per user
# (against guessing one account) and per address (against spraying one guess over many
# accounts), for names that are no user too, so that the lock reveals nothing.
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_ADDRESS = 20
FAILURE_WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
# Rows older than this count for nothing; each failure deletes its user's and address's.
_KEPT = FAILURE_WINDOW + LOCKOUT
# The longest address kept (IPv6 with a zone fits); longer text is cut, not refused.
MAX_ADDRESS = 100


async def record_failure(
    conn: AsyncConnection, company: Company, name: str, address: str, now: datetime
) -> None:
    """Count a failed sign-in as `name` from `address` at `now`.

    Record an attempt before its password is checked (and `clear_failures` on success):
    parallel guesses then see each other. Do not record attempts refused while `locked`,
    or an attacker could keep a user locked out for good.
    """
    name, address = name[:MAX_USER_NAME], address[:MAX_ADDRESS]
    columns = sign_in_failures.c
    for column, value in ((columns.user_name, name), (columns.address, address)):
        await conn.execute(
            delete(sign_in_failures).where(
                columns.company_id == company.id, column == value, columns.at < now - _KEPT
            )
        )
    await conn.execute(
        insert(sign_in_failures).values(
            company_id=company.id, user_name=name, address=address, at=now
        )
    )


async def clear_failures(conn: AsyncConnection, company: Company, name: str) -> None:
    """Forget `name`'s failed sign-ins: they signed in (OWASP: reset the counter)."""
    await conn.execute(
        delete(sign_in_failures).where(
            sign_in_failures.c.company_id == company.id,
            sign_in_failures.c.user_name == name[:MAX_USER_NAME],
        )
    )


async def locked(
    conn: AsyncConnection, company: Company, name: str, address: str, now: datetime
) -> datetime | None:
    """Until when sign-ins as `name` or from `address` are refused, None if they are not.

    A lock starts at the failure that makes MAX_FAILURES_PER_USER for the name (or
    MAX_FAILURES_PER_ADDRESS for the address) within FAILURE_WINDOW, and lasts LOCKOUT.
    """
    columns = sign_in_failures.c
    ends = [
        await _lock_end(conn, company, column == value[:width], limit, now)
        for column, value, width, limit in (
            (columns.user_name, name, MAX_USER_NAME, MAX_FAILURES_PER_USER),
            (columns.address, address, MAX_ADDRESS, MAX_FAILURES_PER_ADDRESS),
        )
    ]
    found = [end for end in ends if end is not None]
    return max(found) if found else None


async def _lock_end(
    conn: AsyncConnection,
    company: Company,
    which: ColumnElement[bool],
    limit: int,
    now: datetime,
) -> datetime | None:
    newest = (
        (
            await conn.execute(
                select(sign_in_failures.c.at)
                .where(sign_in_failures.c.company_id == company.id, which)
                .where(sign_in_failures.c.at <= now)
                .order_by(sign_in_failures.c.at.desc())
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )
    if len(newest) < limit or newest[0] - newest[-1] > FAILURE_WINDOW:
        return None
    end = newest[0] + LOCKOUT
    return end if end > now else None
