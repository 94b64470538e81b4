"""The company Do-Not-Call and Do-Not-Text lists: add, remove, import, check, export and
the audit trail, whoever asks (CLI, API, pages)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from compliance import (
    AuditEvent,
    Channel,
    Company,
    DncEntry,
    DncList,
    ImportSummary,
    InvalidNumber,
    Permission,
    Source,
    normalize,
    registry,
    sheets,
)
from compliance.tables import Page
from dialer.app import App, utcnow
from dialer.services import Caller, acting, e164_all

__all__ = [
    "Added",
    "NumberCheck",
    "NumberRecord",
    "Removed",
    "add_numbers",
    "audit_log",
    "check_numbers",
    "entries_page",
    "entry_view",
    "event_view",
    "events_page",
    "export_entries",
    "import_file",
    "import_view",
    "number_record",
    "remove_numbers",
]


@dataclass(frozen=True, slots=True)
class Added:
    """What an addition did, and in which company (for the node's metrics)."""

    added: list[str]
    already_listed: list[str]
    company: Company

    def as_dict(self) -> dict[str, Any]:
        return {"added": self.added, "already_listed": self.already_listed}


@dataclass(frozen=True, slots=True)
class Removed:
    removed: list[str]
    not_listed: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"removed": self.removed, "not_listed": self.not_listed}


async def add_numbers(
    app: App,
    caller: Caller,
    numbers: Sequence[str],
    list_name: DncList,
    *,
    reason: str = "",
    expires_at: datetime | None = None,
    source: Source = Source.MANUAL,
) -> Added:
    """Put `numbers` (any format) on a company list; one invalid number refuses them all
    (InvalidNumbers)."""
    async with app.transaction() as conn:
        who = await acting(app, conn, caller, Permission.CHANGE)
        wanted = e164_all(numbers, who.company.default_region)
        added = await registry.add_numbers(
            conn,
            who.company,
            wanted,
            list_name,
            source=source,
            reason=reason,
            actor=who.actor,
            now=utcnow(),
            expires_at=expires_at,
        )
    return Added(added, sorted(set(wanted) - set(added)), who.company)


async def remove_numbers(
    app: App, caller: Caller, numbers: Sequence[str], list_name: DncList, *, reason: str
) -> Removed:
    """Take `numbers` off a company list: the caller must be an admin or hold
    can_remove_dnc, and give a reason (RemovalRefused)."""
    async with app.transaction() as conn:
        who = await acting(app, conn, caller)
        wanted = e164_all(numbers, who.company.default_region)
        removed = await registry.remove_numbers(
            conn,
            who.company,
            wanted,
            list_name,
            reason=reason,
            user=who.user,
            by=who.actor,
            now=utcnow(),
        )
    return Removed(removed, sorted(set(wanted) - set(removed)))


