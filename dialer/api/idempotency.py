"""`Idempotency-Key` on POSTs that create: a retried request gets the first answer and
changes nothing more (draft-ietf-httpapi-idempotency-key-header). Any route declared
`idempotent` has it (dialer.api.routing).

The first request with a key reserves it (per company) before it runs, and records its
answer once it succeeded; a retry with the same request replays that answer, one with
another request is refused (422), one while the first is under way too (409). A request
that failed releases its key: it changed nothing, so trying again is safe. Answers are kept
for a day, sealed with a key derived from the Idempotency-Key itself, which is kept only
hashed: a stored answer (a new token's secret, say) is no use to a reader of the database.
A reservation left by a request that died before recording (a crash between its commit and
its answer) is taken over after a minute: the one window in which a retry repeats.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from campaigns.tables import idempotency_keys
from compliance import accounts
from dialer.api.errors import Problem
from dialer.api.state import APP, CALLER
from dialer.app import App, utcnow
from dialer.services import Caller

KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY = 255
_KEY = re.compile(rf"[\x21-\x7e]{{1,{MAX_KEY}}}")  # visible ASCII
RETENTION = timedelta(days=1)
ABANDONED = timedelta(minutes=1)
_NONCE = 12


async def once(
    request: web.Request, body: Any, handler: Any, arguments: Mapping[str, Any]
) -> web.StreamResponse:
    """Run `handler` once per Idempotency-Key (every time without one). `body` is the
    request's validated body: its fingerprint, with the method, path and user, tells a
    retry from another request under the same key."""
    key = request.headers.get(KEY_HEADER)
    if key is None:
        return await handler(request, **arguments)
    if not _KEY.fullmatch(key):
        raise Problem(
            400,
            "invalid_idempotency_key",
            f"{KEY_HEADER} is 1 to {MAX_KEY} visible ASCII characters, e.g. a UUID",
        )
    app, caller = request.app[APP], request[CALLER]
    fingerprint = _fingerprint(request, caller, body)
    lookup = hashlib.sha256(key.encode()).hexdigest()
    stored = await _reserve(app, caller, lookup, fingerprint)
    if stored is not None:
        status, sealed = stored
        return _replayed(status, _open(key, sealed, fingerprint))
    try:
        response = await handler(request, **arguments)
    except BaseException:
        await _release(app, caller, lookup)
        raise
    if isinstance(response, web.Response) and 200 <= response.status < 300:
        content = response.body if isinstance(response.body, bytes) else b""
        await _record(app, caller, lookup, response.status, _seal(key, content, fingerprint))
    else:
        await _release(app, caller, lookup)
    return response


def _fingerprint(request: web.Request, caller: Caller, body: Any) -> str:
    text = json.dumps([request.method, request.path, caller.user, body], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _cipher(key: str) -> AESGCM:
    return AESGCM(hashlib.sha256(b"dialer idempotent answer\0" + key.encode()).digest())


def _seal(key: str, content: bytes, fingerprint: str) -> str:
    nonce = os.urandom(_NONCE)
    sealed = _cipher(key).encrypt(nonce, content, fingerprint.encode())
    return base64.b64encode(nonce + sealed).decode()


def _open(key: str, sealed: str, fingerprint: str) -> bytes:
    raw = base64.b64decode(sealed)
    return _cipher(key).decrypt(raw[:_NONCE], raw[_NONCE:], fingerprint.encode())


def _replayed(status: int, content: bytes) -> web.Response:
    headers = {REPLAYED_HEADER: "true", "Cache-Control": "no-store"}
    if not content:
        return web.Response(status=status, headers=headers)
    return web.Response(
        status=status, body=content, content_type="application/json", headers=headers
    )


def _in_use() -> Problem:
    return Problem(
        409,
        "idempotency_key_in_use",
        "a request with this Idempotency-Key is under way; try again in a moment",
    )


async def _reserve(
    app: App, caller: Caller, lookup: str, fingerprint: str
) -> tuple[int, str] | None:
    """Reserve the key for this request (None), or the answer recorded for it."""
    now = utcnow()
    try:
        async with app.transaction() as conn:
            company = await accounts.find_company(conn, caller.company or "")
            here = idempotency_keys.c.company_id == company.id
            await conn.execute(
                delete(idempotency_keys).where(
                    here, idempotency_keys.c.created_at < now - RETENTION
                )
            )
            row = (
                await conn.execute(
                    select(idempotency_keys).where(here, idempotency_keys.c.key == lookup)
                )
            ).first()
            if row is None:
                await conn.execute(
                    insert(idempotency_keys).values(
                        company_id=company.id, key=lookup, fingerprint=fingerprint, created_at=now
                    )
                )
                return None
            if row.fingerprint != fingerprint:
                raise Problem(
                    422,
                    "idempotency_key_reused",
                    f"this {KEY_HEADER} was used for another request: use a new key",
                )
            if row.status is not None:
                return row.status, row.body
            if now - row.created_at < ABANDONED:
                raise _in_use()
            await conn.execute(
                update(idempotency_keys)
                .where(here, idempotency_keys.c.key == lookup)
                .values(created_at=now)
            )
            return None
    except IntegrityError as error:  # another request reserved it meanwhile
        raise _in_use() from error


async def _record(app: App, caller: Caller, lookup: str, status: int, sealed: str) -> None:
    async with app.transaction() as conn:
        company = await accounts.find_company(conn, caller.company or "")
        await conn.execute(
            update(idempotency_keys)
            .where(idempotency_keys.c.company_id == company.id, idempotency_keys.c.key == lookup)
            .values(status=status, body=sealed)
        )


async def _release(app: App, caller: Caller, lookup: str) -> None:
    async with app.transaction() as conn:
        company = await accounts.find_company(conn, caller.company or "")
        await conn.execute(
            delete(idempotency_keys).where(
                idempotency_keys.c.company_id == company.id, idempotency_keys.c.key == lookup
            )
        )
