"""API tokens through the API: admins issue, list and revoke them."""

from __future__ import annotations

from aiohttp import web

from dialer.api import paging
from dialer.api.routing import Routes, respond
from dialer.api.schemas import PageQuery, TokenCreate, TokenCreated, TokenPage, TokenPath
from dialer.api.state import APP, CALLER
from dialer.services import tokens as service

ROUTES = Routes()


@ROUTES.route(
    "GET",
    "/tokens",
    "The company's tokens (a non-admin's own), never their secrets",
    response=TokenPage,
    query=PageQuery,
)
async def list_tokens(request: web.Request, query: PageQuery) -> web.Response:
    found = await service.list_tokens(
        request.app[APP], request[CALLER], after=paging.after(query), limit=query.limit + 1
    )
    views = [service.token_view(token) for token in found]
    return respond(TokenPage, paging.page(request, views, query.limit))


@ROUTES.route(
    "POST",
    "/tokens",
    "Issue a token acting as a user (admins): its secret is in this answer only",
    status=201,
    response=TokenCreated,
    body=TokenCreate,
    idempotent=True,
    errors=(403,),
)
async def create_token(request: web.Request, body: TokenCreate) -> web.Response:
    created = await service.create(
        request.app[APP], request[CALLER], body.user, body.label, body.expires_at
    )
    return respond(TokenCreated, created.as_dict(), 201, {"Cache-Control": "no-store"})


@ROUTES.route(
    "DELETE",
    "/tokens/{id}",
    "Revoke a token (admins): from now on it opens nothing",
    status=204,
    path_model=TokenPath,
    errors=(403,),
)
async def revoke_token(request: web.Request, path: TokenPath) -> web.Response:
    await service.revoke(request.app[APP], request[CALLER], path.id)
    return web.Response(status=204)
