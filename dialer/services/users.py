"""The people who act for a company: adding them, listing them, their passwords, and
checking a password at sign-in, whoever asks (CLI, API, pages)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from compliance import InvalidUser, Permission, Role, UnknownUser, User, accounts, passwords
from compliance.accounts import Account
from compliance.tables import Page
from dialer.app import App, utcnow
from dialer.services import Acting, Caller, acting

__all__ = [
    "add_user",
    "change_user",
    "list_users",
    "set_password",
    "user_view",
    "users_page",
    "verify_password",
]

log = structlog.get_logger("dialer.services.users")


async def add_user(
    app: App,
    caller: Caller,
    name: str,
    role: Role,
    *,
    can_remove_dnc: bool = False,
    password: str | None = None,
) -> Account:
    """Add a user of the caller's company (an admin's change), with a password if given
    (InvalidPassword names the rule it breaks); InvalidUser for a name taken or unusable.
    Returns the user as listed."""
    password_hash = None
    if password is not None:
        async with app.snapshot() as conn:
            who = await acting(app, conn, caller, Permission.MANAGE_USERS)
        accounts.check_user(name, role, can_remove_dnc)
        password_hash = await _hashed(password, name, who)
    try:
        async with app.transaction() as conn:
            who = await acting(app, conn, caller, Permission.MANAGE_USERS)
            await accounts.add_user(
                conn,
                who.company,
                name,
                role,
                can_remove_dnc,
                utcnow(),
                by=who.actor,
                password_hash=password_hash,
            )
            return await accounts.account(conn, who.company, name)
    except IntegrityError:
        raise InvalidUser(f"a user named {name!r} already exists") from None


@asynccontextmanager
async def list_users(app: App, caller: Caller) -> AsyncIterator[Page[Account]]:
    """Every user of the caller's company, by name: any user of it may read them."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        yield await accounts.list_users(conn, who.company)


async def users_page(
    app: App, caller: Caller, *, after: int | None = None, limit: int | None = None
) -> list[Account]:
    """The company's users in the order they were added, after the user of id `after`, at
    most `limit`: a page of the listing any user of the company may read."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        return await accounts.users_after(conn, who.company, after=after, limit=limit)


async def change_user(
    app: App,
    caller: Caller,
    name: str,
    *,
    role: Role | None = None,
    can_remove_dnc: bool | None = None,
) -> Account:
    """Give the user `name` a new role or can_remove_dnc (None keeps it): an admin's
    change. UnknownUser when there is no such user, InvalidUser for a viewer who may
    remove, LastAdmin when no admin would be left."""
    async with app.transaction() as conn:
        who = await acting(app, conn, caller, Permission.MANAGE_USERS)
        return await accounts.change_user(
            conn, who.company, name, role=role, can_remove_dnc=can_remove_dnc, by=who.actor
        )


def user_view(account: Account) -> dict[str, Any]:
    """A user's JSON shape: whether they have a password, never its hash."""
    changed = account.password_changed_at
    return {
        "name": account.user.name,
        "role": account.user.role.value,
        "can_remove_dnc": account.user.can_remove_dnc,
        "created_at": account.created_at.isoformat(),
        "has_password": account.has_password,
        "password_changed_at": changed.isoformat() if changed else None,
        "password_changed_by": account.password_changed_by,
    }


async def set_password(app: App, caller: Caller, name: str, password: str) -> bool:
    """Give the user `name` a new password, replacing any (an admin's change, or the
    user's own); True when it replaced one. InvalidPassword names the rule it breaks;
    UnknownUser when there is no such user."""
    async with app.snapshot() as conn:  # refused before the costly hash, if at all
        who = await _password_setter(app, conn, caller, name)
        await _has_password(conn, who, name)
    password_hash = await _hashed(password, name, who)
    async with app.transaction() as conn:
        who = await _password_setter(app, conn, caller, name)
        had = await _has_password(conn, who, name)
        await passwords.set_hash(conn, who.company, name, password_hash, utcnow(), who.actor)
    return had


async def _password_setter(app: App, conn: AsyncConnection, caller: Caller, name: str) -> Acting:
    """The caller, if they may set `name`'s password: an admin, or `name` themself."""
    permission = None if caller.user == name else Permission.MANAGE_USERS
    return await acting(app, conn, caller, permission)


async def _has_password(conn: AsyncConnection, who: Acting, name: str) -> bool:
    found = await passwords.credentials(conn, who.company, name)
    if found is None:
        raise UnknownUser(f"no user named {name!r} in this company")
    return found[1] is not None


async def _hashed(password: str, name: str, who: Acting) -> str:
    checked = passwords.check_password(password, user=name, company=who.company.name)
    return await passwords.hash_password(checked)


async def verify_password(
    app: App, company: str | None, name: str, password: str, *, address: str
) -> User | None:
    """The user `name` of `company` (None: the default_company setting) if `password` is
    theirs and no lockout holds; None otherwise, whatever the reason: a wrong password, no
    such user, a user without a password, or a lock on the name or on `address` (where the
    attempt comes from; `passwords.locked` says until when).

    Each attempt counts as a failure until its password matches, so parallel guesses see
    each other; a match clears the user's failures and rehashes a hash made with old
    parameters. An unknown user's attempt is checked against a dummy hash: the time an
    answer takes does not say whether the user exists.
    """
    async with app.transaction() as conn:
        owner = await accounts.find_company(conn, company or app.settings.default_company)
        now = utcnow()
        if await passwords.locked(conn, owner, name, address, now) is not None:
            log.warning("user.sign_in_locked", company=owner.name, user=name, address=address)
            return None
        await passwords.record_failure(conn, owner, name, address, now)
        found = await passwords.credentials(conn, owner, name)
    user, stored = found if found else (None, None)
    matched = await passwords.matches(stored or await passwords.dummy_hash(), password)
    if user is None or stored is None or not matched:
        log.info("user.sign_in_failed", company=owner.name, user=name, address=address)
        return None
    fresh = await passwords.hash_password(password) if passwords.needs_rehash(stored) else None
    async with app.transaction() as conn:
        await passwords.clear_failures(conn, owner, name)
        if fresh is not None:
            await passwords.rehash(conn, owner, name, stored, fresh)
    return user
