"""A forecast: a campaign run on a simulated clock through the simulated carrier, against a
throwaway copy of what its company's data holds for it, so that the real database never
changes.

The copy is a temporary SQLite file holding the company, its users, statuses, blackouts
and sending numbers, the campaign as it stands (its queue, attempts and skips), the leads of
its list with their own DNC records, the attempts to their numbers that the gate's caps
count, and only those company DNC/DNT and Spam list entries whose numbers are the leads'
numbers (a list of millions is not copied). Rows keep their ids, so that every reference
still holds. The copy is read in one snapshot, table by table, each in one query.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Select, Table, case, insert, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns import Campaign, CampaignAction, CampaignState, reports, repository
from campaigns.tables import campaign_leads, campaigns, skips, status_books
from compliance import Company, Source
from compliance.screening import HISTORY_WINDOW
from compliance.tables import (
    attempts,
    blackouts,
    companies,
    dnc_entries,
    dnc_events,
    lead_dnc,
    leads,
    sending_numbers,
    spam_entries,
    users,
)
from dialer.app import App
from dialer.carriers.simulator import Scenario
from dialer.clock import SimClock
from dialer.database import create_engine, upgrade_schema
from dialer.runner import simulated_engine

# Rows inserted into the copy per statement.
COPY_CHUNK = 5_000


@dataclass(frozen=True, slots=True)
class Forecast:
    """What a campaign would do from `start` until `horizon`: the run stopped at
    `stopped_at` (when it completed, or the horizon), the campaign then `state`, and the
    report of the copy."""

    start: datetime
    horizon: datetime
    stopped_at: datetime
    state: CampaignState
    report: reports.CampaignReport

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "horizon": self.horizon.isoformat(),
            "stopped_at": self.stopped_at.isoformat(),
            "state": self.state.value,
            "report": self.report.as_dict(),
        }


async def forecast(
    app: App, company: Company, name: str, start: datetime, days: int, scenario: Scenario
) -> Forecast:
    """Run the campaign `name` on a copy from `start` for at most `days` days, or until it
    completes; a draft is started and a paused campaign resumed, in the copy only."""
    horizon = start + timedelta(days=days)
    with tempfile.TemporaryDirectory(prefix="dialer-forecast-") as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'forecast.db'}"
        engine = create_engine(url)
        try:
            await upgrade_schema(engine)
            copy = App(app.settings.model_copy(update={"database_url": url}), engine)
            async with app.snapshot() as source, copy.transaction() as target:
                await copy_campaign(source, target, company, name, start)
                await _resume_if_paused(target, company, name, start)
            clock = SimClock(start)
            # Every event the run logs is a simulated one: say so.
            with structlog.contextvars.bound_contextvars(forecast=True):
                async with simulated_engine(copy, scenario, clock) as (dispatcher, _):
                    finished = await dispatcher.run_until_done(company, name, horizon)
            async with copy.transaction() as conn:
                report = await reports.campaign_report(conn, company, name)
        finally:
            await engine.dispose()
    return Forecast(start, horizon, min(clock.now(), horizon), finished.state, report)


async def copy_campaign(
    source: AsyncConnection, target: AsyncConnection, company: Company, name: str, start: datetime
) -> Campaign:
    """Copy into `target` what a run of the campaign from `start` reads or reports."""
    campaign = await repository.find_campaign(source, company, name)
    of_list = (leads.c.company_id == company.id, leads.c.lead_list == campaign.spec.leads)
    ours, numbers = select(leads.c.id).where(*of_list), select(leads.c.phone).where(*of_list)
    owned = (
        (companies, companies.c.id == company.id),
        (users, users.c.company_id == company.id),
        (status_books, status_books.c.company_id == company.id),
        (blackouts, blackouts.c.company_id == company.id),
        (campaigns, campaigns.c.id == campaign.id),
        (leads, *of_list),
        (lead_dnc, lead_dnc.c.lead_id.in_(ours)),
        (dnc_entries, dnc_entries.c.company_id == company.id, dnc_entries.c.number.in_(numbers)),
        # What a scripted reply reads: who owns the number it is sent to, who is spam.
        (sending_numbers, sending_numbers.c.company_id == company.id),
        (spam_entries, spam_entries.c.company_id == company.id, spam_entries.c.number.in_(numbers)),
        (campaign_leads, campaign_leads.c.campaign_id == campaign.id),
        (skips, skips.c.campaign_id == campaign.id),
    )
    for table, *where in owned:
        await _copy(source, target, table, select(table).where(*where))
    # Attempts to the leads' numbers: the campaign's own (its attempt limit) and any other
    # the rolling caps still count; a lead of another list is not copied, so not named.
    history = [
        case((column.in_(ours), column)).label(column.name) if column.name == "lead_id" else column
        for column in attempts.columns
    ]
    await _copy(
        source,
        target,
        attempts,
        select(*history).where(
            attempts.c.company_id == company.id,
            attempts.c.number.in_(numbers),
            or_(
                attempts.c.campaign_id == campaign.id,
                attempts.c.placed_at > start - HISTORY_WINDOW,
            ),
        ),
    )
    # What the status rules added on those attempts, for the report's DNC additions.
    await _copy(
        source,
        target,
        dnc_events,
        select(dnc_events).where(
            dnc_events.c.company_id == company.id,
            # Inline, so that the planner sees the partial index's own condition.
            dnc_events.c.source == literal(Source.STATUS_RULE.value, literal_execute=True),
            or_(
                dnc_events.c.lead_id.in_(ours),
                dnc_events.c.lead_id.is_(None) & dnc_events.c.number.in_(numbers),
            ),
        ),
    )
    return campaign


async def _copy(
    source: AsyncConnection, target: AsyncConnection, table: Table, query: Select
) -> None:
    """Insert the rows of `query` (the columns of `table`) into `target`, chunk by chunk."""
    result = await source.stream(query)
    async for rows in result.partitions(COPY_CHUNK):
        await target.execute(insert(table), [row._asdict() for row in rows])


async def _resume_if_paused(
    conn: AsyncConnection, company: Company, name: str, now: datetime
) -> None:
    campaign = await repository.find_campaign(conn, company, name)
    if campaign.state is CampaignState.PAUSED:
        await repository.change_state(conn, company, name, CampaignAction.RESUME, now)
