"""Carriers: the Twilio-compatible adapter against the simulated carrier, both on 127.0.0.1.

Status callbacks and TwiML requests go to a small aiohttp app that checks each signature with
the official twilio library's `RequestValidator` (and status callbacks with the adapter's
`verify` too, as the dialer's webhook will); its TwiML is built with the library's
`VoiceResponse`, so the simulator is held to what Twilio does, not to what we think it does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import socket
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import MultiDict
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.voice_response import Gather, VoiceResponse

from dialer.carriers import (
    BadCallback,
    CarrierError,
    CarrierEvent,
    TwilioCarrier,
    advances,
    compute_signature,
)
from dialer.carriers.simulator import Outcome, Scenario, Simulator
from dialer.carriers.twiml import MAX_DOCUMENT_BYTES, MAX_REQUESTS

ACCOUNT = "AC" + "5" * 32
TOKEN = "test-auth-token"
CALLER = "+13055550100"
ANSWER_URL = "https://dialer.example/answer"
PROJECT = Path(__file__).resolve().parent.parent

SCENARIO = Scenario(
    seed=7,
    default={"answered": 1.0},
    outcomes=[
        Outcome("+13055550142", "answered", "9"),
        Outcome("*99", "machine"),
        Outcome("*77", "busy"),
        Outcome("+12125550100", "no-answer"),
        Outcome("*13", "undelivered"),
    ],
)


OPT_OUT = "Press 9 to stop receiving calls."
GOODBYE = "You will not be called again. Goodbye."


def opt_out_menu(action: str | None = "gather", method: str = "POST") -> str:
    """The engine's answer: a one-key Gather, then what a callee who presses nothing hears."""
    response = VoiceResponse()
    gather = Gather(action=action, method=method, num_digits=1, timeout=5)
    gather.say(OPT_OUT)
    response.append(gather)
    response.say("Goodbye.")
    return str(response)


def goodbye() -> str:
    response = VoiceResponse()
    response.say(GOODBYE)
    response.hangup()
    return str(response)


class Receiver:
    """The dialer's webhooks in miniature: check each signature, then parse the callback or
    answer with the TwiML page asked for."""

    def __init__(self) -> None:
        self.carrier = TwilioCarrier(ACCOUNT, TOKEN)
        self.validator = RequestValidator(TOKEN)
        self.events: list[CarrierEvent] = []
        self.rejected = 0
        self.dropped = 0  # connections to cut before answering, to exercise retries
        # The application's TwiML by page name, or the HTTP status the page fails with.
        self.pages: dict[str, str | int] = {"answer": opt_out_menu(), "gather": goodbye()}
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # TwiML: method, URL, params
        app = web.Application()
        app.router.add_post("/status", self.handle)
        app.router.add_route("*", "/twiml/{page}", self.serve_twiml)
        self.server = TestServer(app, host="127.0.0.1")

    @property
    def url(self) -> str:
        return str(self.server.make_url("/status"))

    def twiml_url(self, page: str = "answer") -> str:
        return str(self.server.make_url(f"/twiml/{page}"))

    async def handle(self, request: web.Request) -> web.Response:
        if self.dropped:
            self.dropped -= 1
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=204)
        params = await request.post()
        signature = request.headers.get("X-Twilio-Signature")
        verified = self.carrier.verify(str(request.url), params, signature)
        if not (verified and self.validator.validate(str(request.url), params, signature)):
            self.rejected += 1
            raise web.HTTPForbidden()
        self.events.append(self.carrier.parse_callback(params))
        return web.Response(status=204)

    async def serve_twiml(self, request: web.Request) -> web.Response:
        # A GET carries its parameters in the query, which the signature covers with the URL.
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        params = form if request.method == "POST" else dict(request.query)
        signature = request.headers.get("X-Twilio-Signature", "")
        if not self.validator.validate(str(request.url), form, signature):
            self.rejected += 1
            raise web.HTTPForbidden()
        self.requests.append((request.method, str(request.url), params))
        page = self.pages[request.match_info["page"]]
        if isinstance(page, int):
            return web.Response(status=page, text="application error")
        return web.Response(text=page, content_type="application/xml")

    def statuses(self, sid: str) -> list[str]:
        return [event.status for event in self.events if event.sid == sid]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    await receiver.server.start_server()
    yield receiver
    await receiver.server.close()


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    async with Simulator(SCENARIO, ACCOUNT, TOKEN, retry_delay=0.01) as simulator:
        yield simulator


@pytest.fixture
async def carrier(simulator: Simulator) -> AsyncIterator[TwilioCarrier]:
    async with TwilioCarrier(ACCOUNT, TOKEN, base_url=simulator.url) as carrier:
        yield carrier


@pytest.fixture
async def fake_api() -> AsyncIterator[tuple[TestServer, list[tuple[web.Request, MultiDict]]]]:
    """A stand-in carrier API that records requests; a base URL of /NAME picks a misbehaviour."""
    seen: list[tuple[web.Request, MultiDict]] = []
    limited = {"code": 20429, "message": "Too Many Requests", "status": 429}
    misbehaviours = {
        "broken": web.Response(status=502, text="<html>Bad Gateway</html>"),
        "limited": web.json_response(limited, status=429),
        "garbage": web.Response(status=201, text="ok"),
        "nosid": web.json_response({"status": "queued"}, status=201),
    }

    async def handle(request: web.Request) -> web.Response:
        seen.append((request, MultiDict(await request.post())))
        name = request.path.split("/")[1]
        if name in misbehaviours:
            return misbehaviours[name]
        return web.json_response({"sid": "CA" + "0" * 32, "status": "queued"}, status=201)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server, seen
    await server.close()


