"""The REST API, `/api/v1`: JSON over the application layer (dialer.services), mounted by
`dialer serve` on the webhook port beside /webhooks.

Routes are declared once (each module's `ROUTES`, gathered here); the router and the
OpenAPI document at /api/v1/openapi.json are both built from them. Every request but the
public ones carries a bearer token or a session cookie (`auth`, `sessions`); every error
is a problem document (`errors`).
"""

from __future__ import annotations

from aiohttp import web

from dialer.api import (
    admin,
    campaigns,
    dnc,
    inbound,
    leads,
    lists,
    nodes,
    reports,
    sessions,
    system,
    tokens,
)
from dialer.api.auth import authenticated
from dialer.api.errors import problems
from dialer.api.openapi import document
from dialer.api.routing import Routes
from dialer.api.state import APP, OBSERVER, STORAGE
from dialer.app import App
from dialer.dispatch.observer import NO_OBSERVER, Observer

__all__ = ["PREFIX", "ROUTES", "api_app"]

PREFIX = "/api/v1"
ROUTES = Routes(
    [
        *system.ROUTES,
        *tokens.ROUTES,
        *sessions.ROUTES,
        *dnc.ROUTES,
        *leads.ROUTES,
        *campaigns.ROUTES,
        *reports.ROUTES,
        *admin.ROUTES,
        *lists.ROUTES,
        *inbound.ROUTES,
        *nodes.ROUTES,
    ]
)


def api_app(app: App, observer: Observer = NO_OBSERVER) -> web.Application:
    """The API as an aiohttp sub-application, to mount at PREFIX; `observer` counts the
    DNC entries it adds."""
    api = web.Application(middlewares=[sessions.kept, problems, authenticated])
    api[APP] = app
    api[OBSERVER] = observer
    api[STORAGE] = sessions.storage(app.settings)
    api[system.OPENAPI] = document(ROUTES)
    ROUTES.add_to(api)
    return api
