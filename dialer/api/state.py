"""The typed keys of the API's application and request state."""

from __future__ import annotations

from aiohttp import web

from dialer.app import App
from dialer.services import Caller

APP = web.AppKey("app", App)
# The names of the routes any client may call without a token.
PUBLIC = web.AppKey("public_routes", frozenset)
# Who a request acts as: its bearer token's user.
CALLER = web.RequestKey("caller", Caller)