# --- calls and texts through the adapter against the simulator ---


@pytest.mark.parametrize(
    ("number", "statuses", "result", "pressed", "answered_by"),
    [
        (
            "+13055550142",
            ["initiated", "ringing", "in-progress", "completed"],
            "answered",
            "9",
            "human",
        ),
        (
            "+13055550199",
            ["initiated", "ringing", "in-progress", "completed"],
            "machine",
            None,
            "machine_start",
        ),
        ("+13055550177", ["initiated", "ringing", "busy"], "busy", None, None),
        ("+12125550100", ["initiated", "ringing", "no-answer"], "no-answer", None, None),
    ],
)
async def test_a_call_reports_signed_callbacks_ending_in_the_scenario_result(
    carrier, simulator, receiver, number, statuses, result, pressed, answered_by
):
    sid = await carrier.place_call(number, CALLER, receiver.url, receiver.twiml_url())
    await simulator.drain()

    assert sid.startswith("CA")
    assert len(sid) == 34
    assert receiver.rejected == 0
    assert receiver.statuses(sid) == statuses
    assert [event.sequence for event in receiver.events] == list(range(len(statuses)))
    last = receiver.events[-1]
    assert (last.final, last.result, last.answered_by) == (True, result, answered_by)
    assert not any(event.final for event in receiver.events[:-1])
    assert not any(event.digits for event in receiver.events)  # keys go to the Gather only
    [call] = simulator.calls
    assert {key: call[key] for key in ("sid", "to", "from", "url", "pressed", "error")} == {
        "sid": sid,
        "to": number,
        "from": CALLER,
        "url": receiver.twiml_url(),
        "pressed": pressed,
        "error": None,
    }
    # Someone or something picked up and heard the menu; a busy line heard nothing.
    assert bool(call["said"]) is (result in ("answered", "machine"))
    fetched = await carrier.fetch_status(sid, "call")
    assert (fetched.status, fetched.result, fetched.final) == (statuses[-1], result, True)


@pytest.mark.parametrize(
    ("number", "result"), [("+13055550150", "delivered"), ("+13055550113", "undelivered")]
)
async def test_a_text_reports_its_delivery(carrier, simulator, receiver, number, result):
    sid = await carrier.send_sms(number, CALLER, "Your appointment is at 3 pm", receiver.url)
    await simulator.drain()

    assert sid.startswith("SM")
    assert len(sid) == 34
    assert receiver.statuses(sid) == ["queued", "sent", result]
    assert [(e.kind, e.result, e.final) for e in receiver.events] == [
        ("sms", None, False),
        ("sms", None, False),
        ("sms", result, True),
    ]
    assert receiver.events[-1].raw.get("ErrorCode") == ("30003" if result != "delivered" else None)
    assert simulator.messages[0]["body"] == "Your appointment is at 3 pm"
    assert (await carrier.fetch_status(sid, "sms")).result == result


async def test_each_attempt_to_a_number_draws_its_own_deterministic_outcome(receiver):
    scenario = Scenario(seed=3, default={"answered": 1, "busy": 1, "no-answer": 1})
    async with (
        Simulator(scenario, ACCOUNT, TOKEN) as simulator,
        TwilioCarrier(ACCOUNT, TOKEN, base_url=simulator.url) as carrier,
    ):
        sids = [
            await carrier.place_call("+13055550123", CALLER, receiver.url, receiver.twiml_url())
            for _ in range(6)
        ]
        await simulator.drain()

    final = {event.sid: event.result for event in receiver.events if event.final}
    finals = [final[sid] for sid in sids]
    expected = [scenario.decide("call", "+13055550123", attempt).result for attempt in range(6)]
    assert finals == expected
    assert len(set(finals)) > 1


async def test_without_subscriptions_or_amd_twilio_reports_only_completed(simulator, receiver):
    """Twilio's defaults: only the final callback, and no machine verdict without AMD."""
    form = {
        "To": "+13055550199",
        "From": CALLER,
        "Url": receiver.twiml_url(),
        "StatusCallback": receiver.url,
    }
    headers = {"Authorization": aiohttp.encode_basic_auth(ACCOUNT, TOKEN)}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{simulator.url}/2010-04-01/Accounts/{ACCOUNT}/Calls.json", data=form, headers=headers
        ) as response,
    ):
        created = await response.json()
    await simulator.drain()

    assert (response.status, created["status"], created["to"]) == (201, "queued", "+13055550199")
    [event] = receiver.events
    assert (event.status, event.answered_by, event.result) == ("completed", None, "answered")


async def test_callbacks_are_retried_after_a_dropped_connection(carrier, simulator, receiver):
    receiver.dropped = 1

    sid = await carrier.place_call("+13055550142", CALLER, receiver.url, receiver.twiml_url())
    await simulator.drain()

    assert receiver.statuses(sid) == ["initiated", "ringing", "in-progress", "completed"]
    assert simulator.undelivered_callbacks == []


async def test_undeliverable_callbacks_are_given_up_after_bounded_retries(carrier, simulator):
    await carrier.send_sms("+13055550150", CALLER, "hi", f"http://127.0.0.1:{_free_port()}/x")
    await simulator.drain()

    assert [p["MessageStatus"] for p in simulator.undelivered_callbacks] == [
        "queued",
        "sent",
        "delivered",
    ]


# --- an answered call runs the application's TwiML, as Twilio does ---

PRESSES_9 = "+13055550142"  # the scenario's callee who presses 9
PRESSES_NOTHING = "+13055550150"


