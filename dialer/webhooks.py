"""The carrier's way back in: status callbacks, the answer of a call and its keypresses,
and incoming texts.

Every request is signed by the carrier (403 when forged, and nothing changes). A call's or a
text's request names its attempt in the URL we gave the carrier (400 when it names none, or
another call); an incoming text names no attempt, but needs its From, To and MessageSid.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import structlog
from aiohttp import web

from campaigns.inbound import InboundText
from compliance import InvalidNumber, to_key
from dialer.carriers import BadCallback
from dialer.dispatch import Dispatcher

log = structlog.get_logger("dialer.webhooks")
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
# Attempt ids are the database's 32-bit keys.
MAX_ATTEMPT_ID = 2**31 - 1
TWIML = "application/xml"
INBOUND_FIELDS = ("From", "To", "MessageSid")
# Twilio's sids are 34 characters; the inbound messages table keeps up to 64.
LONGEST_SID = 64


async def _signed(request: web.Request) -> tuple[Dispatcher, dict[str, str]]:
    """The dispatcher and the request's form, once its signature is the carrier's: on the
    URL as received, or as published (behind a proxy); 403 when forged."""
    dispatcher = request.app[DISPATCHER]
    params = {key: value for key, value in (await request.post()).items() if isinstance(value, str)}
    signature = request.headers.get("X-Twilio-Signature")
    published = f"{dispatcher.callback_base}{request.path_qs}"
    if not any(
        dispatcher.carrier.verify(url, params, signature) for url in (str(request.url), published)
    ):
        log.warning("webhook.forged", url=str(request.url), ip=request.remote)
        raise web.HTTPForbidden(text="bad signature")
    return dispatcher, params


async def _verified(request: web.Request) -> tuple[Dispatcher, int, dict[str, str]]:
    """The dispatcher, the attempt the request names and its form, once signed."""
    dispatcher, params = await _signed(request)
    raw = request.query.get("attempt", "")
    if not raw.isdigit() or not 0 < int(raw) <= MAX_ATTEMPT_ID:
        raise _rejected(request, f"attempt {raw!r} is not an attempt id")
    return dispatcher, int(raw), params


def _rejected(request: web.Request, error: object) -> web.HTTPBadRequest:
    log.warning("webhook.rejected", url=str(request.url), error=str(error))
    return web.HTTPBadRequest(text=f"bad callback: {error}")


@contextmanager
def _bad_callbacks_refused(request: web.Request) -> Iterator[None]:
    """A request that names no attempt of ours, or another call, is answered 400."""
    try:
        yield
    except (KeyError, ValueError, BadCallback) as error:
        raise _rejected(request, error) from error


async def status_callback(request: web.Request) -> web.Response:
    """A status callback: 204 once stored."""
    dispatcher, attempt_id, params = await _verified(request)
    with _bad_callbacks_refused(request):
        await dispatcher.on_callback(attempt_id, params)
    return web.Response(status=204)


async def answer(request: web.Request) -> web.Response:
    """A call was answered: the campaign's opt-out prompt, in a Gather."""
    dispatcher, attempt_id, params = await _verified(request)
    with _bad_callbacks_refused(request):
        twiml = await dispatcher.on_answer(attempt_id, params)
    return web.Response(text=twiml, content_type=TWIML)


async def gather(request: web.Request) -> web.Response:
    """The keys pressed at the prompt: committed before the caller hears the answer."""
    dispatcher, attempt_id, params = await _verified(request)
    with _bad_callbacks_refused(request):
        twiml = await dispatcher.on_keypress(attempt_id, params)
    return web.Response(text=twiml, content_type=TWIML)


async def incoming_text(request: web.Request) -> web.Response:
    """A text came in: stored once and acted on, answered with its reply in TwiML (an empty
    answer for none, and for a number no company owns: the carrier must not retry)."""
    dispatcher, params = await _signed(request)
    missing = [name for name in INBOUND_FIELDS if not params.get(name)]
    if missing:
        raise _rejected(request, f"no {' or '.join(missing)}")
    if len(params["MessageSid"]) > LONGEST_SID:
        raise _rejected(request, f"MessageSid is longer than {LONGEST_SID} characters")
    for name in ("From", "To"):
        try:
            to_key(params[name])
        except InvalidNumber:
            raise _rejected(request, f"{name} {params[name]} is not an E.164 number") from None
    text = InboundText(
        params["MessageSid"],
        params["From"],
        params["To"],
        params.get("Body", ""),
        params.get("OptOutType") or None,
    )
    return web.Response(text=await dispatcher.on_inbound(text), content_type=TWIML)


def webhook_app(dispatcher: Dispatcher) -> web.Application:
    app = web.Application()
    app[DISPATCHER] = dispatcher
    app.router.add_post("/webhooks/status", status_callback)
    app.router.add_post("/webhooks/answer", answer)
    app.router.add_post("/webhooks/gather", gather)
    app.router.add_post("/webhooks/sms", incoming_text)
    return app
