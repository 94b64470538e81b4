"""The adapter for Twilio-compatible REST APIs (Twilio, SignalWire's compatibility API).

Form-encoded requests with HTTP basic auth; webhooks signed as twilio-python's
`RequestValidator` checks them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlparse

import aiohttp

from dialer.carriers.abc import BadCallback, Carrier, CarrierError, CarrierEvent, Kind

API_VERSION = "2010-04-01"
# Twilio reports only 'completed' unless asked; the earlier events show live progress.
CALL_EVENTS = ("initiated", "ringing", "answered", "completed")
RESOURCE: dict[Kind, str] = {"call": "Calls", "sms": "Messages"}
FORM = "application/x-www-form-urlencoded"
# Requests in flight at once: aiohttp's default connection limit. Requests beyond it wait
# on our semaphore, which costs far less than waiting in aiohttp's connection pool.
CONCURRENT_REQUESTS = 100


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
    ) -> None:
        self.account_sid = account_sid
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
        self._account_url = f"{base_url.rstrip('/')}/{API_VERSION}/Accounts/{account_sid}"
        self._session = session
        self._owns_session = session is None
        self._slots = asyncio.Semaphore(CONCURRENT_REQUESTS)

    async def place_call(self, to: str, from_: str, status_callback: str, answer_url: str) -> str:
        form = urlencode(
            [("To", to), ("From", from_), ("Url", answer_url), ("StatusCallback", status_callback)]
        )
        return _sid(await self._request("POST", "Calls.json", f"{form}&{self._call_options}"))

    async def send_sms(self, to: str, from_: str, body: str, status_callback: str) -> str:
        form = urlencode(
            [("To", to), ("From", from_), ("Body", body), ("StatusCallback", status_callback)]
        )
        return _sid(await self._request("POST", "Messages.json", form))

    async def fetch_status(self, sid: str, kind: Kind) -> CarrierEvent:
        data = await self._request("GET", f"{RESOURCE[kind]}/{sid}.json")
        try:
            return CarrierEvent.of(
                sid, kind, data["status"], answered_by=data.get("answered_by"), raw=data
            )
        except (KeyError, BadCallback) as error:
            raise CarrierError(f"unexpected {kind} resource: {error}", retryable=False) from error

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
        return CarrierEvent.of(
            sid,
            kind,
            status,
            digits=params.get("Digits") or None,
            answered_by=params.get("AnsweredBy") or None,
            sequence=None if sequence is None else int(sequence),
            raw=dict(params),
        )

    async def aclose(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def _request(self, method: str, path: str, form: str | None = None) -> dict[str, Any]:
        """One API request; `form` is urlencoded already (aiohttp would build a multipart
        writer for every list or dict it is given)."""
        if self._session is None:  # created here, inside the running loop aiohttp wants
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        url = f"{self._account_url}/{path}"
        body, headers = None, self._headers
        if form is not None:
            body, headers = form.encode(), self._form_headers
        try:
            async with (
                self._slots,
                self._session.request(method, url, data=body, headers=headers) as response,
            ):
                status, text = response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise CarrierError(f"{method} {url}: {error!r}", retryable=True) from error
        if status >= 400:
            raise _api_error(status, text)
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise CarrierError(f"{method} {url}: response is not a JSON object", retryable=False)
        return data


def _api_error(status: int, text: str) -> CarrierError:
    """Twilio's error body {"code", "message", "status"}; a proxy's HTML page is kept short."""
    try:
        body = json.loads(text)
        message, code = str(body["message"]), body.get("code")
    except (ValueError, KeyError, TypeError):
        message, code = text.strip()[:200] or "no error message", None
    # 429 is Twilio's rate limit: the same request succeeds later, like a 5xx.
    retryable = status >= 500 or status == 429
    return CarrierError(f"HTTP {status}: {message}", retryable=retryable, status=status, code=code)


def _sid(data: dict[str, Any]) -> str:
    sid = data.get("sid")
    if not isinstance(sid, str) or not sid:
        raise CarrierError(
            f"carrier accepted the request but returned no sid: {data}", retryable=False
        )
    return sid