def call_fields(sid: str, to: str) -> dict[str, str]:
    """What Twilio sends about an answered call with every TwiML request (AMD on)."""
    return {
        "AccountSid": ACCOUNT,
        "AnsweredBy": "human",
        "ApiVersion": "2010-04-01",
        "CallSid": sid,
        "CallStatus": "in-progress",
        "Direction": "outbound-api",
        "From": CALLER,
        "To": to,
    }


async def test_a_pressed_key_is_posted_to_the_gather_action_and_never_in_a_status_callback(
    carrier, simulator, receiver
):
    sid = await carrier.place_call(PRESSES_9, CALLER, receiver.url, receiver.twiml_url())
    await simulator.drain()

    fields = call_fields(sid, PRESSES_9)
    assert receiver.rejected == 0  # every request signed as the twilio library checks
    assert receiver.requests == [
        ("POST", receiver.twiml_url("answer"), fields),
        ("POST", receiver.twiml_url("gather"), {**fields, "Digits": "9"}),
    ]
    [call] = simulator.calls
    assert (call["said"], call["pressed"], call["gather_answers"]) == (
        [OPT_OUT, GOODBYE],
        "9",
        [200],
    )
    assert receiver.statuses(sid)[-1] == "completed"
    assert not any("Digits" in event.raw for event in receiver.events)
    fetched = await carrier.fetch_status(sid, "call")
    assert "9" not in fetched.raw.values()
    assert not {"digits", "Digits"} & set(fetched.raw)


async def test_a_gather_without_an_action_posts_the_keys_to_the_documents_own_url(
    carrier, simulator, receiver
):
    receiver.pages["answer"] = opt_out_menu(action=None)
    answer_url = receiver.twiml_url() + "?attempt=7"

    sid = await carrier.place_call(PRESSES_9, CALLER, receiver.url, answer_url)
    await simulator.drain()

    assert [(method, url) for method, url, _ in receiver.requests] == [
        ("POST", answer_url),
        ("POST", answer_url),
    ]
    assert receiver.requests[1][2] == {**call_fields(sid, PRESSES_9), "Digits": "9"}
    # The second time the menu asks, the callee has pressed already: the call falls through.
    assert simulator.calls[0]["said"] == [OPT_OUT, OPT_OUT, "Goodbye."]
    assert receiver.rejected == 0


async def test_a_gather_with_method_get_sends_the_keys_in_the_signed_query(
    carrier, simulator, receiver
):
    receiver.pages["answer"] = opt_out_menu(action="gather?attempt=7", method="GET")

    sid = await carrier.place_call(PRESSES_9, CALLER, receiver.url, receiver.twiml_url())
    await simulator.drain()

    method, url, params = receiver.requests[1]
    assert (method, url.split("&")[0]) == ("GET", receiver.twiml_url("gather") + "?attempt=7")
    assert params == {"attempt": "7", **call_fields(sid, PRESSES_9), "Digits": "9"}
    assert receiver.rejected == 0
    assert simulator.calls[0]["said"] == [OPT_OUT, GOODBYE]


async def test_a_callee_who_presses_nothing_falls_through_to_the_verbs_after_the_gather(
    carrier, simulator, receiver
):
    await carrier.place_call(PRESSES_NOTHING, CALLER, receiver.url, receiver.twiml_url())
    await simulator.drain()

    [call] = simulator.calls
    assert (call["said"], call["pressed"], call["gather_answers"]) == (
        [OPT_OUT, "Goodbye."],
        None,
        [],
    )
    assert [url for _, url, _ in receiver.requests] == [receiver.twiml_url()]
    assert receiver.statuses(call["sid"])[-1] == "completed"


async def test_no_key_is_posted_when_the_twiml_has_no_gather(carrier, simulator, receiver):
    receiver.pages["answer"] = goodbye()

    await carrier.place_call(PRESSES_9, CALLER, receiver.url, receiver.twiml_url())
    await simulator.drain()

    [call] = simulator.calls
    assert (call["said"], call["pressed"], call["error"]) == ([GOODBYE], None, None)
    assert len(receiver.requests) == 1


async def test_the_callee_presses_no_more_keys_than_the_gather_takes(receiver):
    scenario = Scenario(outcomes=[Outcome(PRESSES_9, "answered", "91#")])
    async with (
        Simulator(scenario, ACCOUNT, TOKEN) as simulator,
        TwilioCarrier(ACCOUNT, TOKEN, base_url=simulator.url) as carrier,
    ):
        await carrier.place_call(PRESSES_9, CALLER, receiver.url, receiver.twiml_url())
        await simulator.drain()

    assert simulator.calls[0]["pressed"] == "9"  # numDigits="1"
    assert receiver.requests[1][2]["Digits"] == "9"


@pytest.mark.parametrize("failure", ["HTTP 500", "connection refused"])
async def test_a_failing_answer_url_still_completes_the_call(carrier, simulator, receiver, failure):
    receiver.pages["answer"] = 500
    answer_url = receiver.twiml_url()
    if failure == "connection refused":
        answer_url = f"http://127.0.0.1:{_free_port()}/answer"

    sid = await carrier.place_call(PRESSES_9, CALLER, receiver.url, answer_url)
    await simulator.drain()

    [call] = simulator.calls
    assert call["error"].startswith(f"POST {answer_url}")
    assert (call["said"], call["pressed"]) == ([], None)
    assert call["webhooks"] == [
        {"method": "POST", "url": answer_url, "status": 500 if failure == "HTTP 500" else None}
    ]
    assert receiver.statuses(sid)[-1] == "completed"
    assert (await carrier.fetch_status(sid, "call")).status == "completed"


