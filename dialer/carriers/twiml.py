"""An answered call, and the answer to an incoming text, as Twilio runs them, for the
simulated carrier.

Twilio requests the call's `Url`, executes the TwiML verbs it gets back, posts the keys a
`<Gather>` collects to the Gather's `action` and goes on with the TwiML that answers, until
the verbs run out or `<Hangup/>`. What the call did is written into its record:

    said            the text of each <Say>, in order
    pressed         the keys posted to a Gather's action, or None
    gather_answers  the HTTP status that answered each Gather post (None: no answer)
    webhooks        every request made: {"method", "url", "status"}
    error           why Twilio ended the call early (an application error), or None

An incoming text's webhook is posted once, never retried (`answer_message`); the `<Message>`
verbs of its answer are the texts Twilio sends back.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin

import aiohttp

from dialer.carriers.twilio import FORM, compute_signature

MAX_DOCUMENT_BYTES = 64 * 1024  # Twilio refuses longer TwiML documents
MAX_REQUESTS = 10  # per call, the answer included: a <Redirect> loop ends here
# Verbs that only make sound: nothing for the simulated callee to do.
SOUNDS = frozenset({"Play", "Pause"})


class CallError(Exception):
    """Twilio would say "an application error has occurred" and hang up."""


class MessageError(Exception):
    """Twilio would log error `code` for an incoming text's webhook and send no reply."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class _BadDocument(ValueError):
    """An answer that is no TwiML document Twilio would run."""


@dataclass(frozen=True, slots=True)
class Text:
    """A text a `<Message>` sends: `to` and `sender` None for the incoming text's sender and
    recipient; `action` is the URL of its status callback, or None."""

    body: str
    to: str | None
    sender: str | None
    action: str | None


@dataclass(frozen=True, slots=True)
class Webhook:
    """One request Twilio makes to the application while the call is up."""

    method: str
    url: str
    params: dict[str, str]
    posts_keys: bool = False  # a Gather's keys, to its action


def new_call_record() -> dict[str, Any]:
    """The fields `run_call` fills in, as they stand for a call not (yet) answered."""
    return {"said": [], "pressed": None, "gather_answers": [], "webhooks": [], "error": None}


async def run_call(
    client: aiohttp.ClientSession,
    auth_token: str,
    answer_url: str,
    fields: dict[str, str],
    digits: str | None,
    call: dict[str, Any],
) -> None:
    """Run the call's TwiML from `answer_url`; the callee presses `digits` at the first Gather.

    `fields` are the call's parameters Twilio sends with every request (CallSid, To, …)."""
    conversation = _Conversation(client, auth_token, fields, digits, call)
    webhook = Webhook("POST", answer_url, fields)
    try:
        for _ in range(MAX_REQUESTS):
            document = await conversation.request(webhook)
            next_webhook = conversation.execute(document, webhook.url)
            if next_webhook is None:
                return
            webhook = next_webhook
        raise CallError(f"more than {MAX_REQUESTS} requests for one call")
    except CallError as error:
        call["error"] = str(error)


class _Conversation:
    def __init__(
        self,
        client: aiohttp.ClientSession,
        auth_token: str,
        fields: dict[str, str],
        digits: str | None,
        call: dict[str, Any],
    ) -> None:
        self.client = client
        self.auth_token = auth_token
        self.fields = fields
        self.digits = digits
        self.call = call

    async def request(self, webhook: Webhook) -> ET.Element:
        """Send one signed request, as Twilio signs it; the <Response> it answers with."""
        url, body, headers = _signed(self.auth_token, webhook)
        status: int | None = None
        try:
            async with self.client.request(
                webhook.method, url, data=body, headers=headers
            ) as response:
                status = response.status
                text = await _read_at_most(response.content, MAX_DOCUMENT_BYTES + 1)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise CallError(f"{webhook.method} {url}: {error!r}") from error
        finally:
            self.call["webhooks"].append({"method": webhook.method, "url": url, "status": status})
            if webhook.posts_keys:
                self.call["gather_answers"].append(status)
        if not 200 <= response.status < 300:
            raise CallError(f"{webhook.method} {url} answered HTTP {response.status}")
        try:
            return _parse(text)
        except _BadDocument as error:
            raise CallError(str(error)) from None

    def execute(self, document: ET.Element, document_url: str) -> Webhook | None:
        """Carry out the verbs in order: the next request to make, or None when the call ends."""
        for verb in document:
            if verb.tag == "Say":
                self._say(verb)
            elif verb.tag == "Hangup":
                return None
            elif verb.tag == "Gather":
                if webhook := self._gather(verb, document_url):
                    return webhook
            elif verb.tag == "Redirect":
                target = (verb.text or "").strip()
                if not target:
                    raise CallError("<Redirect> has no URL")
                return Webhook(_method(verb), urljoin(document_url, target), self.fields)
            elif verb.tag not in SOUNDS:
                raise CallError(f"the simulator does not support <{verb.tag}>")
        return None

    def _say(self, say: ET.Element) -> None:
        self.call["said"].append("".join(say.itertext()).strip())

    def _gather(self, gather: ET.Element, document_url: str) -> Webhook | None:
        """Say what the Gather says, then post the keys; None when the callee presses none."""
        for verb in gather:
            if verb.tag == "Say":
                self._say(verb)
            elif verb.tag not in SOUNDS:
                raise CallError(f"<{verb.tag}> cannot be nested in <Gather>")
        keys = self._press(gather)
        if not keys:  # timed out: Twilio goes on with the next verb
            return None
        self.call["pressed"] = keys
        # Without an action Twilio posts to the document's own URL.
        url = urljoin(document_url, gather.get("action") or document_url)
        return Webhook(_method(gather), url, {**self.fields, "Digits": keys}, posts_keys=True)

    def _press(self, gather: ET.Element) -> str | None:
        """The keys the callee presses: the scenario's, once, cut at the Gather's numDigits."""
        keys, self.digits = self.digits, None
        num_digits = gather.get("numDigits")
        if keys and num_digits:
            if not num_digits.isdigit() or int(num_digits) < 1:
                raise CallError(f"<Gather> numDigits {num_digits!r} is not a whole number")
            keys = keys[: int(num_digits)]
        return keys


