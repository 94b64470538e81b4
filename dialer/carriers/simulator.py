"""A simulated carrier: a local aiohttp server speaking the Twilio REST API the adapter uses.

Each call or text ends as a `Scenario` says, the same way every run, and is reported through
signed status callbacks, so the whole dialing path runs without a real carrier. An answered
call runs the application's TwiML as Twilio does (`dialer.carriers.twiml`): the keys a
scenario presses reach the application only through a `<Gather>`, never in a status callback.
Calls and texts are listed as Twilio lists them (GET Calls.json, Messages.json). A scenario's
`[[reply]]` is a text the recipient sends back once a text to them is delivered: posted, signed,
to the sending number's SmsUrl (IncomingPhoneNumbers.json, else `sms_url`) as Twilio posts an
incoming message, and the `<Message>` verbs of the answer are sent. It also runs on its own:

    python -m dialer.carriers.simulator --port 8089 --scenario FILE --account-sid AC… --auth-token …
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.utils
import functools
import hmac
import math
import random
import re
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlencode, urlparse

import aiohttp
import structlog
from aiohttp import web

from compliance.phone import InvalidNumber, region_of
from dialer.carriers.abc import RESULT_OF, Kind
from dialer.carriers.twilio import API_VERSION, FORM, compute_signature
from dialer.carriers.twiml import MessageError, answer_message, new_call_record, run_call
from dialer.files import UnreadableText, read_toml
from dialer.logs import configure_logging

log = structlog.get_logger("dialer.carriers.simulator")

E164 = re.compile(r"\+[1-9]\d{1,14}")
RESULTS: dict[Kind, tuple[str, ...]] = {
    "call": ("answered", "no-answer", "busy", "failed", "machine"),
    "sms": ("delivered", "undelivered"),
}
# A text to a number that opted out at the carrier (replied STOP to the sender) fails with
# Twilio's error 21610: refused when it is created, or (as a Messaging Service sends it)
# accepted, then reported failed. Whether a number opted out is a fact about that number, so
# only an [[outcome]] scripts it; `default` never draws it.
OPTED_OUT = "opted-out"
UNSUBSCRIBED = (21610, "Attempt to send to unsubscribed recipient")
# When the carrier refuses a text to an opted-out number (an outcome's `refused`).
ON_CREATE = "on-create"  # the create request gets HTTP 400
AFTER_ACCEPT = "after-accept"  # 201, then status failed with the error
REFUSED = (ON_CREATE, AFTER_ACCEPT)
# Every result an [[outcome]] may give each kind.
OUTCOME_RESULTS: dict[Kind, tuple[str, ...]] = {
    "call": RESULTS["call"],
    "sms": (*RESULTS["sms"], OPTED_OUT),
}
# The statuses a call or text passes through after being queued, for each outcome.
PROGRESS: dict[str, tuple[str, ...]] = {
    "answered": ("initiated", "ringing", "in-progress", "completed"),
    "machine": ("initiated", "ringing", "in-progress", "completed"),
    "busy": ("initiated", "ringing", "busy"),
    "no-answer": ("initiated", "ringing", "no-answer"),
    "failed": ("initiated", "failed"),
    "delivered": ("queued", "sent", "delivered"),
    "undelivered": ("queued", "sent", "undelivered"),
    OPTED_OUT: ("queued", "failed"),  # refused after accept: never sent
}
# The error of a text that ends undelivered or failed: its callback's ErrorCode, its
# resource's error_code and error_message.
FAILURES: dict[str, tuple[int, str]] = {
    "undelivered": (30003, "Unreachable destination handset"),
    OPTED_OUT: UNSUBSCRIBED,
}
# The outcomes where someone or something picks up, and Twilio runs the call's TwiML.
PICKED_UP = ("answered", "machine")
# The StatusCallbackEvent that subscribes to a call status; every final status is "completed".
CALL_EVENT = {"initiated": "initiated", "ringing": "ringing", "in-progress": "answered"}
# Twilio's error for a missing or an invalid request field.
MISSING = {
    "To": (21201, "No 'To' number is specified"),
    "From": (21213, "No 'From' number is specified"),
    "Url": (21205, "Url is required"),
    "Body": (21602, "Message body is required"),
    "PhoneNumber": (21421, "PhoneNumber is required"),
}
INVALID = {
    "To": (21211, "Invalid 'To' Phone Number"),
    "From": (21212, "Invalid 'From' Phone Number"),
    "Url": (21205, "Url is not a valid URL"),
    "StatusCallback": (21609, "Invalid StatusCallback URL"),
    "PhoneNumber": (21421, "PhoneNumber is invalid"),
    "SmsUrl": (21502, "SmsUrl is not a valid URL"),
}
# Twilio's limit on a text's body, in characters.
MAX_BODY = 1600


class InvalidScenario(ValueError):
    """A scenario file that cannot be used; ``str()`` names the file and the bad field."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """How calls or texts to `match` (an E.164 number, or '*NN' for numbers ending in NN) end;
    `digits` are the keys the callee presses when the call's first <Gather> asks; `refused`
    when a text to an opted-out number is refused (ON_CREATE or AFTER_ACCEPT)."""

    match: str
    result: str
    digits: str | None = None
    refused: str = ON_CREATE

    def matches(self, number: str) -> bool:
        return _matches(self.match, number)


@dataclass(frozen=True, slots=True)
class Reply:
    """The text the owner of a number matching `match` sends back, `delay` seconds after a
    text to them is delivered."""

    match: str
    body: str
    delay: float = 1.0

    def matches(self, number: str) -> bool:
        return _matches(self.match, number)


def _matches(pattern: str, number: str) -> bool:
    """Whether `number` is the E.164 `pattern`, or ends in the digits of a '*NN' pattern."""
    if pattern.startswith("*"):
        return number.endswith(pattern[1:])
    return number == pattern


@dataclass(slots=True)
class Scenario:
    """Outcomes by number, then a weighted `default` mix; the same for the same seed. Every
    reply that matches a number answers each text delivered to it."""

    seed: int = 0
    default: dict[str, float] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)

    def replies_to(self, number: str) -> list[Reply]:
        return [reply for reply in self.replies if reply.matches(number)]

    def decide(self, kind: Kind, number: str, attempt: int) -> Outcome:
        """How attempt `attempt` (0, 1, …) to reach `number` ends: the first rule of this kind
        that matches, else a draw from `default` (all answered or delivered when it has none)."""
        for outcome in self.outcomes:
            if outcome.result in OUTCOME_RESULTS[kind] and outcome.matches(number):
                return outcome
        results = RESULTS[kind]
        weights = {name: weight for name, weight in self.default.items() if name in results}
        if not weights:
            return Outcome(number, results[0])
        # A string seed is hashed the same in every process, unlike hash().
        rng = random.Random(f"{self.seed}:{kind}:{number}:{attempt}")
        [result] = rng.choices(list(weights), list(weights.values()))
        return Outcome(number, result)

    @classmethod
    def from_toml(cls, path: Path | str) -> Scenario:
        """Read a scenario file; InvalidScenario names the file and the bad field, or says
        why the file cannot be read."""
        try:
            return cls.from_dict(read_toml(Path(path)))
        except UnreadableText as error:
            raise InvalidScenario(str(error)) from None
        except ValueError as error:
            raise InvalidScenario(f"{path}: {error}") from None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scenario:
        """A scenario from its TOML shape (`seed`, `default`, `[[outcome]]`, `[[reply]]`)."""
        _no_unknown_keys("scenario", data, {"seed", "default", "outcome", "reply"})
        seed = data.get("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError(f"seed: expected a whole number, got {seed!r}")
        outcomes = data.get("outcome", [])
        if not isinstance(outcomes, list):
            raise ValueError("outcome: expected a list of tables ([[outcome]])")
        replies = data.get("reply", [])
        if not isinstance(replies, list):
            raise ValueError("reply: expected a list of tables ([[reply]])")
        return cls(
            seed,
            _parse_default(data.get("default", {})),
            [_parse_outcome(f"outcome[{i}]", item) for i, item in enumerate(outcomes)],
            [_parse_reply(f"reply[{i}]", item) for i, item in enumerate(replies)],
        )


def _no_unknown_keys(where: str, data: Mapping[str, Any], known: set[str]) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}")


def _parse_default(table: Any) -> dict[str, float]:
    if not isinstance(table, dict):
        raise ValueError("default: expected a table of result = weight")
    _no_unknown_keys("default", table, set(RESULTS["call"] + RESULTS["sms"]))
    for name, weight in table.items():
        valid = isinstance(weight, int | float) and not isinstance(weight, bool)
        if not valid or not math.isfinite(weight) or weight < 0:
            raise ValueError(f"default.{name}: expected a weight >= 0, got {weight!r}")
    for kind, results in RESULTS.items():
        weights = [table[name] for name in results if name in table]
        if weights and sum(weights) == 0:
            raise ValueError(f"default: the {kind} weights add up to 0")
    return {name: float(weight) for name, weight in table.items()}


def _parse_outcome(where: str, item: Any) -> Outcome:
    if not isinstance(item, dict):
        raise ValueError(f"{where}: expected a table with match and result")
    _no_unknown_keys(where, item, {"match", "result", "digits", "refused"})
    missing = [key for key in ("match", "result") if key not in item]
    if missing:
        raise ValueError(f"{where}: missing {' and '.join(missing)}")
    match, result, digits = item.get("match"), item.get("result"), item.get("digits")
    refused = item.get("refused", ON_CREATE)
    _check_match(where, match)
    results = (*OUTCOME_RESULTS["call"], *OUTCOME_RESULTS["sms"])
    if result not in results:
        raise ValueError(f"{where}.result: {result!r} is not one of {', '.join(results)}")
    if digits is not None:
        if not isinstance(digits, str) or not re.fullmatch(r"[0-9*#]+", digits):
            raise ValueError(f"{where}.digits: {digits!r} is not a string of keypad keys")
        if result != "answered":
            raise ValueError(f"{where}.digits: only an answered call presses keys, not {result}")
    if "refused" in item:
        if refused not in REFUSED:
            raise ValueError(f"{where}.refused: {refused!r} is not one of {', '.join(REFUSED)}")
        if result != OPTED_OUT:
            raise ValueError(f"{where}.refused: only an opted-out text is refused, not {result}")
    return Outcome(match, result, digits, refused)


def _parse_reply(where: str, item: Any) -> Reply:
    if not isinstance(item, dict):
        raise ValueError(f"{where}: expected a table with match and body")
    _no_unknown_keys(where, item, {"match", "body", "delay"})
    missing = [key for key in ("match", "body") if key not in item]
    if missing:
        raise ValueError(f"{where}: missing {' and '.join(missing)}")
    match, body, delay = item["match"], item["body"], item.get("delay", 1.0)
    _check_match(where, match)
    if not isinstance(body, str) or not body.strip() or len(body) > MAX_BODY:
        raise ValueError(f"{where}.body: expected a text of 1 to {MAX_BODY} characters")
    valid = isinstance(delay, int | float) and not isinstance(delay, bool)
    if not valid or not math.isfinite(delay) or delay < 0:
        raise ValueError(f"{where}.delay: expected a number of seconds >= 0")
    return Reply(match, body, float(delay))


def _check_match(where: str, match: Any) -> None:
    if not isinstance(match, str) or not (E164.fullmatch(match) or re.fullmatch(r"\*\d+", match)):
        raise ValueError(f"{where}.match: {match!r} is neither an E.164 number nor '*' + digits")


def _error(status: int, code: int, message: str) -> web.Response:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return web.json_response(body, status=status)


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def _is_http_url(value: str) -> bool:
    parts = urlparse(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


WELL_FORMED: dict[str, Callable[[str], object]] = {
    "To": E164.fullmatch,
    "From": E164.fullmatch,
    "Url": _is_http_url,
    "StatusCallback": _is_http_url,
    "PhoneNumber": E164.fullmatch,
    "SmsUrl": _is_http_url,
}


def _bad_request(
    form: Mapping[str, Any],
    required: tuple[str, ...],
    optional: tuple[str, ...] = ("StatusCallback",),
) -> web.Response | None:
    """Twilio's 400 for the first missing or malformed field, or None when the form is valid."""
    for name in (*required, *optional):
        value = _text(form, name)
        if not value:
            if name in required:
                return _error(400, *MISSING[name])
        elif not WELL_FORMED.get(name, bool)(value):
            code, message = INVALID[name]
            return _error(400, code, f"{message}: {value}")
    return None