async def test_a_failing_gather_action_is_recorded_and_the_call_completes(
    carrier, simulator, receiver
):
    receiver.pages["gather"] = 503

    sid = await carrier.place_call(PRESSES_9, CALLER, receiver.url, receiver.twiml_url())
    await simulator.drain()

    [call] = simulator.calls
    assert (call["pressed"], call["gather_answers"]) == ("9", [503])
    assert "HTTP 503" in call["error"]
    assert receiver.statuses(sid)[-1] == "completed"


async def test_a_redirect_loop_ends_after_a_bounded_number_of_requests(
    carrier, simulator, receiver
):
    loop = VoiceResponse()
    loop.say("Please hold.")
    loop.redirect("loop")  # relative: the page redirects to itself
    receiver.pages["loop"] = str(loop)

    sid = await carrier.place_call(PRESSES_9, CALLER, receiver.url, receiver.twiml_url("loop"))
    await simulator.drain()

    [call] = simulator.calls
    assert len(receiver.requests) == MAX_REQUESTS
    assert {url for _, url, _ in receiver.requests} == {receiver.twiml_url("loop")}
    assert call["said"] == ["Please hold."] * MAX_REQUESTS
    assert f"more than {MAX_REQUESTS} requests" in call["error"]
    assert receiver.statuses(sid)[-1] == "completed"


@pytest.mark.parametrize(
    ("page", "error"),
    [
        ("Goodbye", "not a TwiML document"),
        ("<Document><Say>hi</Say></Document>", "root is <Document>, not <Response>"),
        ("<Response><Dial>+13055550100</Dial></Response>", "does not support <Dial>"),
        ("<Response><Gather><Hangup/></Gather></Response>", "<Hangup> cannot be nested"),
        ("<Response><Redirect method='PUT'>x</Redirect></Response>", "neither GET nor POST"),
        (f"<Response><Say>{'a' * MAX_DOCUMENT_BYTES}</Say></Response>", "TwiML document over"),
    ],
)
async def test_twiml_twilio_cannot_run_ends_the_call_with_an_application_error(
    carrier, simulator, receiver, page, error
):
    receiver.pages["answer"] = page

    sid = await carrier.place_call(PRESSES_9, CALLER, receiver.url, receiver.twiml_url())
    await simulator.drain()

    [call] = simulator.calls
    assert error in call["error"]
    assert call["pressed"] is None
    assert receiver.statuses(sid)[-1] == "completed"


async def test_a_machine_hears_the_twiml_and_presses_nothing(carrier, simulator, receiver):
    sid = await carrier.place_call("+13055550199", CALLER, receiver.url, receiver.twiml_url())
    await simulator.drain()

    [(_, _, params)] = receiver.requests
    assert params == {**call_fields(sid, "+13055550199"), "AnsweredBy": "machine_start"}
    assert simulator.calls[0]["said"] == [OPT_OUT, "Goodbye."]


# --- listing calls, as Twilio lists them ---

RFC_2822 = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000")
BUSY = "+13055550177"


async def place_calls(carrier: TwilioCarrier, receiver: Receiver, numbers: list[str]) -> list[str]:
    return [
        await carrier.place_call(number, CALLER, receiver.url, receiver.twiml_url())
        for number in numbers
    ]


async def test_the_call_list_filters_by_to_status_and_start_time_as_the_twilio_library_asks(
    carrier, simulator, receiver
):
    first, busy, second = await place_calls(
        carrier, receiver, [PRESSES_NOTHING, BUSY, PRESSES_NOTHING]
    )
    with pytest.raises(CarrierError):  # refused: never a call, so never listed
        await carrier.place_call("3055550150", CALLER, receiver.url, receiver.twiml_url())
    await simulator.drain()
    client = Client(ACCOUNT, TOKEN)
    client.api.base_url = simulator.url
    now = datetime.now(UTC)
    today, tomorrow = now.date(), now.date() + timedelta(days=1)

    async def listed(**filters: object) -> list[str]:
        # The library is synchronous: in a thread, so the simulator can answer it.
        calls = await asyncio.to_thread(client.calls.list, page_size=1, **filters)
        return [call.sid for call in calls]

    try:
        assert await listed() == [second, busy, first]  # newest first, page by page
        assert await listed(to=PRESSES_NOTHING, start_time_after=today) == [second, first]
        assert await listed(to=PRESSES_NOTHING, start_time_after=tomorrow) == []
        assert await listed(start_time_after=now - timedelta(hours=1)) == [second, busy, first]
        assert await listed(start_time_after=now + timedelta(hours=1)) == []
        assert await listed(start_time_before=today) == []  # before today's midnight
        assert await listed(start_time_before=tomorrow) == [second, busy, first]
        assert await listed(start_time=today, to=BUSY) == [busy]  # on the day
        assert await listed(status="busy", from_=CALLER) == [busy]
        [call] = await asyncio.to_thread(client.calls.list, to=BUSY)
    finally:
        client.http_client.session.close()

    assert (call.sid, call.account_sid, call.to, call._from) == (busy, ACCOUNT, BUSY, CALLER)
    assert (call.status, call.direction, call.answered_by) == ("busy", "outbound-api", None)
    assert call.date_created <= call.start_time <= call.end_time
    assert now - timedelta(minutes=1) < call.start_time < now + timedelta(minutes=1)


