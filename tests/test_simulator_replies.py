"""Scenario replies: a scripted text back from the recipient of a delivered text, posted to
the sending number's SmsUrl as Twilio posts an incoming message, and the answer's <Message>s
sent. A real simulator and a small receiver on 127.0.0.1; the twilio library checks the
signature (`RequestValidator`), builds the answers (`MessagingResponse`) and provisions the
number (`IncomingPhoneNumbers`), so the simulator is held to what Twilio does."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse

from bench.balancer import free_port
from dialer.carriers import TwilioCarrier
from dialer.carriers.simulator import InvalidScenario, Outcome, Reply, Scenario, Simulator

ACCOUNT = "AC" + "7" * 32
TOKEN = "replies-auth-token"
SENDER = "+13055550100"  # the campaign's number
STOPPER = "+13055550142"
UNDELIVERABLE = "+13055550113"
QUIET = "+13055550150"
APPOINTMENT = "Your appointment is at 3 pm"
CONFIRMATION = "You are unsubscribed from ACME messages. No more messages will be sent."
PROJECT = Path(__file__).resolve().parent.parent
# Every field of Twilio's incoming message webhook for an SMS without media.
INCOMING_FIELDS = {
    "AccountSid", "ApiVersion", "Body", "From", "FromCity", "FromCountry", "FromState",
    "FromZip", "MessageSid", "NumMedia", "NumSegments", "SmsMessageSid", "SmsSid", "SmsStatus",
    "To", "ToCity", "ToCountry", "ToState", "ToZip",
}  # fmt: skip


class Receiver:
    """The dialer's webhooks in miniature: status callbacks and incoming texts, in the order
    they arrive, each signature checked with the twilio library."""

    def __init__(self) -> None:
        self.validator = RequestValidator(TOKEN)
        self.arrivals: list[tuple[str, dict[str, str]]] = []  # route, params
        self.rejected = 0
        self.answer: str | int = str(MessagingResponse())  # TwiML, or an HTTP error status
        app = web.Application()
        app.router.add_post("/{route}", self.handle)
        self.server = TestServer(app, host="127.0.0.1")

    def url(self, route: str) -> str:
        return str(self.server.make_url(f"/{route}"))

    async def handle(self, request: web.Request) -> web.Response:
        params = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        signature = request.headers.get("X-Twilio-Signature", "")
        if not self.validator.validate(str(request.url), params, signature):
            self.rejected += 1
            raise web.HTTPForbidden()
        self.arrivals.append((request.match_info["route"], params))
        if request.match_info["route"] != "sms":
            return web.Response(status=204)
        if isinstance(self.answer, int):
            return web.Response(status=self.answer, text="application error")
        return web.Response(text=self.answer, content_type="application/xml")

    def incoming(self) -> list[dict[str, str]]:
        return [params for route, params in self.arrivals if route == "sms"]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    await receiver.server.start_server()
    yield receiver
    await receiver.server.close()


def replying(*replies: Reply) -> Scenario:
    return Scenario(outcomes=[Outcome("*13", "undelivered")], replies=list(replies))


async def text(simulator: Simulator, receiver: Receiver, to: str) -> str:
    """Send one text through the adapter, as the engine does, and wait for all it leads to."""
    async with TwilioCarrier(ACCOUNT, TOKEN, base_url=simulator.url) as carrier:
        sid = await carrier.send_sms(to, SENDER, APPOINTMENT, receiver.url("status"))
    await simulator.drain()
    return sid


def client_of(simulator: Simulator) -> Client:
    client = Client(ACCOUNT, TOKEN)
    client.api.base_url = simulator.url
    return client


async def provision(simulator: Simulator, number: str, sms_url: str) -> str:
    """Give `number` its SmsUrl through Twilio's IncomingPhoneNumbers API; its PN sid."""
    # The library is synchronous: in a thread, so the simulator can answer it.
    created = await asyncio.to_thread(
        client_of(simulator).incoming_phone_numbers.create, phone_number=number, sms_url=sms_url
    )
    return created.sid


async def listed(simulator: Simulator, **filters: str) -> list[tuple[str, str, str, str]]:
    """Messages.json as the twilio library reads it: direction, status, from, body."""
    messages = await asyncio.to_thread(client_of(simulator).messages.list, **filters)
    return [(m.direction, m.status, m.from_, m.body) for m in messages]