@dataclass(frozen=True, slots=True)
class Listing:
    """How Twilio lists one kind of resource: the key of its items, the filters that match a
    field exactly, and the time filter: `StartTime` is the day (UTC) a call started, and
    `StartTime>` / `StartTime<` (`StartTime>=…` in a URL) bound the instant it started,
    inclusively; a date alone is its midnight, as Twilio documents. Texts alike by DateSent."""

    key: str
    exact: Mapping[str, str]  # filter → resource field
    time_filter: str
    time_field: str  # the field it bounds, null until the call is dialed or the text sent

    @property
    def time_filters(self) -> tuple[str, str, str]:
        return (self.time_filter, f"{self.time_filter}>", f"{self.time_filter}<")

    @property
    def filters(self) -> tuple[str, ...]:
        return (*self.exact, *self.time_filters)


LISTINGS: dict[Kind, Listing] = {
    "call": Listing(
        "calls", {"To": "to", "From": "from", "Status": "status"}, "StartTime", "start_time"
    ),
    "sms": Listing("messages", {"To": "to", "From": "from"}, "DateSent", "date_sent"),
}


def _list_filter(listing: Listing, query: Mapping[str, str]) -> Callable[[dict[str, Any]], bool]:
    """Whether a resource passes the query's filters; ValueError names a bad one."""
    tests = [
        functools.partial(_field_is, listing.exact[name], value)
        for name, value in query.items()
        if name in listing.exact
    ]
    tests += [
        _time_test(name, value, listing.time_field)
        for name, value in query.items()
        if name in listing.time_filters
    ]
    return lambda resource: all(test(resource) for test in tests)


