"""An answered call as Twilio runs it, for the simulated carrier.

Twilio requests the call's `Url`, executes the TwiML verbs it gets back, posts the keys a
`<Gather>` collects to the Gather's `action` and goes on with the TwiML that answers, until
the verbs run out or `<Hangup/>`. What the call did is written into its record:

    said            the text of each <Say>, in order
    pressed         the keys posted to a Gather's action, or None
    gather_answers  the HTTP status that answered each Gather post (None: no answer)
    webhooks        every request made: {"method", "url", "status"}
    error           why Twilio ended the call early (an application error), or None
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
        url, body, headers = webhook.url, None, {}
        if webhook.method == "GET":  # the parameters go in the query, which is signed
            url += ("&" if "?" in url else "?") + urlencode(webhook.params)
            signature = compute_signature(self.auth_token, url, {})
        else:
            body, headers = urlencode(webhook.params).encode(), {"Content-Type": FORM}
            signature = compute_signature(self.auth_token, url, webhook.params)
        headers["X-Twilio-Signature"] = signature
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
        return _parse(text)

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


async def _read_at_most(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """The body up to `limit` bytes: a document too long is refused unread, as Twilio does."""
    body = b""
    while len(body) < limit and (chunk := await stream.read(limit - len(body))):
        body += chunk
    return body


def _parse(text: bytes) -> ET.Element:
    if len(text) > MAX_DOCUMENT_BYTES:
        raise CallError(f"TwiML document over {MAX_DOCUMENT_BYTES} bytes")
    try:
        document = ET.fromstring(text)
    except ET.ParseError as error:
        raise CallError(f"not a TwiML document: {error}") from error
    if document.tag != "Response":
        raise CallError(f"TwiML document's root is <{document.tag}>, not <Response>")
    return document


def _method(verb: ET.Element) -> str:
    method = verb.get("method", "POST").upper()
    if method not in ("GET", "POST"):
        raise CallError(f"<{verb.tag}> method {method!r} is neither GET nor POST")
    return method