async def test_a_scripted_stop_arrives_signed_with_twilios_fields_after_delivery(receiver):
    async with Simulator(replying(Reply("*42", "STOP", delay=0)), ACCOUNT, TOKEN) as simulator:
        await provision(simulator, SENDER, receiver.url("sms"))
        sid = await text(simulator, receiver, STOPPER)
        inbound = await listed(simulator, to=SENDER)

    [incoming] = receiver.incoming()
    assert receiver.rejected == 0
    assert set(incoming) == INCOMING_FIELDS
    assert incoming["MessageSid"].startswith("SM")
    assert len(incoming["MessageSid"]) == 34
    assert incoming["MessageSid"] not in (sid, "")
    assert incoming["SmsSid"] == incoming["SmsMessageSid"] == incoming["MessageSid"]
    assert (incoming["From"], incoming["To"], incoming["Body"]) == (STOPPER, SENDER, "STOP")
    assert (incoming["AccountSid"], incoming["ApiVersion"]) == (ACCOUNT, "2010-04-01")
    assert (incoming["NumMedia"], incoming["NumSegments"], incoming["SmsStatus"]) == (
        "0", "1", "received"
    )  # fmt: skip
    assert (incoming["FromCountry"], incoming["ToCountry"]) == ("US", "US")
    # The reply comes once the text is reported delivered.
    statuses = [params.get("MessageStatus") for route, params in receiver.arrivals]
    assert statuses == ["queued", "sent", "delivered", None]
    assert inbound == [("inbound", "received", STOPPER, "STOP")]


async def test_a_message_in_the_answer_is_sent_and_listed_once(receiver):
    answer = MessagingResponse()
    answer.message(CONFIRMATION, action="confirmation")  # its status callback, relative
    receiver.answer = str(answer)
    scenario = replying(Reply("*42", "STOP", delay=0))
    async with Simulator(scenario, ACCOUNT, TOKEN, sms_url=receiver.url("sms")) as simulator:
        await text(simulator, receiver, STOPPER)
        to_stopper = await listed(simulator, from_=SENDER, to=STOPPER)

    assert len(receiver.incoming()) == 1
    confirmation = [p["MessageStatus"] for r, p in receiver.arrivals if r == "confirmation"]
    assert confirmation == ["queued", "sent", "delivered"]
    # Newest first, as Twilio lists them; the confirmation does not draw another reply.
    assert to_stopper == [
        ("outbound-reply", "delivered", SENDER, CONFIRMATION),
        ("outbound-api", "delivered", SENDER, APPOINTMENT),
    ]


async def test_every_reply_to_a_number_is_sent(receiver):
    scenario = replying(Reply(STOPPER, "HELP", delay=0), Reply("*42", "STOP", delay=0.01))
    async with Simulator(scenario, ACCOUNT, TOKEN, sms_url=receiver.url("sms")) as simulator:
        await text(simulator, receiver, STOPPER)

    assert sorted(params["Body"] for params in receiver.incoming()) == ["HELP", "STOP"]


@pytest.mark.parametrize("to", [QUIET, UNDELIVERABLE], ids=["not matching", "undelivered"])
async def test_no_reply_unless_a_matching_number_got_the_text(receiver, to):
    scenario = replying(Reply("*42", "STOP", delay=0), Reply("*13", "STOP", delay=0))
    async with Simulator(scenario, ACCOUNT, TOKEN, sms_url=receiver.url("sms")) as simulator:
        await text(simulator, receiver, to)
        messages = await listed(simulator)

    assert receiver.incoming() == []
    assert [direction for direction, *_ in messages] == ["outbound-api"]


async def test_the_numbers_own_sms_url_wins_and_can_be_changed(receiver):
    scenario = replying(Reply("*42", "STOP", delay=0))
    async with Simulator(scenario, ACCOUNT, TOKEN, sms_url=receiver.url("default")) as simulator:
        sid = await provision(simulator, SENDER, receiver.url("first"))
        await text(simulator, receiver, STOPPER)
        number = client_of(simulator).incoming_phone_numbers(sid)
        updated = await asyncio.to_thread(number.update, sms_url=receiver.url("sms"))
        await text(simulator, receiver, STOPPER)

    assert (updated.phone_number, updated.sms_url) == (SENDER, receiver.url("sms"))
    posted = [route for route, params in receiver.arrivals if "Body" in params]
    assert posted == ["first", "sms"]


async def test_a_number_is_provisioned_once(receiver):
    async with Simulator(Scenario(), ACCOUNT, TOKEN) as simulator:
        await provision(simulator, SENDER, receiver.url("sms"))
        with pytest.raises(Exception, match="not available"):
            await provision(simulator, SENDER, receiver.url("sms"))


