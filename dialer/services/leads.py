"""Leads: importing a lead file, a lead's own channel DNC, and a lead's page, whoever asks
(CLI, API, pages)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns import reports
from campaigns import repository as campaign_store
from compliance import (
    Company,
    Lead,
    LeadChannel,
    LeadImportSummary,
    Permission,
    leads,
    normalize,
    sheets,
)
from dialer.app import App, utcnow
from dialer.services import Caller, acting

__all__ = [
    "SHOWN",
    "LeadChannels",
    "LeadPage",
    "LeadsImported",
    "UnknownLead",
    "block_view",
    "find_lead",
    "import_file",
    "import_records",
    "lead_attempts",
    "lead_page",
    "lead_skips",
    "lead_view",
    "list_leads",
    "set_channels",
    "update_lead",
]

# Attempts and skips a lead's page shows, newest first.
SHOWN = 20


class UnknownLead(LookupError):
    """No lead of the company has that id or external id; nothing was changed."""


async def find_lead(conn: AsyncConnection, company: Company, ref: str | int) -> Lead:
    """The lead whose external id is `ref`, else whose id is `ref` (an int: the lead of
    that id only, as the API names leads); UnknownLead if none."""
    if isinstance(ref, int):
        found = await leads.get_lead(conn, company, ref)
        if found is None:
            raise UnknownLead(f"no lead with id {ref}")
        return found
    found = await leads.find_lead(conn, company, ref)
    if found is None:
        raise UnknownLead(f"no lead with id or external id {ref!r}")
    return found


async def list_leads(
    app: App,
    caller: Caller,
    *,
    number: str | None = None,
    external_id: str | None = None,
    lead_list: str | None = None,
    after: int | None = None,
    limit: int,
) -> list[Lead]:
    """The company's leads in id order, at most `limit` after the id `after`: those of a
    number (any format; InvalidNumber if it is none), an external id, a list, when given."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        phone = normalize(number, who.company.default_region).e164 if number else None
        return await leads.list_leads(
            conn,
            who.company,
            phone=phone,
            external_id=external_id,
            lead_list=lead_list,
            after=after,
            limit=limit,
        )


async def update_lead(
    app: App, caller: Caller, lead: str | int, changes: Mapping[str, str]
) -> Lead:
    """Change the fields `changes` names (leads.EDITABLE, and `phone` in any format) of
    `lead`, each checked as an import checks it (InvalidLead; LeadNumberTaken when its list
    has the new number already); returns the lead as it now is."""
    async with app.transaction() as conn:
        who = await acting(app, conn, caller, Permission.CHANGE)
        found = await find_lead(conn, who.company, lead)
        await leads.update_lead(conn, who.company, found, dict(changes))
        return await find_lead(conn, who.company, found.id)


@dataclass(frozen=True, slots=True)
class LeadsImported:
    """What an import did, and how many new leads each running or paused campaign of the
    list took (by campaign name)."""

    summary: LeadImportSummary
    enrolled: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self.summary), "enrolled": self.enrolled}


async def import_file(
    app: App,
    caller: Caller,
    path: Path,
    lead_list: str,
    *,
    on_progress: Callable[[int], None] | None = None,
) -> LeadsImported:
    """Import the leads of a CSV or XLSX with a header row into `lead_list`, and queue the
    new ones in the list's running and paused campaigns, in one transaction: a file that
    cannot be read changes nothing."""
    records = sheets.iter_records(path, leads.LEAD_COLUMNS)
    async with app.transaction() as conn:
        who = await acting(app, conn, caller, Permission.CHANGE)
        now = utcnow()
        summary = await leads.import_leads(
            conn, who.company, records, lead_list, now, on_progress=on_progress
        )
        enrolled = await campaign_store.enroll_new_leads(conn, who.company, lead_list, now)
    return LeadsImported(summary, enrolled)


async def import_records(
    app: App, caller: Caller, records: Iterable[Mapping[str, str]], lead_list: str
) -> LeadsImported:
    """Import lead records (leads.LEAD_COLUMNS, phone required; the others default to
    empty) into `lead_list` as `import_file` imports a file's rows, numbered from 1."""
    rows = (
        (number, {column: record.get(column, "") for column in leads.LEAD_COLUMNS})
        for number, record in enumerate(records, start=1)
    )
    async with app.transaction() as conn:
        who = await acting(app, conn, caller, Permission.CHANGE)
        now = utcnow()
        summary = await leads.import_leads(conn, who.company, rows, lead_list, now)
        enrolled = await campaign_store.enroll_new_leads(conn, who.company, lead_list, now)
    return LeadsImported(summary, enrolled)