async def answer_message(
    client: aiohttp.ClientSession, auth_token: str, url: str, fields: dict[str, str]
) -> list[Text]:
    """POST an incoming text's webhook, signed, once; the texts its TwiML answer sends.

    MessageError with Twilio's code: 11200 when the URL is unreachable or answers an HTTP
    error, 12100 when the answer is no TwiML document, 12200 for a verb Twilio's messaging
    TwiML does not have (or the simulator does not run: <Redirect>), 14103 for a <Message>
    without a body."""
    url, body, headers = _signed(auth_token, Webhook("POST", url, fields))
    try:
        async with client.post(url, data=body, headers=headers) as response:
            status = response.status
            text = await _read_at_most(response.content, MAX_DOCUMENT_BYTES + 1)
    except (aiohttp.ClientError, TimeoutError) as error:
        raise MessageError(11200, f"POST {url}: {error!r}") from error
    if not 200 <= status < 300:
        raise MessageError(11200, f"POST {url} answered HTTP {status}")
    try:
        document = _parse(text)
    except _BadDocument as error:
        raise MessageError(12100, str(error)) from None
    return [_message_text(verb, url) for verb in document]


def _message_text(verb: ET.Element, document_url: str) -> Text:
    if verb.tag != "Message":
        raise MessageError(12200, f"the simulator does not run <{verb.tag}> in a message reply")
    bodies = verb.findall("Body")
    # A <Message> holds its text, or <Body> (and <Media>) elements.
    body = "".join("".join(part.itertext()) for part in bodies) if bodies else verb.text or ""
    if not body.strip():
        raise MessageError(14103, "<Message> has no body")  # Twilio's "Invalid Body"
    action = verb.get("action")
    return Text(
        body.strip(),
        verb.get("to"),
        verb.get("from"),
        urljoin(document_url, action) if action else None,
    )


def _signed(auth_token: str, webhook: Webhook) -> tuple[str, bytes | None, dict[str, str]]:
    """The URL, body and headers of a request signed as Twilio signs it."""
    url, body, headers = webhook.url, None, {}
    if webhook.method == "GET":  # the parameters go in the query, which is signed
        url += ("&" if "?" in url else "?") + urlencode(webhook.params)
        signature = compute_signature(auth_token, url, {})
    else:
        body, headers = urlencode(webhook.params).encode(), {"Content-Type": FORM}
        signature = compute_signature(auth_token, url, webhook.params)
    headers["X-Twilio-Signature"] = signature
    return url, body, headers


async def _read_at_most(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """The body up to `limit` bytes: a document too long is refused unread, as Twilio does."""
    body = b""
    while len(body) < limit and (chunk := await stream.read(limit - len(body))):
        body += chunk
    return body


def _parse(text: bytes) -> ET.Element:
    if len(text) > MAX_DOCUMENT_BYTES:
        raise _BadDocument(f"TwiML document over {MAX_DOCUMENT_BYTES} bytes")
    try:
        document = ET.fromstring(text)
    except ET.ParseError as error:
        raise _BadDocument(f"not a TwiML document: {error}") from error
    if document.tag != "Response":
        raise _BadDocument(f"TwiML document's root is <{document.tag}>, not <Response>")
    return document


def _method(verb: ET.Element) -> str:
    method = verb.get("method", "POST").upper()
    if method not in ("GET", "POST"):
        raise CallError(f"<{verb.tag}> method {method!r} is neither GET nor POST")
    return method
