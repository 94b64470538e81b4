"""What the engine did, read back: the skip log, the attempts placed, a campaign's
figures; and a call status set by a person after the fact."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import fields
from datetime import datetime
from typing import Any

from campaigns import CallStatus, outcomes, reports
from campaigns.reports import CampaignReport, InteractionRow, SkipRow
from compliance import Permission
from compliance.tables import Page
from dialer.app import App, utcnow
from dialer.services import Caller, acting

__all__ = [
    "SKIP_CSV",
    "campaign_report",
    "cells",
    "interaction_page",
    "interactions",
    "set_disposition",
    "skip_log",
    "skip_page",
]

# A column of a listing: a key of the row's view, or how to show it from the view.
Column = str | Callable[[dict[str, Any]], Any]

# The skip log as CSV (`dialer skips --format csv`, GET /skips as text/csv).
SKIP_CSV: dict[str, Column] = {
    **{column.name: column.name for column in fields(SkipRow)},
    "reasons": lambda view: "|".join(view["reasons"]),
    "detail": lambda view: json.dumps(view["detail"]),
}


def cells(view: dict[str, Any], columns: dict[str, Column]) -> list[Any]:
    """A row's view as the cells of `columns`."""
    return [view[c] if isinstance(c, str) else c(view) for c in columns.values()]


@asynccontextmanager
async def skip_log(
    app: App,
    caller: Caller,
    *,
    campaign: str | None = None,
    reason: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
) -> AsyncIterator[Page[SkipRow]]:
    """The attempts the gate refused, oldest first (the newest `limit` when given); each
    row's `as_dict()` is its JSON shape. Filters as `campaigns.reports.skip_log` takes."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        yield await reports.skip_log(
            conn,
            who.company,
            campaign=campaign,
            reason=reason,
            since=since,
            until=until,
            limit=limit,
        )


async def skip_page(
    app: App,
    caller: Caller,
    *,
    campaign: str | None = None,
    reason: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: int | None = None,
    limit: int,
) -> list[tuple[int, SkipRow]]:
    """A page of the skip log in the order skips were logged, each with its id: at most
    `limit` after the skip id `after`; filters as `skip_log`."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        return await reports.skip_page(
            conn,
            who.company,
            campaign=campaign,
            reason=reason,
            since=since,
            until=until,
            after=after,
            limit=limit,
        )


@asynccontextmanager
async def interactions(
    app: App, caller: Caller, *, campaign: str | None = None, limit: int | None = None
) -> AsyncIterator[Page[InteractionRow]]:
    """The attempts placed, in the order they were placed (the newest `limit` when given)."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        yield await reports.interactions(conn, who.company, campaign=campaign, limit=limit)


async def interaction_page(
    app: App,
    caller: Caller,
    *,
    campaign: str | None = None,
    after: int | None = None,
    limit: int,
) -> list[InteractionRow]:
    """A page of the attempts placed, in id order: at most `limit` after the id `after`."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        return await reports.interaction_page(
            conn, who.company, campaign=campaign, after=after, limit=limit
        )


async def campaign_report(app: App, caller: Caller, name: str) -> CampaignReport:
    """One campaign's figures (UnknownCampaign when the company has none of that name)."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        return await reports.campaign_report(conn, who.company, name)


async def set_disposition(app: App, caller: Caller, attempt_id: int, status: str) -> CallStatus:
    """Set an attempt's call status after the fact: its configured actions fire, and a
    final status finishes the lead in its campaign."""
    async with app.transaction() as conn:
        who = await acting(app, conn, caller, Permission.CHANGE)
        return await outcomes.set_disposition(
            conn, who.company, attempt_id, status, who.actor, utcnow()
        )