async def test_the_message_list_filters_by_to_from_and_date_sent_as_the_twilio_library_asks(
    carrier, simulator, receiver
):
    undelivered_to = "+13055550113"
    first = await carrier.send_sms(PRESSES_NOTHING, CALLER, "first", receiver.url)
    undelivered = await carrier.send_sms(undelivered_to, CALLER, "second", receiver.url)
    second = await carrier.send_sms(PRESSES_NOTHING, CALLER, "third", receiver.url)
    await simulator.drain()
    client = Client(ACCOUNT, TOKEN)
    client.api.base_url = simulator.url
    now = datetime.now(UTC)
    today, tomorrow = now.date(), now.date() + timedelta(days=1)
    every = [second, undelivered, first]

    async def listed(**filters: object) -> list[str]:
        messages = await asyncio.to_thread(client.messages.list, page_size=1, **filters)
        return [message.sid for message in messages]

    try:
        assert await listed() == every  # newest first, page by page
        assert await listed(to=PRESSES_NOTHING, date_sent_after=today) == [second, first]
        assert await listed(to=PRESSES_NOTHING, date_sent_after=tomorrow) == []
        assert await listed(date_sent_after=now - timedelta(hours=1)) == every
        assert await listed(date_sent_after=now + timedelta(hours=1)) == []
        assert await listed(date_sent_before=today) == []  # before today's midnight
        assert await listed(date_sent_before=tomorrow) == every
        assert await listed(date_sent=today, to=undelivered_to) == [undelivered]
        assert await listed(from_=CALLER, to=undelivered_to) == [undelivered]
        [message] = await asyncio.to_thread(client.messages.list, to=undelivered_to)
    finally:
        client.http_client.session.close()

    assert (message.sid, message.account_sid, message.to, message.from_, message.body) == (
        undelivered,
        ACCOUNT,
        undelivered_to,
        CALLER,
        "second",
    )
    assert (message.status, message.direction) == ("undelivered", "outbound-api")
    assert message.date_created <= message.date_sent
    assert now - timedelta(minutes=1) < message.date_sent < now + timedelta(minutes=1)


async def test_the_call_list_answers_in_twilios_page_shape(carrier, simulator, receiver):
    first, second, third = await place_calls(carrier, receiver, [PRESSES_NOTHING] * 3)
    await simulator.drain()
    path = f"/2010-04-01/Accounts/{ACCOUNT}/Calls.json"
    today = datetime.now(UTC).date().isoformat()
    auth = {"Authorization": aiohttp.encode_basic_auth(ACCOUNT, TOKEN)}

    async with aiohttp.ClientSession(simulator.url, headers=auth) as session:
        # As the docs write it: `StartTime>=` is the parameter `StartTime>`, then `=`.
        async with session.get(f"{path}?To=%2B13055550150&StartTime>={today}&PageSize=2") as one:
            page = await one.json()
        async with session.get(page["next_page_uri"]) as two:
            next_page = await two.json()

    assert (one.status, two.status) == (200, 200)
    filters = f"To=%2B13055550150&StartTime%3E={today}&PageSize=2"
    assert {key: value for key, value in page.items() if key != "calls"} == {
        "page": 0,
        "page_size": 2,
        "start": 0,
        "end": 1,
        "uri": f"{path}?{filters}&Page=0",
        "first_page_uri": f"{path}?{filters}&Page=0",
        "next_page_uri": f"{path}?{filters}&Page=1&PageToken=PA{second}",
        "previous_page_uri": None,
    }
    assert [call["sid"] for call in page["calls"]] == [third, second]
    assert [call["sid"] for call in next_page["calls"]] == [first]
    assert (next_page["start"], next_page["end"], next_page["next_page_uri"]) == (2, 2, None)
    assert next_page["previous_page_uri"] == f"{path}?{filters}&Page=0&PageToken=PB{first}"
    call = next_page["calls"][0]
    assert {key: call[key] for key in ("sid", "account_sid", "to", "from", "status")} == {
        "sid": first,
        "account_sid": ACCOUNT,
        "to": PRESSES_NOTHING,
        "from": CALLER,
        "status": "completed",
    }
    assert (call["direction"], call["answered_by"]) == ("outbound-api", "human")
    for field in ("date_created", "start_time", "end_time"):
        assert RFC_2822.fullmatch(call[field]), call[field]


@pytest.mark.parametrize(
    ("resource", "query", "message"),
    [
        ("Calls", "StartTime>=03/10/2026", "StartTime>: '03/10/2026' is neither YYYY-MM-DD nor"),
        ("Calls", "StartTime<=2026-02-30", "StartTime<: '2026-02-30' is neither"),
        ("Messages", "DateSent>=03/10/2026", "DateSent>: '03/10/2026' is neither YYYY-MM-DD nor"),
        ("Messages", "PageSize=0", "PageSize: '0' is not a whole number from 1 to 1000"),
        ("Calls", "Page=-1", "Page: '-1' is not a whole number of 0 or more"),
    ],
)
async def test_a_malformed_list_filter_is_a_twilio_style_400(simulator, resource, query, message):
    url = f"{simulator.url}/2010-04-01/Accounts/{ACCOUNT}/{resource}.json?{query}"
    auth = {"Authorization": aiohttp.encode_basic_auth(ACCOUNT, TOKEN)}
    async with aiohttp.ClientSession() as session, session.get(url, headers=auth) as response:
        body = await response.json()

    assert (response.status, body["code"]) == (400, 20001)
    assert body["message"].startswith(message)


# --- API errors ---


async def test_bad_credentials_are_a_permanent_error(simulator):
    async with TwilioCarrier(ACCOUNT, "wrong-token", base_url=simulator.url) as carrier:
        with pytest.raises(CarrierError, match="HTTP 401: Authenticate") as caught:
            await carrier.place_call("+13055550142", CALLER, "http://127.0.0.1:9/s", ANSWER_URL)

    assert (caught.value.retryable, caught.value.status, caught.value.code) == (False, 401, 20003)
    assert simulator.calls == []


