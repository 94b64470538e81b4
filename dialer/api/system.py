"""The API about itself: its health, who a token acts as, and its OpenAPI document."""

from __future__ import annotations

from aiohttp import web

from dialer.api.errors import Problem
from dialer.api.routing import Routes, respond
from dialer.api.schemas import Health, Me
from dialer.api.state import APP, CALLER
from dialer.app import database_answers
from dialer.services import tokens

OPENAPI = web.AppKey("openapi", dict)

ROUTES = Routes()


@ROUTES.route(
    "GET",
    "/healthz",
    "Whether the API and its database answer",
    response=Health,
    public=True,
    errors=(503,),
)
async def healthz(request: web.Request) -> web.Response:
    if not await database_answers(request.app[APP]):
        raise Problem(503, "database_unavailable", "the database does not answer")
    return respond(Health, {"status": "ok", "database": "ok"})


@ROUTES.route("GET", "/me", "The user the token acts as", response=Me)
async def me(request: web.Request) -> web.Response:
    return respond(Me, await tokens.whoami(request.app[APP], request[CALLER]))


@ROUTES.route(
    "GET",
    "/openapi.json",
    "This API's OpenAPI 3.1 document",
    response={"type": "object", "description": "An OpenAPI 3.1 document."},
    public=True,
)
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])