def _field_is(field: str, value: str, resource: dict[str, Any]) -> bool:
    return resource[field] == value


def _time_test(name: str, value: str, field: str) -> Callable[[dict[str, Any]], bool]:
    try:
        bound = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name}: {value!r} is neither YYYY-MM-DD nor an ISO 8601 time") from None
    if bound.tzinfo is None:
        bound = bound.replace(tzinfo=UTC)

    def passes(resource: dict[str, Any]) -> bool:
        if resource[field] is None:  # not dialed or not sent yet
            return False
        moment = email.utils.parsedate_to_datetime(resource[field])
        if name.endswith(">"):
            return moment >= bound
        if name.endswith("<"):
            return moment <= bound
        return moment.date() == bound.astimezone(UTC).date()

    return passes


def _whole_number(
    query: Mapping[str, str], name: str, default: int, low: int, high: int | None
) -> int:
    text = query.get(name, str(default))
    if not text.isdigit() or int(text) < low or (high is not None and int(text) > high):
        limits = f"from {low} to {high}" if high is not None else f"of {low} or more"
        raise ValueError(f"{name}: {text!r} is not a whole number {limits}")
    return int(text)


def _page_of(
    listing: Listing,
    resources: list[dict[str, Any]],
    path: str,
    query: Mapping[str, str],
    page: int,
    page_size: int,
) -> dict[str, Any]:
    """One page in Twilio's list shape, with the URIs of the pages beside it."""
    token = query.get("PageToken", "")
    start = _page_start(resources, page, page_size, token)
    shown = resources[start : start + page_size]
    filters = [(name, value) for name, value in query.items() if name in listing.filters]

    def uri(number: int, token: str = "") -> str:
        params = [*filters, ("PageSize", str(page_size)), ("Page", str(number))]
        if token:
            params.append(("PageToken", token))
        return f"{path}?{urlencode(params)}"

    more = start + page_size < len(resources)
    return {
        listing.key: shown,
        "page": page,
        "page_size": page_size,
        "start": start,
        "end": start + max(len(shown) - 1, 0),
        "uri": uri(page, token),
        "first_page_uri": uri(0),
        "next_page_uri": uri(page + 1, "PA" + shown[-1]["sid"]) if more else None,
        "previous_page_uri": uri(page - 1, "PB" + shown[0]["sid"]) if start and shown else None,
    }