async def import_file(
    app: App,
    caller: Caller,
    path: Path,
    list_name: DncList,
    *,
    reason: str = "",
    expires_at: datetime | None = None,
    file_name: str | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Upload a CSV or XLSX list (the first column of its first sheet) in one transaction:
    a file that cannot be read changes nothing. `file_name` names it in the default reason
    (default: the path's name)."""
    async with app.transaction() as conn:
        who = await acting(app, conn, caller, Permission.CHANGE)
        return await registry.import_numbers(
            conn,
            who.company,
            sheets.iter_first_column(path),
            list_name,
            reason=reason or f"upload of {file_name or path.name}",
            actor=who.actor,
            now=utcnow(),
            expires_at=expires_at,
            on_progress=on_progress,
        )


def import_view(summary: ImportSummary) -> dict[str, Any]:
    return asdict(summary)


@dataclass(frozen=True, slots=True)
class NumberCheck:
    """One input's answer: its E.164 number (None when invalid, with the error), whether a
    list blocks it on the channel, which, and until when if every such entry expires."""

    input: str
    number: str | None
    error: str | None
    entries: tuple[DncEntry, ...] = ()

    @property
    def expires_at(self) -> datetime | None:
        ends = [entry.expires_at for entry in self.entries if entry.expires_at is not None]
        return max(ends) if ends and len(ends) == len(self.entries) else None

    def as_dict(self) -> dict[str, Any]:
        view = {
            "input": self.input,
            "number": self.number,
            "valid": self.number is not None,
            "blocked": bool(self.entries),
            "lists": [entry.list_name.value for entry in self.entries],
        }
        # Built key by key: the API answers a thousand of these a request.
        if self.entries and (until := self.expires_at):
            view["expires_at"] = until.isoformat()
        if self.error:
            view["error"] = self.error
        return view


async def check_numbers(
    app: App, caller: Caller, numbers: Sequence[str], channel: Channel
) -> list[NumberCheck]:
    """Whether each input is blocked on `channel` by the company lists; an invalid input
    is answered as such, not refused. One query for the batch."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        parsed = [_parse(value, who.company.default_region) for value in numbers]
        valid = [number for _, number, _ in parsed if number]
        found = await registry.blocking(conn, who.company, valid, channel, utcnow())
    return [
        NumberCheck(value, number, error, tuple(found.get(number or "", ())))
        for value, number, error in parsed
    ]


def _parse(value: str, region: str) -> tuple[str, str | None, str | None]:
    try:
        return value, normalize(value, region).e164, None
    except InvalidNumber as invalid:
        return value, None, invalid.reason


@asynccontextmanager
async def export_entries(
    app: App, caller: Caller, list_name: DncList | None
) -> AsyncIterator[AsyncIterator[DncEntry]]:
    """Every live entry of one list or both, streamed in one snapshot."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        yield registry.entries(conn, who.company, list_name, utcnow())


async def entries_page(
    app: App,
    caller: Caller,
    *,
    list_name: DncList | None = None,
    number: str | None = None,
    source: Source | None = None,
    added_after: datetime | None = None,
    after: tuple[str, DncList] | None = None,
    limit: int,
) -> list[DncEntry]:
    """A page of the live entries, in (number, list) order from the entry `after` (E.164
    number, list); `number` in any format (InvalidNumber else)."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        return await registry.entries_page(
            conn,
            who.company,
            utcnow(),
            list_name=list_name,
            number=_e164(number, who.company.default_region),
            source=source,
            added_after=added_after,
            after=after,
            limit=limit,
        )


def _e164(number: str | None, region: str) -> str | None:
    return normalize(number, region).e164 if number else None


EXPORT_COLUMNS = ("number", "list", "source", "reason", "added_by", "added_at", "expires_at")


def entry_view(entry: DncEntry) -> dict[str, Any]:
    """An entry in the export's columns; instants as ISO-8601 text, expires_at None when
    it never expires."""
    values = (
        entry.number,
        entry.list_name.value,
        entry.source.value,
        entry.reason,
        entry.added_by,
        entry.added_at.isoformat(),
        entry.expires_at.isoformat() if entry.expires_at else None,
    )
    return dict(zip(EXPORT_COLUMNS, values, strict=True))


@asynccontextmanager
async def audit_log(
    app: App,
    caller: Caller,
    *,
    number: str | None = None,
    limit: int | None = None,
) -> AsyncIterator[Page[AuditEvent]]:
    """The audit trail (every add, removal and lead channel change), oldest first,
    optionally of one number (any format); with `limit`, the newest `limit` events."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        wanted = _e164(number, who.company.default_region)
        yield await registry.audit_events(conn, who.company, number=wanted, limit=limit)


async def events_page(
    app: App, caller: Caller, *, number: str | None = None, after: int | None = None, limit: int
) -> list[AuditEvent]:
    """A page of the audit trail, oldest first, from the event after id `after`;
    optionally of one number (any format)."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        wanted = _e164(number, who.company.default_region)
        return await registry.audit_page(conn, who.company, number=wanted, after=after, limit=limit)


# Events a number's record shows; the whole trail is a listing of its own.
HISTORY_SHOWN = 100


@dataclass(frozen=True, slots=True)
class NumberRecord:
    """One number: its live entries, list by list, and the newest of its audit events
    (oldest first; `more_history`: older ones were left out)."""

    number: str
    entries: list[DncEntry]
    history: list[AuditEvent]
    more_history: bool

    @property
    def known(self) -> bool:
        """On a list now, or ever: every add leaves an event."""
        return bool(self.entries or self.history)

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "entries": [entry_view(entry) for entry in self.entries],
            "history": [event_view(event) for event in self.history],
            "more_history": self.more_history,
        }


async def number_record(app: App, caller: Caller, number: str) -> NumberRecord:
    """`number` (any format; InvalidNumber else) on each list, with its audit history,
    read in one snapshot."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        e164 = normalize(number, who.company.default_region).e164
        found = await registry.listings(conn, who.company, [e164], utcnow())
        page = await registry.audit_events(conn, who.company, number=e164, limit=HISTORY_SHOWN)
        history = [event async for event in page.rows]
    return NumberRecord(e164, found.get(e164, []), history, page.more)


EVENT_FIELDS = [field.name for field in fields(AuditEvent)]


def event_view(event: AuditEvent) -> dict[str, Any]:
    # Not dataclasses.asdict: it deep-copies every value, a third of a long log's time.
    return {name: getattr(event, name) for name in EVENT_FIELDS}
