"""The typed keys of the API's application and request state."""

from __future__ import annotations

from aiohttp import web
from aiohttp_session import Session
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from dialer.app import App
from dialer.dispatch.observer import Observer
from dialer.services import Caller

APP = web.AppKey("app", App)
# What the node's metrics learn of the API's own changes (DNC entries added).
OBSERVER = web.AppKey("observer", Observer)
# The names of the routes any client may call without a token.
PUBLIC = web.AppKey("public_routes", frozenset)
# Who a request acts as: its bearer token's user, or its session's.
CALLER = web.RequestKey("caller", Caller)
# Browser sessions (dialer.api.sessions): where their encrypted cookies are read and
# written; a request's session, when it authenticated it; one to save on the answer.
STORAGE = web.AppKey("session_storage", EncryptedCookieStorage)
SESSION = web.RequestKey("session", Session)
SAVE = web.RequestKey("session_to_save", Session)