@pytest.mark.parametrize(
    ("to", "body", "message", "code"),
    [
        ("3055550142", "hi", "Invalid 'To' Phone Number: 3055550142", 21211),
        ("+0305555", "hi", "Invalid 'To' Phone Number: +0305555", 21211),
        ("", "hi", "No 'To' number is specified", 21201),
        ("+13055550142", "", "Message body is required", 21602),
    ],
)
async def test_an_invalid_request_is_a_permanent_error_with_the_carrier_message(
    carrier, simulator, to, body, message, code
):
    with pytest.raises(CarrierError) as caught:
        await carrier.send_sms(to, CALLER, body, "http://127.0.0.1:9/s")

    assert str(caught.value) == f"HTTP 400: {message}"
    assert (caught.value.retryable, caught.value.code) == (False, code)
    assert simulator.messages == []


async def test_an_unknown_sid_is_not_found(carrier):
    with pytest.raises(CarrierError, match="HTTP 404") as caught:
        await carrier.fetch_status("CA" + "f" * 32, "call")
    assert not caught.value.retryable


@pytest.mark.parametrize(
    ("misbehaviour", "message", "retryable"),
    [
        ("broken", "HTTP 502: <html>Bad Gateway</html>", True),
        ("limited", "HTTP 429: Too Many Requests", True),
        ("garbage", "response is not a JSON object", False),
        ("nosid", "carrier accepted the request but returned no sid", False),
    ],
)
async def test_carrier_failures_say_whether_a_retry_can_help(
    fake_api, misbehaviour, message, retryable
):
    server, _ = fake_api
    base_url = str(server.make_url(f"/{misbehaviour}"))
    async with TwilioCarrier(ACCOUNT, TOKEN, base_url=base_url) as carrier:
        with pytest.raises(CarrierError, match=re.escape(message)) as caught:
            await carrier.place_call("+13055550142", CALLER, "http://cb.test/s", ANSWER_URL)

    assert caught.value.retryable is retryable


async def test_a_refused_connection_is_retryable():
    async with TwilioCarrier(ACCOUNT, TOKEN, base_url=f"http://127.0.0.1:{_free_port()}") as dead:
        with pytest.raises(CarrierError) as refused:
            await dead.send_sms("+13055550142", CALLER, "hi", "http://127.0.0.1:9/s")

    assert refused.value.retryable
    assert refused.value.status is None


async def test_the_simulator_answers_twilio_style_json_errors(simulator):
    calls = f"{simulator.url}/2010-04-01/Accounts/{ACCOUNT}/Calls.json"
    other_account = calls.replace(ACCOUNT, "AC" + "6" * 32)
    auth = {"Authorization": aiohttp.encode_basic_auth(ACCOUNT, TOKEN)}
    form = {"To": "+13055550142", "From": CALLER, "Url": ANSWER_URL}
    async with aiohttp.ClientSession() as session:
        async with session.post(calls, data=form) as anonymous:
            unauthorized = await anonymous.json()
        async with session.post(other_account, data=form, headers=auth) as response:
            not_found = await response.json()

    assert unauthorized == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }
    assert (anonymous.status, response.status, not_found["code"]) == (401, 404, 20404)
    assert simulator.calls == []


async def test_the_adapter_sends_twilios_documented_call_form(fake_api):
    server, seen = fake_api
    async with TwilioCarrier(ACCOUNT, TOKEN, base_url=str(server.make_url(""))) as carrier:
        sid = await carrier.place_call("+13055550142", CALLER, "http://cb.test/s", ANSWER_URL)

    [(request, form)] = seen
    assert sid == "CA" + "0" * 32
    assert (request.method, request.path) == ("POST", f"/2010-04-01/Accounts/{ACCOUNT}/Calls.json")
    credentials = base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {credentials}"
    assert request.content_type == "application/x-www-form-urlencoded"
    assert form.getall("StatusCallbackEvent") == ["initiated", "ringing", "answered", "completed"]
    assert {k: form[k] for k in form if k != "StatusCallbackEvent"} == {
        "To": "+13055550142",
        "From": CALLER,
        "Url": ANSWER_URL,
        "StatusCallback": "http://cb.test/s",
        "StatusCallbackMethod": "POST",
        "MachineDetection": "Enable",
    }


# --- webhook signatures ---

DOCS_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOCS_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}
# twilio-python's tests/unit/test_request_validator.py: the same request from another caller.
LIB_PARAMS = {**DOCS_PARAMS, "Caller": "+14158675309", "From": "+14158675309"}


