"""The door: a request carries `Authorization: Bearer TOKEN` and acts as the token's user,
or a browser session's cookie (dialer.api.sessions) and acts as its user; the token wins
when both are sent. A missing, malformed, unknown, revoked or expired token, or a session
that opens nothing, answers 401 with a Bearer challenge (RFC 6750); only the routes
declared public (health, the document, sign-in) need none."""

from __future__ import annotations

from aiohttp import web

from dialer.api import sessions
from dialer.api.errors import Handler, Problem
from dialer.api.state import APP, CALLER, PUBLIC
from dialer.services import Caller
from dialer.services.tokens import InvalidToken, authenticate


@web.middleware
async def authenticated(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The request's caller, from its token or session, unless its route is public (or
    there is no such route: its 404 or 405 reveals nothing)."""
    match = request.match_info
    if match.http_exception is None and match.route.name not in request.app[PUBLIC]:
        request[CALLER] = await _caller(request)
    return await handler(request)


async def _caller(request: web.Request) -> Caller:
    header = request.headers.get("Authorization", "")
    if not header and sessions.presented(request):
        try:
            return await sessions.caller(request)
        except sessions.NoSession as error:
            raise _unauthorized(str(error)) from error
    if not header:
        raise _unauthorized(
            "no token: send Authorization: Bearer TOKEN (`dialer tokens create` issues one), "
            "or sign in (POST /api/v1/session)"
        )
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("send the token as Authorization: Bearer TOKEN", "invalid_request")
    try:
        return await authenticate(request.app[APP], token.strip())
    except InvalidToken as error:
        raise _unauthorized(str(error), "invalid_token") from error


def _unauthorized(detail: str, error: str | None = None) -> Problem:
    challenge = 'Bearer realm="dialer"' + (f', error="{error}"' if error else "")
    return Problem(401, "unauthorized", detail, headers={"WWW-Authenticate": challenge})