def _page_start(resources: list[dict[str, Any]], page: int, page_size: int, token: str) -> int:
    """Where a page begins: after the resource a next-page token (PA…) names, a page before
    the one a previous-page token (PB…) names, as Twilio pages; else by the page number."""
    sids = [resource["sid"] for resource in resources]
    if token[2:] in sids:
        at = sids.index(token[2:])
        if token.startswith("PA"):
            return at + 1
        if token.startswith("PB"):
            return max(at - page_size, 0)
    return page * page_size


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Step = tuple[dict[str, Any], dict[str, str] | None]  # resource update, callback form to send
Conversation = Callable[[], Awaitable[None]]  # what happens while an answered call is up


class Simulator:
    """The simulated carrier account. `calls` and `messages` record every call and text, a
    text's `direction` saying which: "outbound-api" (a request), "outbound-reply" (a
    `<Message>` answering an incoming text) or "inbound" (a scenario's reply).
    `sms_url` is where incoming texts go for numbers without their own SmsUrl."""

    def __init__(
        self,
        scenario: Scenario,
        account_sid: str,
        auth_token: str,
        callback_delay: float = 0.0,
        *,
        duplicate_callbacks: bool = False,
        shuffle_callbacks: bool = False,
        callback_jitter: float = 0.0,
        callback_retries: int = 3,
        retry_delay: float = 0.5,
        sms_url: str = "",
    ) -> None:
        self.scenario = scenario
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.callback_delay = callback_delay
        self.duplicate_callbacks = duplicate_callbacks
        self.shuffle_callbacks = shuffle_callbacks
        self.callback_jitter = callback_jitter  # seconds: calls report in a random order
        self.callback_retries = callback_retries
        self.retry_delay = retry_delay
        self.sms_url = sms_url
        self.url = ""
        self.calls: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self.undelivered_callbacks: list[dict[str, str]] = []  # no answer, retries spent
        self.refused_callbacks: list[dict[str, str]] = []  # answered with an HTTP error
        self.failed_replies: list[dict[str, str]] = []  # incoming texts whose webhook failed
        self._numbers: dict[str, dict[str, Any]] = {}  # IncomingPhoneNumbers by phone number
        self.refused_messages: list[dict[str, Any]] = []  # to recipients who opted out
        self._resources: dict[str, dict[str, Any]] = {}
        self._attempts: Counter[tuple[Kind, str]] = Counter()
        self._shuffler = random.Random(scenario.seed)
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on host:port (0: any free port); returns the base URL for TwilioCarrier."""
        self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        self._runner = web.AppRunner(self._app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self.url = f"http://{host}:{self._runner.addresses[0][1]}"
        return self.url

    async def drain(self) -> None:
        """Wait until every status callback under way has been delivered or given up."""
        while self._tasks:
            await asyncio.gather(*self._tasks)

    async def stop(self) -> None:
        """Stop listening and abandon the callbacks not yet sent."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._client is not None:
            await self._client.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _app(self) -> web.Application:
        expected = aiohttp.encode_basic_auth(self.account_sid, self.auth_token).encode()

        @web.middleware
        async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return _error(401, 20003, "Authenticate")
            if request.match_info.get("account") != self.account_sid:
                return _error(404, 20404, f"The requested resource {request.path} was not found")
            return await handler(request)

        app = web.Application(middlewares=[authenticate])
        account = f"/{API_VERSION}/Accounts/{{account}}"
        app.router.add_post(f"{account}/Calls.json", self._create_call)
        app.router.add_get(f"{account}/Calls.json", functools.partial(self._list, "call"))
        app.router.add_post(f"{account}/Messages.json", self._create_message)
        app.router.add_get(f"{account}/Messages.json", functools.partial(self._list, "sms"))
        app.router.add_get(f"{account}/Calls/{{sid}}.json", self._fetch)
        app.router.add_get(f"{account}/Messages/{{sid}}.json", self._fetch)
        app.router.add_post(f"{account}/IncomingPhoneNumbers.json", self._create_number)
        app.router.add_post(f"{account}/IncomingPhoneNumbers/{{sid}}.json", self._update_number)
        app.router.add_get(f"{account}/IncomingPhoneNumbers/{{sid}}.json", self._fetch)
        return app

    async def _create_call(self, request: web.Request) -> web.Response:
        form = await request.post()
        if error := _bad_request(form, ("To", "From", "Url")):
            return error
        to, from_, callback = _text(form, "To"), _text(form, "From"), _text(form, "StatusCallback")
        sid, url = "CA" + secrets.token_hex(16), _text(form, "Url")
        call = {"sid": sid, "to": to, "from": from_, "url": url, "at": _now(), **new_call_record()}
        self.calls.append(call)
        events = set(form.getall("StatusCallbackEvent", [])) or {"completed"}
        detect = _text(form, "MachineDetection") in ("Enable", "DetectMessageEnd")
        outcome = self._decide("call", to)
        answered_by = _answered_by(outcome, detect)
        steps = self._call_steps(sid, to, from_, outcome, events, answered_by)
        conversation = None
        if outcome.result in PICKED_UP:
            fields = self._call_params(sid, to, from_, "in-progress", answered_by)
            assert self._client is not None, "start() opens the client session"
            conversation = functools.partial(
                run_call, self._client, self.auth_token, url, fields, outcome.digits, call
            )
        resource = {
            "to": to,
            "from": from_,
            "direction": "outbound-api",
            "answered_by": None,
            "date_created": _rfc2822(call["at"]),
            "start_time": None,  # Twilio times a call from when it is dialed, not queued
            "end_time": None,
        }
        return self._accept(sid, resource, steps, callback, conversation)

    async def _create_message(self, request: web.Request) -> web.Response:
        form = await request.post()
        if error := _bad_request(form, ("To", "From", "Body")):
            return error
        to, from_, body = _text(form, "To"), _text(form, "From"), _text(form, "Body")
        outcome = self._decide("sms", to)
        if self._refused_as_opted_out(to, from_, body, outcome):
            return _error(400, *UNSUBSCRIBED)
        return self._send_text(
            to, from_, body, _text(form, "StatusCallback"), "outbound-api", outcome
        )

    def _refused_as_opted_out(self, to: str, from_: str, body: str, outcome: Outcome) -> bool:
        """Whether the recipient opted out at the carrier and the create is refused: then
        Twilio creates no message (there is no sid), and the refusal is recorded."""
        if outcome.result != OPTED_OUT or outcome.refused != ON_CREATE:
            return False
        self.refused_messages.append({"to": to, "from": from_, "body": body, "at": _now()})
        return True

    def _send_text(
        self, to: str, from_: str, body: str, callback: str, direction: str, outcome: Outcome
    ) -> web.Response:
        sid, at = "SM" + secrets.token_hex(16), _now()
        self.messages.append(
            {"sid": sid, "to": to, "from": from_, "body": body, "at": at, "direction": direction}
        )
        steps = self._sms_steps(sid, to, from_, outcome)
        resource = {
            "to": to,
            "from": from_,
            "body": body,
            "direction": direction,
            "date_created": _rfc2822(at),
            "date_sent": None,  # set once sent, as Twilio does
            "error_code": None,
            "error_message": None,
        }
        return self._accept(sid, resource, steps, callback)

    async def _create_number(self, request: web.Request) -> web.Response:
        """Provision a number, and where its incoming texts go (SmsUrl), as Twilio does."""
        form = await request.post()
        if error := _bad_request(form, ("PhoneNumber",), ("SmsUrl",)):
            return error
        number = _text(form, "PhoneNumber")
        if number in self._numbers:
            return _error(400, 21422, f"PhoneNumber {number} is not available")
        now = _rfc2822(_now())
        resource = {
            "sid": "PN" + secrets.token_hex(16),
            "account_sid": self.account_sid,
            "phone_number": number,
            "sms_url": _text(form, "SmsUrl") or None,
            "sms_method": "POST",
            "date_created": now,
            "date_updated": now,
        }
        self._numbers[number] = self._resources[resource["sid"]] = resource
        return web.json_response(resource, status=201)

    async def _update_number(self, request: web.Request) -> web.Response:
        resource = self._resources.get(request.match_info["sid"])
        if resource is None or "phone_number" not in resource:
            return _error(404, 20404, f"The requested resource {request.path} was not found")
        form = await request.post()
        if error := _bad_request(form, (), ("SmsUrl",)):
            return error
        if "SmsUrl" in form:
            resource["sms_url"] = _text(form, "SmsUrl") or None
        resource["date_updated"] = _rfc2822(_now())
        return web.json_response(resource)

    async def _list(self, kind: Kind, request: web.Request) -> web.Response:
        """Twilio's list of calls or texts: newest first, filtered, one page with the URIs of
        its neighbours."""
        listing, query = LISTINGS[kind], request.query
        try:
            listed = _list_filter(listing, query)
            page_size = _whole_number(query, "PageSize", 50, 1, 1000)
            page = _whole_number(query, "Page", 0, 0, None)
        except ValueError as error:
            return _error(400, 20001, str(error))
        records = self.calls if kind == "call" else self.messages
        resources = [self._resources[record["sid"]] for record in reversed(records)]
        shown = [resource for resource in resources if listed(resource)]
        return web.json_response(_page_of(listing, shown, request.path, query, page, page_size))

    async def _fetch(self, request: web.Request) -> web.Response:
        resource = self._resources.get(request.match_info["sid"])
        if resource is None:
            return _error(404, 20404, f"The requested resource {request.path} was not found")
        return web.json_response(resource)

    def _decide(self, kind: Kind, number: str) -> Outcome:
        attempt = self._attempts[kind, number]
        self._attempts[kind, number] += 1
        return self.scenario.decide(kind, number, attempt)

    def _accept(
        self,
        sid: str,
        fields: dict[str, Any],
        steps: list[Step],
        callback: str,
        conversation: Conversation | None = None,
    ) -> web.Response:
        """Store the new resource, answer 201, and play its steps in the background."""
        resource = {"sid": sid, "account_sid": self.account_sid, "status": "queued", **fields}
        self._resources[sid] = resource
        self._spawn(self._progress(resource, steps, callback, conversation))
        return web.json_response(dict(resource), status=201)

    def _spawn(self, work: Awaitable[None]) -> None:
        """Run `work` in the background; drain() waits for it, stop() abandons it."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _call_steps(
        self,
        sid: str,
        to: str,
        from_: str,
        outcome: Outcome,
        events: set[str],
        answered_by: str | None,
    ) -> list[Step]:
        """The statuses and their callbacks; the keys pressed are no part of them (Twilio posts
        those to the Gather's action)."""
        steps: list[Step] = []
        sequence = 0
        for status in PROGRESS[outcome.result]:
            known_by = answered_by if status in ("in-progress", "completed") else None
            update = {"status": status, "answered_by": known_by}
            if CALL_EVENT.get(status, "completed") not in events:
                steps.append((update, None))
                continue
            params = {
                **self._call_params(sid, to, from_, status, known_by),
                "CallbackSource": "call-progress-events",
                "SequenceNumber": str(sequence),
            }
            steps.append((update, params))
            sequence += 1
        return steps

    def _call_params(
        self, sid: str, to: str, from_: str, status: str, answered_by: str | None
    ) -> dict[str, str]:
        """The call's fields Twilio sends with every request: TwiML webhooks and callbacks."""
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": sid,
            "CallStatus": status,
            "Direction": "outbound-api",
            "From": from_,
            "To": to,
        }
        if answered_by:
            params["AnsweredBy"] = answered_by
        return params

    def _sms_steps(self, sid: str, to: str, from_: str, outcome: Outcome) -> list[Step]:
        steps: list[Step] = []
        for status in PROGRESS[outcome.result]:
            update: dict[str, Any] = {"status": status}
            params = {
                "AccountSid": self.account_sid,
                "ApiVersion": API_VERSION,
                "From": from_,
                "MessageSid": sid,
                "MessageStatus": status,
                "SmsSid": sid,
                "SmsStatus": status,
                "To": to,
            }
            if status in ("undelivered", "failed") and outcome.result in FAILURES:
                code, message = FAILURES[outcome.result]
                params["ErrorCode"] = str(code)
                update |= {"error_code": code, "error_message": message}
            steps.append((update, params))
        return steps

    async def _progress(
        self,
        resource: dict[str, Any],
        steps: list[Step],
        callback: str,
        conversation: Conversation | None,
    ) -> None:
        """Move the resource through its statuses, reporting each to the status callback;
        an answered call's conversation runs before it completes."""
        held: list[dict[str, str]] = []  # callbacks kept back to be delivered out of order
        await asyncio.sleep(self._shuffler.uniform(0, self.callback_jitter))
        for index, (update, params) in enumerate(steps):
            await asyncio.sleep(self.callback_delay)
            resource.update(update)
            _stamp_time(resource)
            if params is not None and "CallbackSource" in params:
                params = {**params, "Timestamp": _rfc2822(_now())}  # as Twilio: when it fired
            if params is not None and callback:
                final = index == len(steps) - 1
                copies = [params, params] if final and self.duplicate_callbacks else [params]
                if self.shuffle_callbacks:
                    held.extend(copies)
                else:
                    for copy in copies:
                        await self._deliver(callback, copy)
            if conversation is not None and update["status"] == "in-progress":
                await conversation()
        self._shuffler.shuffle(held)
        for params in held:
            await self._deliver(callback, params)
        if resource["direction"] == "outbound-api" and resource["status"] == "delivered":
            for reply in self.scenario.replies_to(resource["to"]):
                self._spawn(self._reply(reply, resource["to"], resource["from"]))

    async def _reply(self, reply: Reply, sender: str, number: str) -> None:
        """`sender` texts `reply` to `number`: post it to the number's SmsUrl, once (Twilio
        never retries an incoming message's webhook), and send the answer's <Message>s."""
        await asyncio.sleep(reply.delay)
        sid, at = "SM" + secrets.token_hex(16), _now()
        record = {"sid": sid, "to": number, "from": sender, "body": reply.body, "at": at}
        self.messages.append(record | {"direction": "inbound"})
        self._resources[sid] = {
            "sid": sid,
            "account_sid": self.account_sid,
            "status": "received",
            "to": number,
            "from": sender,
            "body": reply.body,
            "direction": "inbound",
            "date_created": _rfc2822(at),
            "date_sent": _rfc2822(at),  # for an incoming text: when its webhook is sent
        }
        params = self._incoming_params(sid, sender, number, reply.body)
        url = self._sms_url(number)
        if not url:
            log.warning("incoming text not posted: the number has no SmsUrl", number=number)
            return
        assert self._client is not None, "start() opens the client session"
        try:
            texts = await answer_message(self._client, self.auth_token, url, params)
        except MessageError as error:
            log.warning("incoming message webhook failed", code=error.code, error=str(error))
            self.failed_replies.append(params)
            return
        for text in texts:
            to, from_ = text.to or sender, text.sender or number
            outcome = self._decide("sms", to)
            if not self._refused_as_opted_out(to, from_, text.body, outcome):
                self._send_text(to, from_, text.body, text.action or "", "outbound-reply", outcome)

    def _sms_url(self, number: str) -> str:
        configured = self._numbers.get(number, {}).get("sms_url")
        return configured or self.sms_url

    def _incoming_params(self, sid: str, sender: str, number: str, body: str) -> dict[str, str]:
        """The fields of Twilio's incoming message webhook (the geography left blank)."""
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "Body": body,
            "From": sender,
            "MessageSid": sid,
            "NumMedia": "0",
            "NumSegments": str(_segments(body)),
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": "received",
            "To": number,
        }
        for prefix, phone in (("From", sender), ("To", number)):
            params |= {f"{prefix}City": "", f"{prefix}State": "", f"{prefix}Zip": ""}
            params[f"{prefix}Country"] = _country(phone)
        return params

    async def _deliver(self, url: str, params: dict[str, str]) -> None:
        """POST one signed callback, retrying connection failures as Twilio does (bounded)."""
        assert self._client is not None, "start() opens the client session"
        headers = {
            "Content-Type": FORM,
            "X-Twilio-Signature": compute_signature(self.auth_token, url, params),
        }
        body = urlencode(params).encode()
        failure: Exception | None = None
        for attempt in range(self.callback_retries + 1):
            if attempt:
                await asyncio.sleep(self.retry_delay * attempt)
            try:
                async with self._client.post(url, data=body, headers=headers) as response:
                    if response.status >= 400:  # Twilio does not retry these either
                        log.warning("status callback refused", url=url, status=response.status)
                        self.refused_callbacks.append(params)
                    return
            except (aiohttp.ClientConnectionError, TimeoutError) as error:
                failure = error
        log.warning("status callback undelivered", url=url, params=params, error=repr(failure))
        self.undelivered_callbacks.append(params)


