"""API tokens in storage: a bearer secret that acts as one user of its company.

A token reads `dlr_<id>_<secret>`: the prefix makes a leaked one easy to find, the id finds
its row, the secret (32 random bytes) proves it. Only the SHA-256 of the secret is kept: a
secret that random needs no slow hash, and a stolen table gives no usable token. The rows'
transitions are here: issued, used (at most once a minute), revoked.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Row, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from compliance.accounts import Company, Role, User
from compliance.tables import api_tokens, companies, users

log = structlog.get_logger("compliance.tokens")

PREFIX = "dlr_"
# Ids are the database's 32-bit keys; token_urlsafe(32) writes 43 characters.
_FORMAT = re.compile(rf"{PREFIX}([1-9][0-9]{{0,9}})_([A-Za-z0-9_-]{{43}})")
MAX_TOKEN_ID = 2**31 - 1
MAX_LABEL = 200
# A busy client would otherwise write a row per request.
TOUCH_EVERY = timedelta(minutes=1)


class InvalidToken(PermissionError):
    """A bearer token that is malformed, unknown, revoked or expired, or whose user is gone;
    it opens nothing."""


class UnknownToken(LookupError):
    """No token with that id in the company."""


class TokenRefused(ValueError):
    """A token that cannot be issued as asked; nothing was changed."""


@dataclass(frozen=True, slots=True)
class Token:
    """A token as listed: never its secret."""

    id: int
    user: str
    label: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None
    last_used_at: datetime | None

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


@dataclass(frozen=True, slots=True)
class Bearer:
    """Who a presented token acts as: the user of its company."""

    token: Token
    company: str
    user: User


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse(text: str) -> tuple[int, str]:
    """The id and secret of a token as presented; InvalidToken when it is not one."""
    match = _FORMAT.fullmatch(text)
    if match is None or int(match[1]) > MAX_TOKEN_ID:
        raise InvalidToken(f"malformed token: a token reads {PREFIX}<id>_<secret>")
    return int(match[1]), match[2]


def check_label(label: str) -> str:
    if len(label) > MAX_LABEL:
        raise TokenRefused(f"a token's label has at most {MAX_LABEL} characters")
    if any(unicodedata.category(char).startswith("C") for char in label):
        raise TokenRefused("a token's label cannot hold control or invisible characters")
    return label


async def issue(
    conn: AsyncConnection,
    company: Company,
    user_name: str,
    label: str,
    *,
    expires_at: datetime | None,
    by: str,
    now: datetime,
) -> tuple[Token, str]:
    """A new token acting as `user_name` of `company`, and its whole text: the only time
    the secret is seen. TokenRefused for no such user, a bad label or a passed expiry."""
    check_label(label)
    if expires_at is not None and expires_at <= now:
        raise TokenRefused(f"{expires_at.isoformat()} has passed: give an instant still to come")
    user_id = (
        await conn.execute(
            select(users.c.id).where(users.c.company_id == company.id, users.c.name == user_name)
        )
    ).scalar()
    if user_id is None:
        raise TokenRefused(
            f"no user named {user_name!r} in this company; add one with `dialer users add`"
        )
    secret = secrets.token_urlsafe(32)
    token_id = (
        await conn.execute(
            insert(api_tokens)
            .values(
                company_id=company.id,
                user_id=user_id,
                label=label,
                secret_hash=hash_secret(secret),
                created_at=now,
                created_by=by,
                expires_at=expires_at,
            )
            .returning(api_tokens.c.id)
        )
    ).scalar_one()
    log.info("token.issued", company=company.name, token_id=token_id, user=user_name, by=by)
    token = Token(token_id, user_name, label, now, by, expires_at, None, None, None)
    return token, f"{PREFIX}{token_id}_{secret}"


_LISTED = (
    api_tokens.c.id,
    users.c.name.label("user"),
    api_tokens.c.label,
    api_tokens.c.created_at,
    api_tokens.c.created_by,
    api_tokens.c.expires_at,
    api_tokens.c.revoked_at,
    api_tokens.c.revoked_by,
    api_tokens.c.last_used_at,
)


def _token(row: Row) -> Token:
    return Token(*(row._mapping[column.key] for column in _LISTED))


async def find(conn: AsyncConnection, token_id: int, secret: str) -> Bearer | None:
    """The holder of the token `token_id` if `secret` is its secret, whatever its state;
    None when there is no such token (or no longer its user) or the secret is wrong."""
    row = (
        await conn.execute(
            select(
                *_LISTED,
                api_tokens.c.secret_hash,
                users.c.role,
                users.c.can_remove_dnc,
                companies.c.name.label("company"),
            )
            .join(users, users.c.id == api_tokens.c.user_id)
            .join(companies, companies.c.id == api_tokens.c.company_id)
            .where(api_tokens.c.id == token_id)
        )
    ).first()
    if row is None or not hmac.compare_digest(row.secret_hash, hash_secret(secret)):
        return None
    return Bearer(_token(row), row.company, User(row.user, Role(row.role), row.can_remove_dnc))


def due_for_touch(token: Token, now: datetime) -> bool:
    return token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY


async def touch(conn: AsyncConnection, token_id: int, now: datetime) -> None:
    """Record that the token was used now, unless that was recorded less than TOUCH_EVERY
    ago (by a request racing this one, say)."""
    await conn.execute(
        update(api_tokens)
        .where(
            api_tokens.c.id == token_id,
            or_(
                api_tokens.c.last_used_at.is_(None), api_tokens.c.last_used_at <= now - TOUCH_EVERY
            ),
        )
        .values(last_used_at=now)
    )


async def list_tokens(
    conn: AsyncConnection,
    company: Company,
    *,
    user: str | None = None,
    after: int | None = None,
    limit: int | None = None,
) -> list[Token]:
    """The company's tokens (of one user when named) in order of id, from after `after`."""
    query = (
        select(*_LISTED)
        .join(users, users.c.id == api_tokens.c.user_id)
        .where(api_tokens.c.company_id == company.id)
        .order_by(api_tokens.c.id)
        .limit(limit)
    )
    if user is not None:
        query = query.where(users.c.name == user)
    if after is not None:
        query = query.where(api_tokens.c.id > after)
    return [_token(row) for row in await conn.execute(query)]


async def revoke(
    conn: AsyncConnection, company: Company, token_id: int, *, by: str, now: datetime
) -> Token:
    """Revoke a token of `company` from now on (one already revoked stays as it was);
    UnknownToken when the company has no token of that id."""
    revoked = await conn.execute(
        update(api_tokens)
        .where(
            api_tokens.c.id == token_id,
            api_tokens.c.company_id == company.id,
            api_tokens.c.revoked_at.is_(None),
        )
        .values(revoked_at=now, revoked_by=by)
    )
    row = (
        await conn.execute(
            select(*_LISTED)
            .join(users, users.c.id == api_tokens.c.user_id)
            .where(api_tokens.c.id == token_id, api_tokens.c.company_id == company.id)
        )
    ).first()
    if row is None:
        raise UnknownToken(f"no token with id {token_id} in this company")
    if revoked.rowcount:
        log.info("token.revoked", company=company.name, token_id=token_id, by=by)
    return _token(row)
