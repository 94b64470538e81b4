"""Signing in and out of a browser session, and checking on each request that a session
still stands: its user is there, with the password they signed in with, and it was not
signed out. The session itself (its cookie) is the web layer's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog

from compliance import UnknownCompany, accounts, passwords, sessions
from dialer.app import App, utcnow
from dialer.services.users import verify_password

__all__ = ["InvalidCredentials", "SignInLocked", "SignedIn", "resume", "sign_in", "sign_out"]

log = structlog.get_logger("dialer.services.sessions")


class InvalidCredentials(Exception):
    """No user of that name and password: the one answer for every reason, so that it
    reveals nothing (an unknown user or company, a wrong password, no password)."""


class SignInLocked(Exception):
    """Too many failed sign-ins as this user or from this address: refused until `until`."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"too many failed sign-ins; try again after {until.isoformat()}")
        self.until = until


@dataclass(frozen=True, slots=True)
class SignedIn:
    """Who signed in, and `stamp`: when they got the password they signed in with (a
    session ends when the password changes)."""

    company: str
    user: str
    stamp: str


def _stamp(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


async def sign_in(
    app: App, company: str | None, name: str, password: str, *, address: str
) -> SignedIn:
    """The user `name` of `company` (None: the default_company setting), if `password` is
    theirs; InvalidCredentials else, SignInLocked while a lockout on the name or on
    `address` (where the attempt comes from) holds."""
    try:
        async with app.snapshot() as conn:
            owner = await accounts.find_company(conn, company or app.settings.default_company)
            until = await passwords.locked(conn, owner, name, address, utcnow())
            # Read before the check: a password changed meanwhile ends the session at once.
            stamp = _stamp(await passwords.password_set_at(conn, owner, name))
    except UnknownCompany:
        await passwords.matches(await passwords.dummy_hash(), password)  # as long as a check
        raise InvalidCredentials() from None
    if until is not None:
        raise SignInLocked(until)
    user = await verify_password(app, owner.name, name, password, address=address)
    if user is None:
        raise InvalidCredentials()
    log.info("session.signed_in", company=owner.name, user=user.name, address=address)
    return SignedIn(owner.name, user.name, stamp)


async def resume(app: App, signed: SignedIn, session_id: str) -> bool:
    """Whether the session `session_id` of `signed` still stands: the company and user are
    there, the user has the password they signed in with, and it was not signed out."""
    async with app.snapshot() as conn:
        try:
            owner = await accounts.find_company(conn, signed.company)
        except UnknownCompany:
            return False
        changed = await passwords.password_set_at(conn, owner, signed.user)
        if changed is None or _stamp(changed) != signed.stamp:
            return False
        return not await sessions.ended(conn, session_id)


async def sign_out(app: App, signed: SignedIn, session_id: str, expires_at: datetime) -> None:
    """End the session `session_id` of `signed` (whose cookie expires at `expires_at`): a
    copy of its cookie opens nothing from now on."""
    async with app.transaction() as conn:
        await sessions.end(conn, session_id, expires_at, utcnow())
    log.info("session.signed_out", company=signed.company, user=signed.user)
