"""The DNC registry's domain: lists, channels, sources, who may remove, and import results.

Plain data and plain functions; storage lives in `compliance.registry`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from compliance.accounts import Permission, User, authorize


class DncList(StrEnum):
    """A company-wide list: `dnc` blocks calls and texts, `dnt` (Do-Not-Text) blocks texts."""

    DNC = "dnc"
    DNT = "dnt"


class Channel(StrEnum):
    """How a lead is contacted."""

    VOICE = "voice"
    SMS = "sms"
    EMAIL = "email"


class LeadChannel(StrEnum):
    """A channel that can be blocked on one lead's own DNC record."""

    PHONE = "phone"
    SMS = "sms"
    EMAIL = "email"


class Source(StrEnum):
    """Where a DNC entry came from."""

    MANUAL = "manual"
    UPLOAD = "upload"
    STATUS_RULE = "status_rule"
    IVR = "ivr"
    SMS_KEYWORD = "sms_keyword"
    API = "api"


# Which company lists stop a contact on each channel.
LISTS_BLOCKING: dict[Channel, tuple[DncList, ...]] = {
    Channel.VOICE: (DncList.DNC,),
    Channel.SMS: (DncList.DNC, DncList.DNT),
    Channel.EMAIL: (),
}

# The lead's own DNC channel that stops a contact on each channel.
LEAD_CHANNEL_OF: dict[Channel, LeadChannel] = {
    Channel.VOICE: LeadChannel.PHONE,
    Channel.SMS: LeadChannel.SMS,
    Channel.EMAIL: LeadChannel.EMAIL,
}


class RemovalRefused(PermissionError):
    """A removal from a company list without a reason; nothing was changed."""


def check_removal(user: User | None, reason: str, by: str) -> None:
    """Refuse a removal unless `user` (found under `by`) may remove and gives a reason;
    NotPermitted or RemovalRefused say why."""
    authorize(user, by, Permission.REMOVE)
    require_reason(reason)


def require_reason(reason: str) -> None:
    """Refuse a removal without a reason (RemovalRefused): the audit trail records why."""
    if not reason.strip():
        raise RemovalRefused("removal refused: a reason is required to remove a number")


def parse_lead_channels(text: str) -> frozenset[LeadChannel]:
    """'phone,sms' -> {PHONE, SMS}; '' -> no channel. Unknown names raise ValueError."""
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    valid = {channel.value for channel in LeadChannel}
    unknown = [name for name in names if name not in valid]
    if unknown:
        raise ValueError(f"unknown channel(s) {', '.join(unknown)}; choose from phone, sms, email")
    return frozenset(LeadChannel(name) for name in names)


def format_lead_channels(channels: frozenset[LeadChannel]) -> str:
    """The stable text form, in phone, sms, email order."""
    return ",".join(channel.value for channel in LeadChannel if channel in channels)


@dataclass(frozen=True, slots=True)
class DncEntry:
    number: str
    list_name: DncList
    source: Source
    reason: str
    added_by: str
    added_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class AuditEvent:
    id: int
    at: datetime
    action: str
    list_name: str | None
    number: str | None
    lead_id: int | None
    channels: str | None
    source: str
    reason: str
    actor: str


@dataclass(frozen=True, slots=True)
class InvalidRow:
    row: int
    value: str
    error: str


# An import reports at most this many invalid rows in detail; the rest are only counted,
# so a 10M-row file of garbage cannot exhaust memory.
INVALID_ROWS_REPORTED = 1000


@dataclass(slots=True)
class FileSummary:
    """Rows read from an uploaded file and the rows rejected (the first ones in detail)."""

    read: int = 0
    invalid: list[InvalidRow] = field(default_factory=list)
    invalid_count: int = 0

    def reject(self, row: int, value: str, error: str) -> None:
        self.invalid_count += 1
        if len(self.invalid) < INVALID_ROWS_REPORTED:
            self.invalid.append(InvalidRow(row, value, error))


@dataclass(slots=True)
class ImportSummary(FileSummary):
    """What a DNC upload did."""

    added: int = 0
    already_listed: int = 0
    duplicates_in_file: int = 0