@dataclass(frozen=True, slots=True)
class LeadChannels:
    """A lead's blocked channels, as just set."""

    lead_id: int
    channels: frozenset[LeadChannel]

    @property
    def names(self) -> list[str]:
        """The channels in phone, sms, email order."""
        return [channel.value for channel in LeadChannel if channel in self.channels]

    def as_dict(self) -> dict[str, Any]:
        return {"lead_id": self.lead_id, "channels": self.names}


async def set_channels(
    app: App,
    caller: Caller,
    lead: str | int,
    channels: frozenset[LeadChannel],
    *,
    reason: str = "",
) -> LeadChannels:
    """Make `channels` exactly the blocked channels of `lead` (id or external id; none
    clears them), with an audit event; the lead's status is not changed."""
    async with app.transaction() as conn:
        who = await acting(app, conn, caller, Permission.CHANGE)
        found = await find_lead(conn, who.company, lead)
        await leads.set_lead_channels(
            conn, who.company, found, channels, reason=reason, by=who.actor, now=utcnow()
        )
    return LeadChannels(found.id, channels)


@dataclass(frozen=True, slots=True)
class LeadPage:
    """A lead, the company lists holding its number now, and its newest SHOWN attempts and
    skips, newest first."""

    lead: Lead
    blocks: list[leads.ListBlock]
    attempts: list[reports.InteractionRow]
    skips: list[reports.SkipRow]

    def as_dict(self) -> dict[str, Any]:
        return {
            **lead_view(self.lead),
            "company_lists": [block_view(block) for block in self.blocks],
            "attempts": [row.as_dict() for row in self.attempts],
            "skips": [row.as_dict() for row in self.skips],
        }


async def lead_page(app: App, caller: Caller, lead: str | int) -> LeadPage:
    """The page of `lead` (id or external id; external id wins when both match), read in
    one snapshot."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        found = await find_lead(conn, who.company, lead)
        attempts = await reports.interactions(
            conn, who.company, campaign=None, lead_id=found.id, limit=SHOWN
        )
        tried = [row async for row in attempts.rows]
        skips = await reports.skip_log(
            conn,
            who.company,
            campaign=None,
            reason=None,
            since=None,
            until=None,
            lead_id=found.id,
            limit=SHOWN,
        )
        skipped = [row async for row in skips.rows]
        blocks = await leads.company_blocks(conn, who.company, found, utcnow())
    # The pages come oldest first.
    return LeadPage(found, blocks, tried[::-1], skipped[::-1])


async def lead_attempts(
    app: App, caller: Caller, lead: str | int, *, after: int | None = None, limit: int
) -> list[reports.InteractionRow]:
    """The lead's attempts in the order they were made: at most `limit` after the attempt
    id `after`."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        found = await find_lead(conn, who.company, lead)
        return await reports.interaction_page(
            conn, who.company, campaign=None, lead_id=found.id, after=after, limit=limit
        )


async def lead_skips(
    app: App, caller: Caller, lead: str | int, *, after: int | None = None, limit: int
) -> list[tuple[int, reports.SkipRow]]:
    """The lead's skips in the order they were logged, each with its id: at most `limit`
    after the skip id `after`."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        found = await find_lead(conn, who.company, lead)
        return await reports.skip_page(
            conn,
            who.company,
            campaign=None,
            reason=None,
            since=None,
            until=None,
            lead_id=found.id,
            after=after,
            limit=limit,
        )


def lead_view(lead: Lead) -> dict[str, Any]:
    """A lead's fields, whether it is DNC, and its own DNC record (channels as names,
    instants as ISO-8601 text)."""
    view = asdict(lead)
    view["is_dnc"] = lead.is_dnc
    if lead.dnc is not None:
        view["dnc"]["channels"] = [c.value for c in LeadChannel if c in lead.dnc.channels]
        view["dnc"]["created_at"] = lead.dnc.created_at.isoformat()
        view["dnc"]["updated_at"] = lead.dnc.updated_at.isoformat()
    return view


def block_view(block: leads.ListBlock) -> dict[str, Any]:
    """A company list entry of the lead's number and the channels it blocks."""
    entry = block.entry
    return {
        "list": entry.list_name.value,
        "blocks": [channel.value for channel in block.channels],
        "source": entry.source.value,
        "reason": entry.reason,
        "added_by": entry.added_by,
        "added_at": entry.added_at.isoformat(),
        "expires_at": entry.expires_at.isoformat() if entry.expires_at else None,
    }