def _answered_by(outcome: Outcome, detect: bool) -> str | None:
    # Without machine detection Twilio cannot tell a machine from a person.
    if not detect or outcome.result not in PICKED_UP:
        return None
    return "machine_start" if outcome.result == "machine" else "human"


def _segments(body: str) -> int:
    """How many SMS parts a text takes: 160 characters in one part, 153 in each part of a
    longer text (ASCII counted as GSM-7); 70 and 67 for other text (UCS-2)."""
    single, part = (160, 153) if body.isascii() else (70, 67)
    return 1 if len(body) <= single else math.ceil(len(body) / part)


def _country(number: str) -> str:
    try:
        return region_of(number) or ""
    except InvalidNumber:
        return ""


def _stamp_time(resource: dict[str, Any]) -> None:
    """Stamp when a call is dialed and when it ends, and when a text is sent."""
    status = resource["status"]
    if "date_sent" in resource:
        if status == "sent":
            resource["date_sent"] = _rfc2822(_now())
    elif status == "initiated":
        resource["start_time"] = _rfc2822(_now())
    elif status in RESULT_OF["call"]:
        resource["end_time"] = _rfc2822(_now())


def _now() -> datetime:
    return datetime.now(UTC)


def _rfc2822(moment: datetime) -> str:
    """Twilio's resource timestamps: 'Tue, 10 Mar 2026 12:00:00 +0000'."""
    return email.utils.format_datetime(moment.astimezone(UTC).replace(microsecond=0))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m dialer.carriers.simulator",
        description="Serve a simulated Twilio-compatible carrier on this machine.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089, help="0 picks a free port")
    parser.add_argument("--scenario", type=Path, help="TOML scenario (default: all answered)")
    parser.add_argument("--account-sid", required=True)
    parser.add_argument("--auth-token", required=True)
    parser.add_argument("--callback-delay", type=float, default=1.0, help="seconds per status")
    parser.add_argument(
        "--sms-url",
        default="",
        help="where incoming texts (scenario replies) go for numbers without their own SmsUrl",
    )
    args = parser.parse_args(argv)
    if args.sms_url and not _is_http_url(args.sms_url):
        parser.error(f"--sms-url: {args.sms_url} is not an http(s) URL")
    try:
        scenario = Scenario.from_toml(args.scenario) if args.scenario else Scenario()
    except (OSError, ValueError) as error:
        parser.error(str(error))
    configure_logging()
    simulator = Simulator(
        scenario, args.account_sid, args.auth_token, args.callback_delay, sms_url=args.sms_url
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(simulator, args.host, args.port))


async def _serve(simulator: Simulator, host: str, port: int) -> None:
    url = await simulator.start(host, port)
    print(f"carrier simulator listening on {url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await simulator.stop()


if __name__ == "__main__":
    main()
