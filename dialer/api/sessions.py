"""Browser sessions: sign in with a name and password, get an encrypted cookie.

The session lives in its cookie (aiohttp-session's EncryptedCookieStorage: Fernet, keyed
by the secret_key setting, so that every node sharing the key accepts it), HttpOnly,
SameSite=Lax, Secure when public_url is https. It lasts LIFETIME from sign-in at most, and
IDLE_TIMEOUT without a request. Signing in starts a new session (no fixation); signing out
records its id, so that a copy of the cookie opens nothing either. Each request re-reads
the user: one gone, or with another password than the session began with, is signed out.

CSRF: a request made with the cookie that changes anything (POST, PUT, PATCH, DELETE)
carries the session's token in X-CSRF-Token (a synchronizer token), and comes from a page
of this server (Origin, Sec-Fetch-Site). Bearer requests need neither: no browser sends a
token by itself. Sign-in checks the origin too, against login CSRF.
"""

from __future__ import annotations

import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp_session import Session
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from dialer.api.errors import Handler, Problem
from dialer.api.routing import Routes, respond
from dialer.api.schemas import Session as SessionView
from dialer.api.schemas import SessionCreate
from dialer.api.state import APP, SAVE, SESSION, STORAGE
from dialer.app import App, utcnow
from dialer.services import Caller, tokens
from dialer.services import sessions as service
from dialer.services.sessions import InvalidCredentials, SignedIn, SignInLocked
from dialer.settings import InvalidSettings, Settings

__all__ = ["COOKIE", "CSRF_HEADER", "ROUTES", "NoSession", "caller", "kept", "presented", "storage"]

COOKIE = "dialer_session"
CSRF_HEADER = "X-CSRF-Token"
LIFETIME = timedelta(hours=8)
IDLE_TIMEOUT = timedelta(hours=1)
# How stale the last-seen time may get before a request renews it (and the cookie).
REFRESH = timedelta(minutes=1)
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Sec-Fetch-Site values of requests from our own pages, or typed by the user.
_OWN_SITE = frozenset({"same-origin", "none"})
_NO_STORE = {"Cache-Control": "no-store"}

ROUTES = Routes()


class NoSession(Exception):
    """The session cookie opens nothing (any more); the message says why."""


def storage(settings: Settings) -> EncryptedCookieStorage:
    """Where sessions are kept: cookies encrypted with the secret_key setting.
    InvalidSettings when there is none: `dialer serve` refuses to start without it."""
    if not settings.secret_key:
        raise InvalidSettings(
            "no secret_key: run `dialer init` (it writes one into the data folder) or set "
            "DIALER_SECRET_KEY; every node needs the same key"
        )
    # A malformed key never gets here: Settings refuses it.
    return EncryptedCookieStorage(
        settings.secret_key,
        cookie_name=COOKIE,
        max_age=int(LIFETIME.total_seconds()),
        httponly=True,
        samesite="Lax",
        secure=settings.public_url.startswith("https://"),
    )


