"""API tokens: issued, listed and revoked by admins (or the local operator), and presented
by API clients, who then act as the token's user."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from compliance import LOCAL_OPERATOR, Permission, Role, tokens
from compliance.accounts import may
from compliance.tokens import InvalidToken, Token, TokenRefused, UnknownToken
from dialer.app import App, utcnow
from dialer.services import Caller, acting

__all__ = [
    "Created",
    "InvalidToken",
    "TokenRefused",
    "UnknownToken",
    "authenticate",
    "create",
    "list_tokens",
    "revoke",
    "token_view",
    "whoami",
]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


@dataclass(frozen=True, slots=True)
class Created:
    """A token just issued, with its whole text: shown this once, never stored."""

    token: Token
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.token.id,
            "token": self.text,
            "user": self.token.user,
            "label": self.token.label,
            "expires_at": _iso(self.token.expires_at),
        }


def token_view(token: Token) -> dict[str, Any]:
    """A token as listed, never its secret; `state` is active, revoked or expired."""
    return {
        "id": token.id,
        "user": token.user,
        "label": token.label,
        "state": token.state(utcnow()),
        "created_at": _iso(token.created_at),
        "created_by": token.created_by,
        "expires_at": _iso(token.expires_at),
        "revoked_at": _iso(token.revoked_at),
        "revoked_by": token.revoked_by,
        "last_used_at": _iso(token.last_used_at),
    }


async def create(
    app: App, caller: Caller, user: str, label: str = "", expires_at: datetime | None = None
) -> Created:
    """Issue a token acting as `user` of the caller's company: admins manage tokens.
    TokenRefused for no such user, a bad label or an expiry already passed."""
    async with app.transaction() as conn:
        who = await acting(app, conn, caller, Permission.MANAGE_USERS)
        token, text = await tokens.issue(
            conn, who.company, user, label, expires_at=expires_at, by=who.actor, now=utcnow()
        )
    return Created(token, text)


async def list_tokens(
    app: App, caller: Caller, *, after: int | None = None, limit: int | None = None
) -> list[Token]:
    """The company's tokens in order of id (after `after`, at most `limit`): every one for
    an admin or the local operator, a user's own for the others."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        own = None if who.user is None or may(who.user, Permission.MANAGE_USERS) else who.actor
        return await tokens.list_tokens(conn, who.company, user=own, after=after, limit=limit)


async def revoke(app: App, caller: Caller, token_id: int) -> Token:
    """Revoke a token of the caller's company from now on (admins); UnknownToken when the
    company has none of that id, whoever else may have one."""
    async with app.transaction() as conn:
        who = await acting(app, conn, caller, Permission.MANAGE_USERS)
        return await tokens.revoke(conn, who.company, token_id, by=who.actor, now=utcnow())


async def authenticate(app: App, bearer: str) -> Caller:
    """Who presents the token `bearer`: its user, of its company. InvalidToken when it is
    malformed, unknown, not its secret, revoked or expired, or its user is gone. Its last
    use is recorded, at most once a minute."""
    token_id, secret = tokens.parse(bearer)
    async with app.snapshot() as conn:
        found = await tokens.find(conn, token_id, secret)
    now = utcnow()
    if found is None:
        raise InvalidToken("unknown token, or a wrong secret")
    state = found.token.state(now)
    if state != "active":
        raise InvalidToken(f"token {token_id} is {state}")
    if tokens.due_for_touch(found.token, now):
        async with app.transaction() as conn:
            await tokens.touch(conn, token_id, now)
    return Caller(found.company, found.user.name)


async def whoami(app: App, caller: Caller) -> dict[str, Any]:
    """The caller's user as the API shows it (the local operator may do anything)."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
    if who.user is None:
        return {
            "name": LOCAL_OPERATOR,
            "role": Role.ADMIN.value,
            "can_remove_dnc": True,
            "company": who.company.name,
        }
    return {
        "name": who.user.name,
        "role": who.user.role.value,
        "can_remove_dnc": who.user.can_remove_dnc,
        "company": who.company.name,
    }
