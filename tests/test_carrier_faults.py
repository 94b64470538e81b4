"""Carrier faults: what each failure to create a call or text says about the call.

The adapter talks to a fake Twilio or the simulator through the fault proxy
(tests/faultproxy.py), so every fault is a real one on a real socket, and the proxy's record
shows what the carrier actually received.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer

from bench.balancer import free_port
from dialer.carriers import CarrierError, Placement, TwilioCarrier
from dialer.carriers.simulator import Scenario, Simulator
from dialer.carriers.twilio import LIST_PAGES
from tests.faultproxy import NON_UTF8_PAGE, FaultProxy, Mode, Route

ACCOUNT = "AC" + "5" * 32
TOKEN = "test-auth-token"
CALLER = "+13055550100"
LEAD = "+13055550142"
CALLBACK = "http://127.0.0.1:9/status"
ANSWER_URL = "https://dialer.example/answer"
ACCOUNT_PATH = f"/2010-04-01/Accounts/{ACCOUNT}"
PROJECT = Path(__file__).resolve().parent.parent
# Short enough for quick tests, long enough for an idle test machine to connect and answer.
TIMEOUTS = {"connect_timeout": 1.0, "read_timeout": 1.0, "total_timeout": 5.0}


class FakeTwilio:
    """Twilio's API in miniature: creates succeed unless `answer` is set; the call list is
    `calls` filtered by To and StartTime>=, in pages."""

    def __init__(self) -> None:
        self.answer: web.StreamResponse | None = None
        self.trickle = False  # answer 200 and then the body a byte at a time, slower and slower
        self.calls: list[dict[str, Any]] = []
        self.list_queries: list[dict[str, str]] = []
        app = web.Application()
        app.router.add_post(f"{ACCOUNT_PATH}/{{resource}}.json", self._create)
        app.router.add_get(f"{ACCOUNT_PATH}/Calls.json", self._list)
        self.server = TestServer(app, host="127.0.0.1")

    @property
    def url(self) -> str:
        return str(self.server.make_url(""))

    def add_call(self, sid: str, to: str, start: datetime, status: str = "completed") -> None:
        self.calls.append(
            {
                "sid": sid,
                "to": to,
                "from": CALLER,
                "direction": "outbound-api",
                "status": status,
                "answered_by": "human" if status == "completed" else None,
                "start_time": format_datetime(start),
                "date_created": format_datetime(start),
            }
        )

    async def _create(self, request: web.Request) -> web.StreamResponse:
        if self.trickle:
            return await self._trickle(request)
        if self.answer is not None:
            return self.answer
        prefix = "CA" if request.match_info["resource"] == "Calls" else "SM"
        return web.json_response({"sid": prefix + "0" * 32, "status": "queued"}, status=201)

    async def _trickle(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=201, headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for _ in range(50):  # each byte within the read timeout, all of them beyond the total
            await response.write(b" ")
            await asyncio.sleep(0.1)
        return response

    async def _list(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.list_queries.append(query)
        since = datetime.strptime(query["StartTime>"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        matching = [
            call
            for call in self.calls
            if call["to"] == query["To"] and parsedate_to_datetime(call["start_time"]) >= since
        ]
        size, page = int(query["PageSize"]), int(query.get("Page", "0"))
        rest = matching[(page + 1) * size :]
        next_query = urlencode(query | {"Page": page + 1, "PageToken": f"PA{page + 1}"})
        return web.json_response(
            {
                "calls": matching[page * size : (page + 1) * size],
                "next_page_uri": f"{request.path}?{next_query}" if rest else None,
                "page": page,
            }
        )


class StalledResolver(AbstractResolver):
    """A name server that never answers: the connection cannot even be attempted."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        await asyncio.sleep(30)
        raise AssertionError("the connect timeout should have ended the wait")

    async def close(self) -> None:
        pass