@pytest.mark.parametrize("failure", ["HTTP 500", "not TwiML", "unreachable"])
async def test_a_failed_incoming_webhook_is_not_retried(receiver, failure):
    receiver.answer = 500 if failure == "HTTP 500" else "<html>ok</html>"
    url = f"http://127.0.0.1:{free_port()}/sms" if failure == "unreachable" else receiver.url("sms")
    scenario = replying(Reply("*42", "STOP", delay=0))
    async with Simulator(scenario, ACCOUNT, TOKEN, sms_url=url) as simulator:
        await text(simulator, receiver, STOPPER)
        messages = await listed(simulator)

    assert len(receiver.incoming()) == (0 if failure == "unreachable" else 1)
    assert [params["Body"] for params in simulator.failed_replies] == ["STOP"]
    assert sorted(direction for direction, *_ in messages) == ["inbound", "outbound-api"]


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ({"match": "*42"}, r"reply\[0\]: missing body"),
        ({"body": "STOP"}, r"reply\[0\]: missing match"),
        ({"match": "42", "body": "STOP"}, r"reply\[0\]\.match: '42' is neither"),
        ({"match": "*42", "body": " "}, r"reply\[0\]\.body: expected a text of 1 to 1600"),
        ({"match": "*42", "body": "x" * 1601}, r"reply\[0\]\.body"),
        ({"match": "*42", "body": 7}, r"reply\[0\]\.body"),
        ({"match": "*42", "body": "STOP", "delay": -1}, r"reply\[0\]\.delay: expected a number"),
        ({"match": "*42", "body": "STOP", "delay": "1s"}, r"reply\[0\]\.delay"),
        ({"match": "*42", "body": "STOP", "delay": True}, r"reply\[0\]\.delay"),
        ({"match": "*42", "body": "STOP", "text": "x"}, r"reply\[0\]: unknown field\(s\) text"),
        ("STOP", r"reply\[0\]: expected a table"),
    ],
)
def test_a_bad_reply_is_refused_naming_the_field(reply, error):
    with pytest.raises(ValueError, match=error):
        Scenario.from_dict({"reply": [reply]})


def test_a_scenario_file_with_a_bad_reply_is_refused_by_the_simulator(tmp_path):
    scenario = tmp_path / "scenario.toml"
    scenario.write_text('[[reply]]\nmatch = "*42"\nbody = "STOP"\ndelay = -1\n', encoding="utf-8")
    with pytest.raises(InvalidScenario, match=r"scenario\.toml: reply\[0\]\.delay"):
        Scenario.from_toml(scenario)
    with pytest.raises(ValueError, match=r"reply: expected a list of tables"):
        Scenario.from_dict({"reply": {"match": "*42", "body": "STOP"}})

    run = subprocess.run(
        [sys.executable, "-m", "dialer.carriers.simulator", "--scenario", str(scenario),
         "--account-sid", ACCOUNT, "--auth-token", TOKEN, "--port", "0"],
        capture_output=True, text=True, cwd=PROJECT, timeout=60, check=False,
    )  # fmt: skip

    assert run.returncode == 2
    assert "reply[0].delay: expected a number of seconds >= 0" in run.stderr
    assert "Traceback" not in run.stderr


def test_the_simulator_refuses_an_sms_url_that_is_no_url():
    run = subprocess.run(
        [sys.executable, "-m", "dialer.carriers.simulator", "--sms-url", "localhost/sms",
         "--account-sid", ACCOUNT, "--auth-token", TOKEN, "--port", "0"],
        capture_output=True, text=True, cwd=PROJECT, timeout=60, check=False,
    )  # fmt: skip

    assert run.returncode == 2
    assert "--sms-url: localhost/sms is not an http(s) URL" in run.stderr


def test_the_example_scenario_scripts_a_reply():
    example = Scenario.from_toml(PROJECT / "config" / "examples" / "scenario.toml")
    assert example.replies
    assert Reply("*42", "STOP").delay == 1.0


async def test_the_adapter_lists_as_sent_only_the_texts_it_created(receiver):
    """Recovery binds an attempt whose answer was lost to a text the carrier lists as sent
    to its number: a confirmation answering the recipient's STOP is none of those."""
    answer = MessagingResponse()
    answer.message(CONFIRMATION)
    receiver.answer = str(answer)
    scenario = replying(Reply("*42", "STOP", delay=0))
    since = datetime.now(UTC) - timedelta(minutes=1)
    async with Simulator(scenario, ACCOUNT, TOKEN, sms_url=receiver.url("sms")) as simulator:
        sid = await text(simulator, receiver, STOPPER)
        async with TwilioCarrier(ACCOUNT, TOKEN, base_url=simulator.url) as carrier:
            sent = await carrier.list_sent("sms", STOPPER, since)
        to_stopper = await listed(simulator, to=STOPPER)

    assert [event.sid for event in sent] == [sid]
    assert sorted(direction for direction, *_ in to_stopper) == ["outbound-api", "outbound-reply"]
