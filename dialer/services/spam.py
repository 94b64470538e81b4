"""The Spam list: numbers whose inbound texts the company ignores. Add, remove, list and
the audit trail, whoever asks (CLI, API, pages). It blocks nothing outbound."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from compliance import Permission, normalize, spam
from compliance.spam import SpamEntry, SpamEvent
from compliance.tables import Page
from dialer.app import App, utcnow
from dialer.services import Caller, acting, e164_all
from dialer.services.dnc import Added, Removed

__all__ = [
    "add_numbers",
    "audit_log",
    "entries",
    "entries_page",
    "entry_view",
    "event_view",
    "events_page",
    "remove_numbers",
]


async def add_numbers(
    app: App, caller: Caller, numbers: Sequence[str], *, reason: str = ""
) -> Added:
    """Put `numbers` (any format) on the Spam list; one invalid number refuses them all
    (InvalidNumbers)."""
    async with app.transaction() as conn:
        who = await acting(app, conn, caller, Permission.CHANGE)
        wanted = e164_all(numbers, who.company.default_region)
        added = await spam.add_numbers(
            conn, who.company, wanted, reason=reason, actor=who.actor, now=utcnow()
        )
    return Added(added, sorted(set(wanted) - set(added)), who.company)


async def remove_numbers(
    app: App, caller: Caller, numbers: Sequence[str], *, reason: str
) -> Removed:
    """Take `numbers` (any format) off the Spam list, with a reason (RemovalRefused). It
    lifts no protection, so a manager may, without can_remove_dnc."""
    async with app.transaction() as conn:
        who = await acting(app, conn, caller, Permission.CHANGE)
        wanted = e164_all(numbers, who.company.default_region)
        removed = await spam.remove_numbers(
            conn, who.company, wanted, reason=reason, actor=who.actor, now=utcnow()
        )
    return Removed(removed, sorted(set(wanted) - set(removed)))


@asynccontextmanager
async def entries(
    app: App, caller: Caller, *, limit: int | None = None
) -> AsyncIterator[Page[SpamEntry]]:
    """The Spam list in the order numbers were added; with `limit`, the `limit` added last."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        yield await spam.entries(conn, who.company, limit=limit)


async def entries_page(
    app: App, caller: Caller, *, after: str | None = None, limit: int | None = None
) -> list[SpamEntry]:
    """The Spam list in number order: after the E.164 number `after`, at most `limit`."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        return await spam.entries_after(conn, who.company, after=after, limit=limit)


def entry_view(entry: SpamEntry) -> dict[str, Any]:
    return {
        "number": entry.number,
        "reason": entry.reason,
        "added_by": entry.added_by,
        "added_at": entry.added_at.isoformat(),
    }


@asynccontextmanager
async def audit_log(
    app: App, caller: Caller, *, number: str | None = None, limit: int | None = None
) -> AsyncIterator[Page[SpamEvent]]:
    """The Spam list's audit trail (every add and removal), oldest first, optionally of one
    number (any format); with `limit`, the newest `limit` events."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        wanted = normalize(number, who.company.default_region).e164 if number else None
        yield await spam.events(conn, who.company, number=wanted, limit=limit)


async def events_page(
    app: App,
    caller: Caller,
    *,
    number: str | None = None,
    after: int | None = None,
    limit: int | None = None,
) -> list[SpamEvent]:
    """The audit trail `audit_log` lists, oldest first: after the event of id `after`, at
    most `limit`."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        wanted = normalize(number, who.company.default_region).e164 if number else None
        return await spam.events_after(conn, who.company, number=wanted, after=after, limit=limit)


def event_view(event: SpamEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": event.at.isoformat(),
        "action": event.action,
        "number": event.number,
        "actor": event.actor,
        "reason": event.reason,
    }
