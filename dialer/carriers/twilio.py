"""The adapter for Twilio-compatible REST APIs (Twilio, SignalWire's compatibility API).

Form-encoded requests with HTTP basic auth; webhooks signed as twilio-python's
`RequestValidator` checks them.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlparse

import aiohttp

from dialer.carriers.abc import (
    BadCallback,
    Carrier,
    CarrierError,
    CarrierEvent,
    Kind,
    Placement,
)

API_VERSION = "2010-04-01"
# Twilio reports only 'completed' unless asked; the earlier events show live progress.
CALL_EVENTS = ("initiated", "ringing", "answered", "completed")
RESOURCE: dict[Kind, str] = {"call": "Calls", "sms": "Messages"}
FORM = "application/x-www-form-urlencoded"
# Requests in flight at once: aiohttp's default connection limit. Requests beyond it wait
# on our semaphore, which costs far less than waiting in aiohttp's connection pool.
CONCURRENT_REQUESTS = 100
# Seconds. Connecting is quick or the carrier is unreachable; Twilio may take a while to
# answer a create. A connect timeout shorter than the total means any total timeout comes
# after the request was sent, when the carrier may have acted on it.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 15.0
TOTAL_TIMEOUT = 30.0
# Failures that leave the request unsent: no connection was made, or the URL is unusable.
NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError, aiohttp.InvalidURL)
# Twilio's error code for a resource it does not have.
TWILIO_NOT_FOUND = 20404
# Twilio's error code for a text to a recipient who opted out of the sender (replied STOP):
# the answer to the create request, or (through a Messaging Service, which accepts the text
# first) the error of its failed status.
TWILIO_UNSUBSCRIBED = 21610
# The statuses of a text that the carrier did not deliver, as its error says why.
SMS_FAILURES = ("failed", "undelivered")
# Each kind's list: the key of its items, and the filter bounding when one went out (a call
# is timed from when it is dialed, a text from when it is sent).
LISTED_AS: dict[Kind, tuple[str, str]] = {
    "call": ("calls", "StartTime>"),
    "sms": ("messages", "DateSent>"),
}
# Calls or texts to one number since a given time: a few, so a few pages bound a runaway
# listing.
LIST_PAGE_SIZE = 50
LIST_PAGES = 20
# The direction of a call or text created through the REST API, as Twilio lists it.
CREATED_BY_API = "outbound-api"


def compute_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """X-Twilio-Signature: base64 HMAC-SHA1 of the URL then each name+value in sorted order."""
    # A multidict (aiohttp's request.post()) may repeat a name; Twilio signs every value.
    getall = getattr(params, "getall", None)
    payload = url
    for name in sorted(set(params)):
        for value in sorted(getall(name) if getall else [params[name]]):
            payload += name + value
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def url_variants(url: str) -> tuple[str, str]:
    """The URL without and with its port, since Twilio may sign either (RequestValidator)."""
    parts = urlparse(url)
    if parts.port is None:
        default = 443 if parts.scheme == "https" else 80
        return parts.geturl(), parts._replace(netloc=f"{parts.netloc}:{default}").geturl()
    return parts._replace(netloc=parts.netloc.rsplit(":", 1)[0]).geturl(), parts.geturl()


class TwilioCarrier(Carrier):
    """One account on a Twilio-compatible API; closes the HTTP session only if it opened it."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        base_url: str = "https://api.twilio.com",
        session: aiohttp.ClientSession | None = None,
        call_events: tuple[str, ...] = CALL_EVENTS,
        *,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        total_timeout: float = TOTAL_TIMEOUT,
    ) -> None:
        if connect_timeout >= total_timeout:
            raise ValueError("connect_timeout must be shorter than total_timeout")
        self.account_sid = account_sid
        self._timeout = aiohttp.ClientTimeout(
            total=total_timeout, connect=connect_timeout, sock_read=read_timeout
        )
        # The same on every call: encoded once.
        self._call_options = urlencode(
            [
                ("StatusCallbackMethod", "POST"),
                ("MachineDetection", "Enable"),
                *(("StatusCallbackEvent", event) for event in call_events),
            ]
        )
        self._auth_token = auth_token
        self._headers = {
            "Accept": "application/json",
            "Authorization": aiohttp.encode_basic_auth(account_sid, auth_token),
        }
        self._form_headers = {**self._headers, "Content-Type": FORM}
        self._base_url = base_url.rstrip("/")
        self._account_url = f"{self._base_url}/{API_VERSION}/Accounts/{account_sid}"
        self._session = session
        self._owns_session = session is None
        self._slots = asyncio.Semaphore(CONCURRENT_REQUESTS)

    async def place_call(self, to: str, from_: str, status_callback: str, answer_url: str) -> str:
        form = urlencode(
            [("To", to), ("From", from_), ("Url", answer_url), ("StatusCallback", status_callback)]
        )
        url = f"{self._account_url}/Calls.json"
        return _sid(await self._request("POST", url, f"{form}&{self._call_options}"))

    async def send_sms(self, to: str, from_: str, body: str, status_callback: str) -> str:
        form = urlencode(
            [("To", to), ("From", from_), ("Body", body), ("StatusCallback", status_callback)]
        )
        return _sid(await self._request("POST", f"{self._account_url}/Messages.json", form))

    async def fetch_status(self, sid: str, kind: Kind) -> CarrierEvent:
        try:
            data = await self._request("GET", f"{self._account_url}/{RESOURCE[kind]}/{sid}.json")
        except CarrierError as error:
            # Only Twilio's own 20404 says so: a proxy's 404 page says nothing about the sid.
            if error.status == 404 and error.code == TWILIO_NOT_FOUND:
                raise CarrierError(
                    str(error), status=404, code=error.code, placement=Placement.NOT_FOUND
                ) from error
            raise
        return _event(kind, data, sid)

    async def list_sent(self, kind: Kind, to: str, since: datetime) -> list[CarrierEvent]:
        if since.tzinfo is None:
            raise ValueError("since must be timezone-aware")
        key, after = LISTED_AS[kind]
        start = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        query = urlencode([("To", to), (after, start), ("PageSize", LIST_PAGE_SIZE)])
        url = f"{self._account_url}/{RESOURCE[kind]}.json?{query}"
        events: list[CarrierEvent] = []
        for _ in range(LIST_PAGES):
            page = await self._request("GET", url)
            items = page.get(key)
            if not isinstance(items, list):
                raise _unexpected(f"a {kind} list without {key}: {page}")
            # Only what the API created: a <Message> answering an incoming text is listed
            # to the number too (direction outbound-reply), and is no attempt of ours.
            created = [item for item in items if item.get("direction") == CREATED_BY_API]
            events += [_event(kind, item) for item in created]
            next_url = self._next_page(page.get("next_page_uri"))
            if next_url is None:
                return events
            url = next_url
        raise _unexpected(f"more than {LIST_PAGES} pages of {key} to {to} since {start}")

    def verify(self, url: str, params: Mapping[str, str], signature: str | None) -> bool:
        if not signature:
            return False
        given = signature.encode()

        def signs(candidate: str) -> bool:
            expected = compute_signature(self._auth_token, candidate, params).encode()
            return hmac.compare_digest(given, expected)

        if signs(url):  # the URL as received: what a carrier signs unless a proxy rewrote it
            return True
        try:
            candidates = url_variants(url)
        except ValueError:  # a port that is not a number: not a URL Twilio could have signed
            return False
        return any(signs(candidate) for candidate in candidates if candidate != url)

    def parse_callback(self, params: Mapping[str, str]) -> CarrierEvent:
        if "MessageSid" in params:
            kind: Kind = "sms"
            sid, status = params["MessageSid"], params.get("MessageStatus")
        elif "CallSid" in params:
            kind, sid, status = "call", params["CallSid"], params.get("CallStatus")
        else:
            raise BadCallback("callback has neither CallSid nor MessageSid")
        if not status:
            field = "MessageStatus" if kind == "sms" else "CallStatus"
            raise BadCallback(f"{sid}: callback has no {field}")
        sequence = params.get("SequenceNumber")
        if sequence is not None and not sequence.isdigit():
            raise BadCallback(f"{sid}: SequenceNumber {sequence!r} is not a whole number")
        code = _error_code(params.get("ErrorCode"))
        return CarrierEvent.of(
            sid,
            kind,
            status,
            digits=params.get("Digits") or None,
            answered_by=params.get("AnsweredBy") or None,
            sequence=None if sequence is None else int(sequence),
            raw=dict(params),
            error_code=code,
            opted_out=_opted_out(kind, status, code),
            occurred_at=_timestamp(params.get("Timestamp")),
        )

    async def aclose(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _next_page(self, next_page_uri: object) -> str | None:
        """The URL of the next page; Twilio gives a path on the API host, or null at the end."""
        if next_page_uri is None:
            return None
        if not isinstance(next_page_uri, str) or not next_page_uri.startswith("/"):
            raise _unexpected(f"next_page_uri {next_page_uri!r} is not a path")
        return f"{self._base_url}{next_page_uri}"

    async def _request(self, method: str, url: str, form: str | None = None) -> dict[str, Any]:
        """One API request; `form` is urlencoded already (aiohttp would build a multipart
        writer for every list or dict it is given)."""
        if self._session is None:  # created here, inside the running loop aiohttp wants
            self._session = aiohttp.ClientSession()
        body, headers = None, self._headers
        if form is not None:
            body, headers = form.encode(), self._form_headers
        try:
            async with (
                self._slots,
                self._session.request(
                    method, url, data=body, headers=headers, timeout=self._timeout
                ) as response,
            ):
                status, content = response.status, await response.read()
        # Not only ClientError: aiohttp lets other errors out too, and each must be classified.
        except Exception as error:
            placement = Placement.NOT_PLACED if isinstance(error, NOT_SENT) else Placement.UNKNOWN
            raise CarrierError(f"{method} {url}: {error!r}", placement=placement) from error
        if status >= 400:
            raise _api_error(status, content)
        try:
            data = json.loads(content)
        except ValueError:  # UnicodeDecodeError included
            data = None
        if not isinstance(data, dict):
            raise _unexpected(f"{method} {url}: response is not a JSON object")
        return data


def _api_error(status: int, content: bytes) -> CarrierError:
    """Twilio's error body {"code", "message", "status"}; a proxy's page is kept short."""
    try:
        body = json.loads(content)
        message, code = str(body["message"]), body.get("code")
    except (ValueError, KeyError, TypeError):
        text = content.decode("utf-8", errors="replace")  # a proxy's page may be in any charset
        message, code = text.strip()[:200] or "no error message", None
    code = code if isinstance(code, int) else None
    placement = _placement_of(status, code)
    return CarrierError(f"HTTP {status}: {message}", status=status, code=code, placement=placement)


def _placement_of(status: int, code: int | None) -> Placement:
    """What an HTTP error status says about the request that got it."""
    if status in (429, 503):  # Twilio's rate limit, or a server refusing work for now
        return Placement.NOT_PLACED
    if status >= 500:  # a failure in Twilio or in between, perhaps after acting on it
        return Placement.UNKNOWN
    if status in (401, 403, 404) or code is None:
        # Credentials, account, or a base URL that leads elsewhere; a 4xx that is not
        # Twilio's own (no error code) comes from something in between that refuses us.
        return Placement.ACCOUNT
    if code == TWILIO_UNSUBSCRIBED:
        return Placement.OPTED_OUT
    return Placement.REJECTED


def _event(kind: Kind, data: dict[str, Any], sid: str | None = None) -> CarrierEvent:
    """The event a call or message resource reports."""
    code = _error_code(data.get("error_code"))
    try:
        return CarrierEvent.of(
            sid or data["sid"],
            kind,
            data["status"],
            answered_by=data.get("answered_by"),
            raw=data,
            error_code=code,
            opted_out=_opted_out(kind, data["status"], code),
        )
    except (KeyError, TypeError, BadCallback) as error:
        raise _unexpected(f"unexpected {kind} resource: {error}") from error


def _error_code(value: object) -> int | None:
    """Twilio's error code: a number in a resource, its digits in a callback. Anything else
    (null, empty, malformed) names no error."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def _timestamp(value: str | None) -> datetime | None:
    """When a call progress event happened: Twilio's `Timestamp`, UTC in RFC 2822. One that
    is absent or malformed says nothing (it only measures our lag)."""
    if not value:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _opted_out(kind: Kind, status: object, code: int | None) -> bool:
    """Whether a text failed because its recipient opted out at the carrier."""
    return kind == "sms" and status in SMS_FAILURES and code == TWILIO_UNSUBSCRIBED


def _unexpected(message: str) -> CarrierError:
    """An answer of the wrong shape: whether the carrier acted is unknown, and asking again
    gets the same answer."""
    return CarrierError(message, placement=Placement.UNKNOWN, retryable=False)


def _sid(data: dict[str, Any]) -> str:
    sid = data.get("sid")
    if not isinstance(sid, str) or not sid:
        raise _unexpected(f"carrier accepted the request but returned no sid: {data}")
    return sid
