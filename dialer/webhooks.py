"""The carrier's way back in: status callbacks, the answer of a call and its keypresses.

Every request is signed by the carrier (403 when forged, and nothing changes) and names its
attempt in the URL we gave the carrier (400 when it names none, or another call).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import structlog
from aiohttp import web

from dialer.carriers import BadCallback
from dialer.dispatch import Dispatcher

log = structlog.get_logger("dialer.webhooks")
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
# Attempt ids are the database's 32-bit keys.
MAX_ATTEMPT_ID = 2**31 - 1
TWIML = "application/xml"


async def _verified(request: web.Request) -> tuple[Dispatcher, int, dict[str, str]]:
    """The dispatcher, the attempt the request names and its form, once its signature is
    the carrier's: on the URL as received, or as published (behind a proxy)."""
    dispatcher = request.app[DISPATCHER]
    params = {key: value for key, value in (await request.post()).items() if isinstance(value, str)}
    signature = request.headers.get("X-Twilio-Signature")
    published = f"{dispatcher.callback_base}{request.path_qs}"
    if not any(
        dispatcher.carrier.verify(url, params, signature) for url in (str(request.url), published)
    ):
        log.warning("webhook.forged", url=str(request.url), ip=request.remote)
        raise web.HTTPForbidden(text="bad signature")
    raw = request.query.get("attempt", "")
    if not raw.isdigit() or not 0 < int(raw) <= MAX_ATTEMPT_ID:
        raise _rejected(request, f"attempt {raw!r} is not an attempt id")
    return dispatcher, int(raw), params


def _rejected(request: web.Request, error: object) -> web.HTTPBadRequest:
    log.warning("webhook.rejected", url=str(request.url), error=str(error))
    return web.HTTPBadRequest(text=f"bad callback: {error}")


async def _handled(
    request: web.Request, work: Callable[[], Awaitable[web.Response]]
) -> web.Response:
    try:
        return await work()
    except (KeyError, ValueError, BadCallback) as error:
        raise _rejected(request, error) from error


async def status_callback(request: web.Request) -> web.Response:
    """A status callback: 204 once stored."""
    dispatcher, attempt_id, params = await _verified(request)

    async def store() -> web.Response:
        await dispatcher.on_callback(attempt_id, params)
        return web.Response(status=204)

    return await _handled(request, store)


async def answer(request: web.Request) -> web.Response:
    """A call was answered: the campaign's opt-out prompt, in a Gather."""
    return await _twiml(request, lambda d, a, p: d.on_answer(a, p))


async def gather(request: web.Request) -> web.Response:
    """The keys pressed at the prompt: committed before the caller hears the answer."""
    return await _twiml(request, lambda d, a, p: d.on_keypress(a, p))


async def _twiml(
    request: web.Request,
    respond: Callable[[Dispatcher, int, Mapping[str, str]], Awaitable[str]],
) -> web.Response:
    dispatcher, attempt_id, params = await _verified(request)

    async def render() -> web.Response:
        return web.Response(text=await respond(dispatcher, attempt_id, params), content_type=TWIML)

    return await _handled(request, render)


def webhook_app(dispatcher: Dispatcher) -> web.Application:
    app = web.Application()
    app[DISPATCHER] = dispatcher
    app.router.add_post("/webhooks/status", status_callback)
    app.router.add_post("/webhooks/answer", answer)
    app.router.add_post("/webhooks/gather", gather)
    return app
