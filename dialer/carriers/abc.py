"""The carrier port: what the dialer asks of a voice/SMS carrier, and the events it reports.

Statuses use the Twilio vocabulary, which the Twilio-compatible carriers share. Callbacks
arrive at least once and in any order, so callers apply them through `advances`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import TracebackType
from typing import Any, Literal, Self

Kind = Literal["call", "sms"]
Result = Literal["answered", "no-answer", "busy", "failed", "machine", "delivered", "undelivered"]

# Progress of each status; the highest rank of a kind is final.
STATUS_RANK: dict[Kind, dict[str, int]] = {
    "call": {
        "queued": 0,
        "initiated": 1,
        "ringing": 2,
        "in-progress": 3,
        "completed": 4,
        "busy": 4,
        "no-answer": 4,
        "failed": 4,
        "canceled": 4,
    },
    "sms": {
        "accepted": 0,
        "scheduled": 0,
        "queued": 0,
        "sending": 1,
        "sent": 2,
        "delivered": 3,
        "read": 3,
        "undelivered": 3,
        "failed": 3,
        "canceled": 3,
    },
}
FINAL_RANK: dict[Kind, int] = {kind: max(ranks.values()) for kind, ranks in STATUS_RANK.items()}

# Our outcome for each final status; a completed call is refined by AnsweredBy.
RESULT_OF: dict[Kind, dict[str, Result]] = {
    "call": {
        "completed": "answered",
        "busy": "busy",
        "no-answer": "no-answer",
        "failed": "failed",
        "canceled": "failed",
    },
    "sms": {
        "delivered": "delivered",
        "read": "delivered",
        "undelivered": "undelivered",
        "failed": "undelivered",
        "canceled": "undelivered",
    },
}


class Placement(StrEnum):
    """What a failed request says about the call or text it was to create (or fetch)."""

    NOT_PLACED = "not-placed"  # the carrier certainly did not act: the request may be repeated
    UNKNOWN = "unknown"  # the carrier may have acted: a call may ring and report callbacks
    REJECTED = "rejected"  # the carrier refused this request (an invalid number, say)
    # A text refused because its recipient opted out at the carrier (replied STOP to the
    # sender): no text to that number will be sent. `code` names the carrier's error.
    OPTED_OUT = "opted-out"
    ACCOUNT = "account"  # every request will fail alike (credentials, account, base URL)
    NOT_FOUND = "not-found"  # a status fetch: the carrier itself says it has no such sid

    @property
    def retryable(self) -> bool:
        """Whether the same request may succeed later."""
        return self in (Placement.NOT_PLACED, Placement.UNKNOWN)


class CarrierError(Exception):
    """A carrier API request that failed: `placement` says what became of the call.

    `retryable` (whether repeating the same request may succeed) follows `placement`
    unless given: an answer that may have created a call is UNKNOWN, yet not to be repeated.
    """

    def __init__(
        self,
        message: str,
        *,
        placement: Placement,
        retryable: bool | None = None,
        status: int | None = None,
        code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.placement = placement
        self.retryable = placement.retryable if retryable is None else retryable
        self.status = status
        self.code = code


class BadCallback(ValueError):
    """A status callback without the fields every callback carries, or with unknown values."""


def is_machine(answered_by: str | None) -> bool:
    """Whether answering-machine detection says a machine or a fax picked up."""
    return answered_by is not None and (answered_by.startswith("machine") or answered_by == "fax")


def advances(kind: Kind, current: str | None, new: str) -> bool:
    """Whether status `new` should replace `current`: only a later stage, never after a final one.

    Duplicates and late arrivals (ringing after completed) return False, so applying every
    callback through this check is idempotent and order-independent.
    """
    if current is None:
        return True
    ranks = STATUS_RANK[kind]
    return ranks[current] < ranks[new]


@dataclass(frozen=True, slots=True)
class CarrierEvent:
    """One status report for a call or a message, from a callback or a status fetch.

    `error_code` is the carrier's error for a failed call or text, when it names one;
    `opted_out` says a text failed because its recipient opted out at the carrier (replied
    STOP to the sender), reported after the carrier had accepted it. `occurred_at` is when
    the carrier says the event happened (Twilio's `Timestamp` on call progress callbacks),
    when it says.
    """

    sid: str
    kind: Kind
    status: str
    result: Result | None
    digits: str | None = None
    answered_by: str | None = None
    sequence: int | None = None
    final: bool = False
    raw: dict[str, Any] = field(default_factory=dict)
    error_code: int | None = None
    opted_out: bool = False
    occurred_at: datetime | None = None

    @classmethod
    def of(
        cls,
        sid: str,
        kind: Kind,
        status: str,
        *,
        digits: str | None = None,
        answered_by: str | None = None,
        sequence: int | None = None,
        raw: Mapping[str, Any] | None = None,
        error_code: int | None = None,
        opted_out: bool = False,
        occurred_at: datetime | None = None,
    ) -> CarrierEvent:
        """The event for a carrier status, with our result; BadCallback for an unknown status."""
        rank = STATUS_RANK[kind].get(status)
        if rank is None:
            known = ", ".join(STATUS_RANK[kind])
            raise BadCallback(f"{sid}: unknown {kind} status {status!r}; expected one of {known}")
        result = RESULT_OF[kind].get(status)
        if result == "answered" and is_machine(answered_by):
            result = "machine"
        final = rank == FINAL_RANK[kind]
        return cls(
            sid,
            kind,
            status,
            result,
            digits,
            answered_by,
            sequence,
            final,
            dict(raw or {}),
            error_code,
            opted_out,
            occurred_at,
        )


class Carrier(ABC):
    """A carrier account: places calls, sends texts, and checks what its webhooks report."""

    @abstractmethod
    async def place_call(self, to: str, from_: str, status_callback: str, answer_url: str) -> str:
        """Dial E.164 `to` from `from_`; returns the carrier's call reference (CallSid)."""

    @abstractmethod
    async def send_sms(self, to: str, from_: str, body: str, status_callback: str) -> str:
        """Send a text; returns the carrier's message reference (MessageSid)."""

    @abstractmethod
    async def fetch_status(self, sid: str, kind: Kind) -> CarrierEvent:
        """The current status of a call or message, to reconcile after a crash."""

    @abstractmethod
    async def list_sent(self, kind: Kind, to: str, since: datetime) -> list[CarrierEvent]:
        """The calls to E.164 `to` started (or texts sent) at or after `since`: to find out
        what became of one whose placing ended in Placement.UNKNOWN."""

    @abstractmethod
    def verify(self, url: str, params: Mapping[str, str], signature: str | None) -> bool:
        """Whether a webhook request to public `url` with form `params` is signed by the carrier."""

    @abstractmethod
    def parse_callback(self, params: Mapping[str, str]) -> CarrierEvent:
        """The event a (verified) status callback reports; BadCallback when malformed."""

    @abstractmethod
    async def aclose(self) -> None:
        """Release the connections this carrier opened."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