def test_the_twilio_docs_example_signature():
    assert compute_signature("12345", DOCS_URL, DOCS_PARAMS) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    carrier = TwilioCarrier(ACCOUNT, "12345")
    assert carrier.verify(DOCS_URL, DOCS_PARAMS, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")


@pytest.mark.parametrize(
    ("url", "signature"),
    [
        (DOCS_URL, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        (DOCS_URL.replace(".com", ".com:1234"), "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        (DOCS_URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),  # signed with :443
        (DOCS_URL.replace("https", "http"), "0ZXoZLH/DfblKGATFgpif+LLRf4="),  # signed with :80
        (
            DOCS_URL.replace(".com", ".com:1234").replace("https", "http"),
            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=",
        ),
    ],
)
def test_verify_accepts_the_url_with_or_without_its_port_like_twilio_python(url, signature):
    assert TwilioCarrier(ACCOUNT, "12345").verify(url, LIB_PARAMS, signature)


def test_a_signature_is_hmac_sha1_over_url_and_sorted_names_and_values():
    params = MultiDict([("To", "+13055550142"), ("B", "2"), ("B", "1"), ("A", "")])
    payload = "https://x.test/s?q=1" + "A" + "B1" + "B2" + "To+13055550142"
    expected = hmac.new(TOKEN.encode(), payload.encode(), hashlib.sha1).digest()

    assert (
        compute_signature(TOKEN, "https://x.test/s?q=1", params)
        == base64.b64encode(expected).decode()
    )


@pytest.mark.parametrize(
    ("url", "params", "signature"),
    [
        (DOCS_URL, DOCS_PARAMS, "0/KCTR6DLpKmkAf8muzZqo1nDgQ"),  # truncated
        (DOCS_URL, DOCS_PARAMS, "1/KCTR6DLpKmkAf8muzZqo1nDgQ="),
        (DOCS_URL, {**DOCS_PARAMS, "Digits": "9"}, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="),
        (DOCS_URL, {**DOCS_PARAMS, "Extra": ""}, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="),
        (DOCS_URL.replace("foo=1", "foo=2"), DOCS_PARAMS, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="),
        (DOCS_URL, DOCS_PARAMS, None),
        (DOCS_URL, DOCS_PARAMS, ""),
        (DOCS_URL, DOCS_PARAMS, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=é"),
        ("https://mycompany.com:port/myapp.php", DOCS_PARAMS, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="),
    ],
)
def test_verify_rejects_forged_tampered_and_missing_signatures(url, params, signature):
    assert not TwilioCarrier(ACCOUNT, "12345").verify(url, params, signature)


def test_verify_rejects_another_accounts_token():
    assert not TwilioCarrier(ACCOUNT, "54321").verify(
        DOCS_URL, DOCS_PARAMS, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    )


async def test_the_webhook_refuses_a_forged_callback(receiver):
    params = {"CallSid": "CA1", "CallStatus": "completed", "Digits": "9"}
    forged = compute_signature("not-the-token", receiver.url, params)
    async with aiohttp.ClientSession() as session:
        for headers in ({"X-Twilio-Signature": forged}, {}):
            async with session.post(receiver.url, data=params, headers=headers) as response:
                assert response.status == 403

    assert (receiver.rejected, receiver.events) == (2, [])


# --- parsing callbacks and applying them in order ---


def test_parse_callback_maps_twilio_fields():
    carrier = TwilioCarrier(ACCOUNT, TOKEN)
    params = {
        "CallSid": "CA1",
        "CallStatus": "completed",
        "AnsweredBy": "machine_end_beep",
        "SequenceNumber": "3",
    }
    assert carrier.parse_callback(params) == CarrierEvent(
        "CA1", "call", "completed", "machine", None, "machine_end_beep", 3, True, params
    )
    fax = carrier.parse_callback({"CallSid": "CA1", "CallStatus": "completed", "AnsweredBy": "fax"})
    assert fax.result == "machine"
    canceled = carrier.parse_callback({"CallSid": "CA1", "CallStatus": "canceled"})
    assert (canceled.result, canceled.final) == ("failed", True)
    sms = carrier.parse_callback({"MessageSid": "SM1", "MessageStatus": "failed", "SmsSid": "SM1"})
    assert (sms.kind, sms.result, sms.final) == ("sms", "undelivered", True)


@pytest.mark.parametrize(
    ("stamp", "occurred_at"),
    [
        ("Tue, 10 Mar 2026 12:00:07 +0000", datetime(2026, 3, 10, 12, 0, 7, tzinfo=UTC)),
        ("Tue, 10 Mar 2026 08:00:07 -0400", datetime(2026, 3, 10, 12, 0, 7, tzinfo=UTC)),
        ("yesterday", None),
        ("", None),
    ],
)
def test_a_call_progress_callback_is_dated_by_its_twilio_timestamp(stamp, occurred_at):
    params = {"CallSid": "CA1", "CallStatus": "completed", "Timestamp": stamp}
    assert TwilioCarrier(ACCOUNT, TOKEN).parse_callback(params).occurred_at == occurred_at


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"CallStatus": "completed"}, "neither CallSid nor MessageSid"),
        ({"CallSid": "CA1"}, "CA1: callback has no CallStatus"),
        ({"MessageSid": "SM1", "CallStatus": "sent"}, "SM1: callback has no MessageStatus"),
        ({"CallSid": "CA1", "CallStatus": "delivered"}, "unknown call status 'delivered'"),
        ({"CallSid": "CA1", "CallStatus": "ringing", "SequenceNumber": "x"}, "SequenceNumber"),
    ],
)
def test_parse_callback_rejects_malformed_input(params, message):
    with pytest.raises(BadCallback, match=message):
        TwilioCarrier(ACCOUNT, TOKEN).parse_callback(params)
    assert issubclass(BadCallback, ValueError)


def test_status_changes_apply_monotonically():
    assert advances("call", None, "ringing")
    assert advances("call", "initiated", "in-progress")
    assert not advances("call", "ringing", "ringing")
    assert not advances("call", "completed", "ringing")
    assert not advances("call", "busy", "completed")  # the first final status stays
    assert advances("sms", "queued", "sent")
    assert not advances("sms", "delivered", "sent")


async def test_duplicate_and_shuffled_callbacks_still_end_in_the_final_state(receiver):
    simulator = Simulator(
        SCENARIO, ACCOUNT, TOKEN, duplicate_callbacks=True, shuffle_callbacks=True
    )
    async with (
        simulator,
        TwilioCarrier(ACCOUNT, TOKEN, base_url=simulator.url) as carrier,
    ):
        sid = await carrier.place_call("+13055550142", CALLER, receiver.url, receiver.twiml_url())
        await simulator.drain()

    sequences = [event.sequence for event in receiver.events]
    assert sorted(sequences) == [0, 1, 2, 3, 3]  # the final callback twice
    assert sequences != sorted(sequences)  # and out of order
    state: CarrierEvent | None = None
    for event in receiver.events:
        if advances("call", state and state.status, event.status):
            state = event
    assert state is not None
    assert (state.sid, state.status, state.result) == (sid, "completed", "answered")


# --- scenarios ---


def test_numbers_match_exactly_or_by_ending_and_the_first_rule_wins():
    assert Outcome("*42", "busy").matches("+13055550142")
    assert not Outcome("*42", "busy").matches("+13055550124")
    assert Outcome("+13055550142", "busy").matches("+13055550142")
    assert not Outcome("+1305555014", "busy").matches("+13055550142")

    scenario = Scenario(outcomes=[Outcome("*2", "busy"), Outcome("*42", "machine")])
    assert scenario.decide("call", "+13055550142", 0).result == "busy"
    # A call rule says nothing about texts to the same number.
    assert scenario.decide("sms", "+13055550142", 0).result == "delivered"
    assert scenario.decide("call", "+13055550143", 0).result == "answered"


def test_the_same_seed_draws_the_same_outcomes():
    default = {"answered": 0.5, "no-answer": 0.3, "busy": 0.1, "machine": 0.1}
    numbers = [f"+1305555{n:04d}" for n in range(400)]

    def draws(seed: int, attempt: int = 0) -> list[str]:
        scenario = Scenario(seed=seed, default=default)
        return [scenario.decide("call", number, attempt).result for number in numbers]

    assert draws(7) == draws(7)
    assert draws(7) != draws(8)
    assert draws(7) != draws(7, attempt=1)
    assert 0.4 < draws(7).count("answered") / len(numbers) < 0.6
    assert set(draws(7)) == set(default)


def test_a_scenario_file_in_the_documented_format(tmp_path):
    path = tmp_path / "scenario.toml"
    path.write_text(
        "seed = 7\n"
        "default = { answered = 0.5, no-answer = 0.3, busy = 0.1, machine = 0.1,"
        " undelivered = 1 }\n"
        "[[outcome]]\n"
        'match = "+13055550142"\n'
        'result = "answered"\n'
        'digits = "9"\n'
        "[[outcome]]\n"
        'match = "*00"\n'
        'result = "failed"\n'
    )
    scenario = Scenario.from_toml(path)

    assert scenario.seed == 7
    assert scenario.default["no-answer"] == 0.3
    assert scenario.outcomes == [
        Outcome("+13055550142", "answered", "9"),
        Outcome("*00", "failed"),
    ]
    assert scenario.decide("sms", "+13055550150", 0).result == "undelivered"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"seed": "7"}, "seed: expected a whole number, got '7'"),
        ({"sed": 7}, "scenario: unknown field(s) sed"),
        ({"default": {"answerd": 1}}, "default: unknown field(s) answerd"),
        ({"default": {"busy": -1}}, "default.busy: expected a weight >= 0, got -1"),
        ({"default": {"busy": True}}, "default.busy: expected a weight >= 0"),
        ({"default": {"busy": 0, "answered": 0}}, "default: the call weights add up to 0"),
        ({"outcome": {"match": "*1"}}, "outcome: expected a list of tables ([[outcome]])"),
        ({"outcome": [{"match": "3055550142", "result": "busy"}]}, "outcome[0].match: '3055"),
        ({"outcome": [{"match": "*4a", "result": "busy"}]}, "outcome[0].match"),
        ({"outcome": [{"match": "*42"}]}, "outcome[0]: missing result"),
        (
            {"outcome": [{"match": "*42", "result": "busy", "digits": "9"}]},
            "outcome[0].digits: only an answered call presses keys, not busy",
        ),
        (
            {"outcome": [{"match": "*42", "result": "answered", "digits": 9}]},
            "outcome[0].digits: 9 is not a string of keypad keys",
        ),
        ({"outcome": [{"match": "*42", "result": "busy", "when": 1}]}, "unknown field(s) when"),
    ],
)
def test_scenario_errors_name_the_bad_field(data, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Scenario.from_dict(data)


def test_a_scenario_file_error_names_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("seed = \n")
    with pytest.raises(ValueError, match=r"bad\.toml: "):
        Scenario.from_toml(path)
    path.write_text('[[outcome]]\nmatch = "*1"\nresult = "hung-up"\n')
    with pytest.raises(ValueError, match=r"bad\.toml: outcome\[0\]\.result: 'hung-up'"):
        Scenario.from_toml(path)


# --- the standalone simulator ---


async def test_the_simulator_runs_standalone(tmp_path, receiver):
    scenario = tmp_path / "scenario.toml"
    scenario.write_text('[[outcome]]\nmatch = "*77"\nresult = "busy"\n')
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "dialer.carriers.simulator", "--port", "0"),
        *("--scenario", str(scenario), "--callback-delay", "0"),
        *("--account-sid", ACCOUNT, "--auth-token", TOKEN),
        stdout=asyncio.subprocess.PIPE,
        cwd=PROJECT,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=10)
        url = line.decode().rsplit(" ", 1)[-1].strip()
        async with TwilioCarrier(ACCOUNT, TOKEN, base_url=url) as carrier:
            sid = await carrier.place_call("+13055550177", CALLER, receiver.url, ANSWER_URL)
            for _ in range(100):
                if receiver.statuses(sid)[-1:] == ["busy"]:
                    break
                await asyncio.sleep(0.01)
    finally:
        process.terminate()
        await process.wait()

    assert receiver.statuses(sid) == ["initiated", "ringing", "busy"]


def _free_port() -> int:
    """A port nothing listens on (just released by the OS)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