@web.middleware
async def kept(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Write the session a request began, renewed or ended into its answer's cookie."""
    response = await handler(request)
    session = request.get(SAVE)
    if session is not None and isinstance(response, web.Response):
        await request.app[STORAGE].save_session(request, response, session)
    return response


@dataclass(frozen=True, slots=True)
class _Held:
    """What a session's cookie holds."""

    signed: SignedIn
    id: str
    csrf: str
    signed_in_at: datetime
    seen_at: datetime

    @property
    def expires_at(self) -> datetime:
        return self.signed_in_at + LIFETIME


def _held(session: Session) -> _Held | None:
    try:
        return _Held(
            SignedIn(session["company"], session["user"], session["stamp"]),
            session["id"],
            session["csrf"],
            datetime.fromtimestamp(session["signed_in"], UTC),
            datetime.fromtimestamp(session["seen"], UTC),
        )
    except (KeyError, TypeError, ValueError, OverflowError):  # empty, or of another form
        return None


def _contents(held: _Held) -> dict[str, Any]:
    return {
        "id": held.id,
        "company": held.signed.company,
        "user": held.signed.user,
        "stamp": held.signed.stamp,
        "csrf": held.csrf,
        "signed_in": int(held.signed_in_at.timestamp()),
        "seen": int(held.seen_at.timestamp()),
    }


def presented(request: web.Request) -> bool:
    """Whether the request carries a session cookie, valid or not."""
    return COOKIE in request.cookies


async def caller(request: web.Request) -> Caller:
    """The user the request's session names, if it still stands, and, for a request that
    changes anything, if it passes the CSRF checks (403 else). NoSession when the cookie
    opens nothing; the answer then clears it."""
    session = await request.app[STORAGE].load_session(request)
    held, now = _held(session), utcnow()
    if held is None:
        raise _ended(request, session, "the session cookie is not valid: sign in again")
    if now >= held.expires_at or now >= held.seen_at + IDLE_TIMEOUT:
        raise _ended(request, session, "the session has expired: sign in again")
    if not await service.resume(request.app[APP], held.signed, held.id):
        raise _ended(
            request,
            session,
            "the session has ended (signed out, a new password, or the user is gone): "
            "sign in again",
        )
    if request.method in UNSAFE:
        _from_own_page(request)
        given = request.headers.get(CSRF_HEADER, "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, held.csrf.encode()):
            raise _csrf_failed(
                f"a change made with the session cookie needs the session's CSRF token in "
                f"{CSRF_HEADER} (from POST or GET /api/v1/session)"
            )
    if now - held.seen_at >= REFRESH:
        session["seen"] = int(now.timestamp())
        request[SAVE] = session
    request[SESSION] = session
    return Caller(held.signed.company, held.signed.user)


def _ended(request: web.Request, session: Session, why: str) -> NoSession:
    session.invalidate()
    request[SAVE] = session
    return NoSession(why)


def _from_own_page(request: web.Request) -> None:
    """403 for a request a browser sent from another site's page: its Sec-Fetch-Site, or
    an Origin other than this server's (public_url's, or the Host it was sent to)."""
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in _OWN_SITE:
        raise _csrf_failed("the request came from another site's page (Sec-Fetch-Site)")
    origin = request.headers.get("Origin")
    if origin is not None and origin.lower() not in _own_origins(request):
        raise _csrf_failed("the request came from another origin (Origin)")


def _own_origins(request: web.Request) -> set[str]:
    public = urlsplit(request.app[APP].settings.public_url)
    own = {f"{request.scheme}://{request.host}".lower()}
    if public.netloc:
        own.add(f"{public.scheme}://{public.netloc}".lower())
    return own


def _csrf_failed(detail: str) -> Problem:
    return Problem(403, "csrf_failed", f"{detail}; nothing was changed")


def _signed_in(request: web.Request) -> tuple[Session, _Held]:
    session = request.get(SESSION)
    held = None if session is None else _held(session)
    if session is None or held is None:
        raise Problem(404, "not_found", "no session: this request carries a bearer token")
    return session, held


async def _view(app: App, held: _Held) -> dict[str, Any]:
    return {
        "user": await tokens.whoami(app, Caller(held.signed.company, held.signed.user)),
        "csrf_token": held.csrf,
        "expires_at": held.expires_at.isoformat(),
    }


@ROUTES.route(
    "POST",
    "/session",
    "Sign in: a session cookie (encrypted, HttpOnly) and its CSRF token",
    response=SessionView,
    body=SessionCreate,
    public=True,
    errors=(401, 403, 429),
)
async def sign_in(request: web.Request, body: SessionCreate) -> web.Response:
    _from_own_page(request)  # login CSRF: no other site signs a browser in as someone
    # The address the lockout counts is the peer's. Behind a reverse proxy that is the
    # proxy's, for every client alike: one lock for all after MAX_FAILURES_PER_ADDRESS.
    # X-Forwarded-For is not trusted: any client could write it.
    address = request.remote or "unknown"
    app = request.app[APP]
    try:
        signed = await service.sign_in(app, body.company, body.user, body.password, address=address)
    except InvalidCredentials:
        raise Problem(401, "invalid_credentials", "no user of that name and password") from None
    except SignInLocked as locked:
        wait = max(1, math.ceil((locked.until - utcnow()).total_seconds()))
        raise Problem(
            429,
            "too_many_attempts",
            f"too many failed sign-ins as this user or from this address: try again in "
            f"{wait} seconds",
            headers={"Retry-After": str(wait)},
        ) from None
    now = utcnow().replace(microsecond=0)  # the cookie keeps whole seconds
    held = _Held(signed, secrets.token_urlsafe(16), secrets.token_urlsafe(32), now, now)
    session = await request.app[STORAGE].new_session()  # a new identity: no fixation
    session.update(_contents(held))
    request[SAVE] = session
    return respond(SessionView, await _view(app, held), headers=_NO_STORE)


@ROUTES.route(
    "GET",
    "/session",
    "The signed-in user and the session's CSRF token, for a page loaded anew",
    response=SessionView,
    errors=(404,),
)
async def show_session(request: web.Request) -> web.Response:
    _, held = _signed_in(request)
    return respond(SessionView, await _view(request.app[APP], held), headers=_NO_STORE)


@ROUTES.route(
    "DELETE",
    "/session",
    "Sign out: the session cookie, and any copy of it, opens nothing from now on",
    status=204,
    errors=(403, 404),
)
async def sign_out(request: web.Request) -> web.Response:
    session, held = _signed_in(request)
    await service.sign_out(request.app[APP], held.signed, held.id, held.expires_at)
    session.invalidate()
    request[SAVE] = session
    return web.Response(status=204)
