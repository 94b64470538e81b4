"""State emergency blackouts: adding one, listing them and ending one early, whoever asks
(CLI, API, pages)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from compliance import Blackout, Permission, blackouts
from dialer.app import App, utcnow
from dialer.services import Caller, acting

__all__ = ["add_blackout", "blackout_view", "blackouts_page", "end_blackout", "list_blackouts"]


async def add_blackout(
    app: App,
    caller: Caller,
    state: str,
    starts_at: datetime,
    ends_at: datetime,
    *,
    source: str,
    reason: str = "",
) -> Blackout:
    """No calls or texts to `state` (its postal code) from `starts_at` until `ends_at`
    (exclusive), as `source` declares; from the next screened batch on (InvalidBlackout
    says what is wrong)."""
    async with app.transaction() as conn:
        who = await acting(app, conn, caller, Permission.CHANGE)
        return await blackouts.add_blackout(
            conn,
            who.company,
            state,
            starts_at,
            ends_at,
            reason=reason,
            source=source,
            by=who.actor,
            now=utcnow(),
        )


async def list_blackouts(app: App, caller: Caller, *, everything: bool = False) -> list[Blackout]:
    """The blackouts not over yet, earliest first; with `everything`, past ones too."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        found = await blackouts.blackouts_after(conn, who.company, None if everything else utcnow())
    return list(found)


async def blackouts_page(
    app: App,
    caller: Caller,
    *,
    everything: bool = False,
    after: int | None = None,
    limit: int | None = None,
) -> list[Blackout]:
    """A page of the blackouts `list_blackouts` lists, in the order they were entered:
    after the blackout of id `after`, at most `limit`."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        at = None if everything else utcnow()
        return await blackouts.blackouts_page(conn, who.company, at, after=after, limit=limit)


async def end_blackout(
    app: App, caller: Caller, blackout_id: int, at: datetime, *, reason: str
) -> Blackout:
    """End blackout `blackout_id` early, from `at` on: it lifts a protection, so, like
    taking a number off a list, the caller must be an admin or hold can_remove_dnc, and
    give a reason. The declared end is kept beside it."""
    async with app.transaction() as conn:
        who = await acting(app, conn, caller, Permission.REMOVE)
        return await blackouts.end_blackout(
            conn,
            who.company,
            blackout_id,
            at,
            user=who.user,
            by=who.actor,
            reason=reason,
            now=utcnow(),
        )


def blackout_view(blackout: Blackout) -> dict[str, Any]:
    """Every field, instants as ISO-8601 text; the early end (who, when, why) None unless
    it was ended early."""
    ended = blackout.ended
    return {
        **asdict(blackout),
        "starts_at": blackout.starts_at.isoformat(),
        "ends_at": blackout.ends_at.isoformat(),
        "ended": None
        if ended is None
        else {
            **asdict(ended),
            "at": ended.at.isoformat(),
            "entered_at": ended.entered_at.isoformat(),
        },
    }
