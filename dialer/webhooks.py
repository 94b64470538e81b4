"""The carrier's way back in: status callbacks, checked, stored once, applied."""

from __future__ import annotations

import structlog
from aiohttp import web

from dialer.carriers import BadCallback
from dialer.engine import Engine

log = structlog.get_logger("dialer.webhooks")
ENGINE = web.AppKey("engine", Engine)

# Answering a call: offer the opt-out key, whose digits come back with the status.
ANSWER_TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Gather numDigits="1" timeout="5">'
    "<Say>Press 9 to stop receiving calls.</Say></Gather></Response>"
)


async def status_callback(request: web.Request) -> web.Response:
    """A signed status callback: 403 when forged, 400 when malformed, 204 once stored."""
    engine = request.app[ENGINE]
    params = {key: value for key, value in (await request.post()).items() if isinstance(value, str)}
    signature = request.headers.get("X-Twilio-Signature")
    if not engine.carrier.verify(str(request.url), params, signature):
        log.warning("webhook.forged", url=str(request.url), ip=request.remote)
        raise web.HTTPForbidden(text="bad signature")
    try:
        attempt_id = int(request.query["attempt"])
        await engine.on_callback(attempt_id, params)
    except (KeyError, ValueError, BadCallback) as error:
        log.warning("webhook.rejected", url=str(request.url), error=str(error))
        raise web.HTTPBadRequest(text=f"bad callback: {error}") from error
    return web.Response(status=204)


async def answer(request: web.Request) -> web.Response:
    return web.Response(text=ANSWER_TWIML, content_type="application/xml")


def webhook_app(engine: Engine) -> web.Application:
    app = web.Application()
    app[ENGINE] = engine
    app.router.add_post("/webhooks/status", status_callback)
    app.router.add_post("/webhooks/answer", answer)
    return app