class FailingResolver(StalledResolver):
    """A name server that knows no such host."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        raise OSError(socket.EAI_NONAME, "Name or service not known")


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio()
    await fake.server.start_server()
    yield fake
    await fake.server.close()


@pytest.fixture
async def proxy(fake: FakeTwilio) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(fake.url, stall=3.0) as proxy:
        yield proxy


@pytest.fixture
async def carrier(proxy: FaultProxy) -> AsyncIterator[TwilioCarrier]:
    async with TwilioCarrier(ACCOUNT, TOKEN, base_url=proxy.url, **TIMEOUTS) as carrier:
        yield carrier


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    async with Simulator(Scenario(), ACCOUNT, TOKEN, retry_delay=0.01) as simulator:
        yield simulator


@pytest.fixture
async def simulator_proxy(simulator: Simulator) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(simulator.url, stall=3.0) as proxy:
        yield proxy


async def _create(carrier: TwilioCarrier, route: Route) -> str:
    if route is Route.CALLS:
        return await carrier.place_call(LEAD, CALLER, CALLBACK, ANSWER_URL)
    return await carrier.send_sms(LEAD, CALLER, "Your appointment is at 3 pm", CALLBACK)


async def _failure(carrier: TwilioCarrier, route: Route = Route.CALLS) -> CarrierError:
    with pytest.raises(CarrierError) as caught:
        await _create(carrier, route)
    return caught.value


# --- each fault on the way to the carrier ---


@pytest.mark.parametrize("route", [Route.CALLS, Route.MESSAGES])
@pytest.mark.parametrize(
    ("mode", "placement", "forwarded"),
    [
        (Mode.REFUSE_503, Placement.NOT_PLACED, False),
        (Mode.REFUSE_429, Placement.NOT_PLACED, False),
        (Mode.DROP, Placement.UNKNOWN, False),
        (Mode.FORWARD_THEN_DROP, Placement.UNKNOWN, True),
        (Mode.FORWARD_THEN_STALL, Placement.UNKNOWN, True),
        (Mode.NON_UTF8_502, Placement.UNKNOWN, False),
        (Mode.NOT_FOUND_PAGE, Placement.ACCOUNT, False),
    ],
)
async def test_each_fault_says_whether_the_carrier_may_have_acted(
    carrier, proxy, route, mode, placement, forwarded
):
    proxy.set_mode(mode, route=route)

    error = await _failure(carrier, route)

    assert error.placement is placement
    assert error.retryable is placement.retryable
    [seen] = proxy.seen
    assert (seen.route, seen.mode, seen.forwarded) == (route, mode, forwarded)
    assert seen.form["To"] == LEAD


async def test_a_fault_on_calls_leaves_texts_and_status_fetches_alone(carrier, proxy):
    proxy.set_mode(Mode.REFUSE_503, route=Route.CALLS)

    assert (await _failure(carrier)).placement is Placement.NOT_PLACED
    assert (await _create(carrier, Route.MESSAGES)).startswith("SM")


async def test_a_timed_fault_ends_and_requests_pass_again(carrier, proxy):
    proxy.set_mode(Mode.REFUSE_503, for_seconds=0.2)

    assert (await _failure(carrier)).placement is Placement.NOT_PLACED
    await asyncio.sleep(0.3)
    assert (await _create(carrier, Route.CALLS)).startswith("CA")


async def test_fail_next_faults_only_that_many_requests(carrier, proxy):
    proxy.fail_next(2, Mode.REFUSE_429, route=Route.CALLS)

    assert (await _failure(carrier)).status == 429
    assert (await _failure(carrier)).status == 429
    assert (await _create(carrier, Route.CALLS)).startswith("CA")
    assert [seen.forwarded for seen in proxy.seen] == [False, False, True]
    assert proxy.seen[-1].upstream_status == 201


async def test_an_error_page_that_is_not_utf8_is_a_short_carrier_error(carrier, proxy):
    proxy.set_mode(Mode.NON_UTF8_502)

    error = await _failure(carrier)

    assert error.status == 502
    assert str(error) == "HTTP 502: " + NON_UTF8_PAGE.decode(errors="replace")
    assert len(str(error)) < 250


async def test_a_long_error_page_is_cut_short(carrier, fake):
    fake.answer = web.Response(status=502, body=b"<html>" + b"\xe9" * 5000 + b"</html>")

    assert len(str(await _failure(carrier))) < 250


# --- HTTP answers ---


@pytest.mark.parametrize(
    ("status", "code", "placement"),
    [
        (429, 20429, Placement.NOT_PLACED),
        (503, None, Placement.NOT_PLACED),
        (500, None, Placement.UNKNOWN),
        (502, None, Placement.UNKNOWN),
        (504, None, Placement.UNKNOWN),
        (400, 21211, Placement.REJECTED),
        (422, 21215, Placement.REJECTED),
        (401, 20003, Placement.ACCOUNT),
        (403, 20005, Placement.ACCOUNT),
        (404, 20404, Placement.ACCOUNT),
        (400, None, Placement.ACCOUNT),  # not Twilio's answer: something in between refuses us
    ],
)
async def test_an_http_error_says_what_became_of_the_call(carrier, fake, status, code, placement):
    body = {"message": "refused", "status": status} | ({"code": code} if code else {})
    fake.answer = web.json_response(body, status=status)

    error = await _failure(carrier)

    assert (error.placement, error.status, error.code) == (placement, status, code)
    assert error.retryable is placement.retryable


@pytest.mark.parametrize(
    "answer",
    [
        web.json_response({"status": "queued"}, status=201),
        web.Response(status=201, text="created"),
        web.Response(status=201, body=b"\xff\xfe{}"),
    ],
    ids=["no sid", "not JSON", "not UTF-8"],
)
async def test_an_accepted_request_without_a_sid_may_have_placed_the_call(carrier, fake, answer):
    fake.answer = answer

    error = await _failure(carrier)

    assert error.placement is Placement.UNKNOWN
    assert not error.retryable  # repeating it would ring the lead twice


# --- connecting and timeouts ---


async def test_a_refused_connection_did_not_place_the_call():
    base_url = f"http://127.0.0.1:{free_port()}"
    async with TwilioCarrier(ACCOUNT, TOKEN, base_url=base_url, **TIMEOUTS) as carrier:
        error = await _failure(carrier)

    assert (error.placement, error.retryable, error.status) == (Placement.NOT_PLACED, True, None)


@pytest.mark.parametrize("resolver", [StalledResolver, FailingResolver])
async def test_a_carrier_whose_name_does_not_resolve_did_not_place_the_call(resolver):
    connector = aiohttp.TCPConnector(resolver=resolver())
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        TwilioCarrier(
            ACCOUNT, TOKEN, base_url="http://carrier.test", session=session, **TIMEOUTS
        ) as carrier,
    ):
        error = await _failure(carrier)

    assert error.placement is Placement.NOT_PLACED


async def test_an_answer_that_never_ends_may_have_placed_the_call(fake):
    fake.trickle = True  # straight from the carrier: the proxy would hold the answer back

    timeouts = TIMEOUTS | {"total_timeout": 1.5}
    async with TwilioCarrier(ACCOUNT, TOKEN, base_url=fake.url, **timeouts) as carrier:
        error = await _failure(carrier)

    assert error.placement is Placement.UNKNOWN
    assert type(error.__cause__) is TimeoutError  # the total timeout, not the read timeout


async def test_a_failure_of_aiohttp_itself_is_a_carrier_error():
    session = aiohttp.ClientSession()
    await session.close()
    carrier = TwilioCarrier(ACCOUNT, TOKEN, base_url="http://127.0.0.1:9", session=session)

    error = await _failure(carrier)

    assert error.placement is Placement.UNKNOWN  # not known to be unsent: assume it may ring


def test_the_connect_timeout_must_be_shorter_than_the_total():
    with pytest.raises(ValueError, match="connect_timeout"):
        TwilioCarrier(ACCOUNT, TOKEN, connect_timeout=30, total_timeout=30)


# --- against the simulator ---


async def test_a_call_created_before_the_connection_dropped_is_unknown_and_really_rings(
    simulator, simulator_proxy
):
    simulator_proxy.fail_next(1, Mode.FORWARD_THEN_DROP, route=Route.CALLS)
    async with TwilioCarrier(ACCOUNT, TOKEN, base_url=simulator_proxy.url, **TIMEOUTS) as carrier:
        error = await _failure(carrier)

    assert error.placement is Placement.UNKNOWN
    [call] = simulator.calls
    assert call["to"] == LEAD
    [seen] = simulator_proxy.seen
    assert (seen.forwarded, seen.upstream_status) == (True, 201)


async def test_only_twilios_20404_says_the_carrier_does_not_know_the_call(
    simulator, simulator_proxy
):
    unknown_sid = "CA" + "f" * 32
    async with TwilioCarrier(ACCOUNT, TOKEN, base_url=simulator_proxy.url, **TIMEOUTS) as carrier:
        with pytest.raises(CarrierError) as unknown:
            await carrier.fetch_status(unknown_sid, "call")
        sid = await carrier.place_call(LEAD, CALLER, CALLBACK, ANSWER_URL)
        for mode in (Mode.NOT_FOUND_PAGE, Mode.REFUSE_503, Mode.NON_UTF8_502):
            simulator_proxy.fail_next(1, mode, route=Route.OTHER)
            with pytest.raises(CarrierError) as other:
                await carrier.fetch_status(sid, "call")
            assert other.value.placement is not Placement.NOT_FOUND, mode
    async with TwilioCarrier(ACCOUNT, "rotated-token", base_url=simulator_proxy.url) as stale:
        with pytest.raises(CarrierError) as unauthorized:
            await stale.fetch_status(sid, "call")

    assert (unknown.value.placement, unknown.value.code) == (Placement.NOT_FOUND, 20404)
    assert not unknown.value.retryable
    assert (unauthorized.value.placement, unauthorized.value.status) == (Placement.ACCOUNT, 401)


# --- listing the calls and texts to a number ---


async def test_list_sent_returns_every_call_to_the_number_since_the_time_across_pages(
    carrier, fake
):
    since = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
    for n in range(120):
        fake.add_call(f"CA{n:032d}", LEAD, since + timedelta(seconds=n))
    fake.add_call("CA" + "e" * 32, LEAD, since - timedelta(seconds=1), status="busy")
    fake.add_call("CA" + "d" * 32, "+13055550199", since + timedelta(minutes=5))

    events = await carrier.list_sent("call", LEAD, since.astimezone(timezone(timedelta(hours=-4))))

    assert [event.sid for event in events] == [f"CA{n:032d}" for n in range(120)]
    assert {(e.kind, e.status, e.result, e.answered_by) for e in events} == {
        ("call", "completed", "answered", "human")
    }
    assert events[0].raw == fake.calls[0]
    first, *following = fake.list_queries
    assert first == {"To": LEAD, "StartTime>": "2026-03-10T15:00:00Z", "PageSize": "50"}
    assert [query["Page"] for query in following] == ["1", "2"]


async def test_list_sent_finds_the_texts_to_the_number_in_the_message_list(simulator):
    since = datetime.now(UTC) - timedelta(minutes=1)
    async with TwilioCarrier(ACCOUNT, TOKEN, base_url=simulator.url, **TIMEOUTS) as carrier:
        first = await carrier.send_sms(LEAD, CALLER, "one", CALLBACK)
        await carrier.send_sms("+13055550199", CALLER, "to another number", CALLBACK)
        second = await carrier.send_sms(LEAD, CALLER, "two", CALLBACK)
        await simulator.drain()
        events = await carrier.list_sent("sms", LEAD, since)
        later = await carrier.list_sent("sms", LEAD, datetime.now(UTC) + timedelta(minutes=1))

    assert [(e.sid, e.kind, e.status, e.result, e.final) for e in events] == [
        (second, "sms", "delivered", "delivered", True),
        (first, "sms", "delivered", "delivered", True),
    ]
    assert later == []


async def test_list_sent_of_a_number_never_called_is_empty(carrier):
    assert await carrier.list_sent("call", LEAD, datetime(2026, 3, 10, tzinfo=UTC)) == []


async def test_list_sent_needs_a_time_with_its_zone(carrier):
    with pytest.raises(ValueError, match="timezone-aware"):
        await carrier.list_sent("call", LEAD, datetime(2026, 3, 10))  # no zone: UTC or local?


async def test_list_sent_gives_up_on_an_endless_listing(carrier, fake, proxy):
    since = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
    for n in range(50 * (LIST_PAGES + 1)):
        fake.add_call(f"CA{n:032d}", LEAD, since)

    with pytest.raises(CarrierError, match="more than 20 pages"):
        await carrier.list_sent("call", LEAD, since)

    assert len(proxy.seen) == LIST_PAGES


async def test_list_sent_failures_are_carrier_errors(carrier, proxy):
    proxy.set_mode(Mode.REFUSE_503, route=Route.OTHER)

    with pytest.raises(CarrierError) as caught:
        await carrier.list_sent("call", LEAD, datetime(2026, 3, 10, tzinfo=UTC))

    assert caught.value.status == 503


# --- the standalone proxy ---


async def test_the_proxy_runs_standalone_between_processes(simulator):
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "tests.faultproxy", "--upstream", simulator.url, "--port", "0"),
        *("--mode", "refuse-503", "--route", "calls"),
        stdout=asyncio.subprocess.PIPE,
        cwd=PROJECT,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=10)
        url = line.decode().rsplit(" ", 1)[-1].strip()
        async with TwilioCarrier(ACCOUNT, TOKEN, base_url=url) as carrier:
            refused = await _failure(carrier)
            sms = await carrier.send_sms(LEAD, CALLER, "hi", CALLBACK)
    finally:
        process.terminate()
        await process.wait()

    assert refused.placement is Placement.NOT_PLACED
    assert simulator.calls == []
    assert [message["sid"] for message in simulator.messages] == [sms]
