"""`dialer leads`: leads and each lead's own channel DNC."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import click

from campaigns import reports
from campaigns import repository as campaign_store
from compliance import (
    LeadChannel,
    Permission,
    leads,
    parse_lead_channels,
    sheets,
)
from dialer.app import App, utcnow
from dialer.cli.support import (
    actor_of,
    by_option,
    company_of,
    company_option,
    emit_json,
    iso,
    json_option,
    lead_or_fail,
    plural,
    print_table,
    progress,
    run,
)


@click.group("leads")
def leads_group() -> None:
    """Leads and each lead's own channel DNC (phone, SMS, email)."""


@leads_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--list", "lead_list", default="default", show_default=True, help="Lead list.")
@company_option
@json_option
def leads_import(file: Path, lead_list: str, company: str | None, as_json: bool) -> None:
    """Import leads from a CSV or XLSX with a header row.

    Columns: phone, first_name, last_name, email, state, postal_code, timezone,
    external_id (phone is required), described with an example file in
    config/examples/README.md. A list holds one lead per number: a row whose number the
    list has already is reported as a duplicate and not added. A row whose external_id is
    a known lead updates that lead. New leads join the list's running and paused
    campaigns at once.
    """

    async def body(app: App) -> tuple[leads.LeadImportSummary, dict[str, int]]:
        records = sheets.iter_records(file, leads.LEAD_COLUMNS)
        with progress(f"Importing {file.name}:") as bar:
            task = bar.add_task("import")
            async with app.transaction() as conn:
                owner = await company_of(app, conn, company)
                now = utcnow()
                summary = await leads.import_leads(
                    conn,
                    owner,
                    records,
                    lead_list,
                    now,
                    on_progress=lambda count: bar.advance(task, count),
                )
                enrolled = await campaign_store.enroll_new_leads(conn, owner, lead_list, now)
        return summary, enrolled

    summary, enrolled = run(body)
    if as_json:
        emit_json({**asdict(summary), "enrolled": enrolled})
        return
    click.echo(
        f"Read {plural(summary.read, 'row')}: {plural(summary.added, 'lead')} added to "
        f"{lead_list!r}, {summary.updated:,} updated, {summary.unchanged:,} unchanged, "
        f"{plural(summary.duplicate_count, 'duplicate')}, {summary.invalid_count:,} invalid."
    )
    for name, count in enrolled.items():
        click.echo(f"Campaign {name!r}: {plural(count, 'new lead')} queued.")
    if summary.duplicates:
        click.echo("Duplicates (not added):")
        print_table(
            ("row", "phone", "duplicate"),
            ((r.row, r.value, r.error) for r in summary.duplicates),
        )
    if summary.invalid:
        click.echo("Invalid rows:")
        print_table(("row", "phone", "error"), ((r.row, r.value, r.error) for r in summary.invalid))


@leads_group.command("dnc")
@click.argument("lead")
@click.option(
    "--channels",
    required=True,
    help='Blocked channels, e.g. "phone,sms"; "" clears them all. Others: email.',
)
@click.option("--reason", default="", help="Why.")
@by_option("changes it")
@company_option
def leads_dnc(lead: str, channels: str, reason: str, by: str | None, company: str | None) -> None:
    """Set which channels LEAD (id or external id) must not be contacted on.

    This is the lead's own DNC record; its status is not changed.
    """
    try:
        wanted = parse_lead_channels(channels)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--channels") from error

    async def body(app: App) -> None:
        async with app.transaction() as conn:
            owner = await company_of(app, conn, company)
            actor = await actor_of(conn, owner, by, Permission.CHANGE)
            found = await lead_or_fail(conn, owner, lead)
            await leads.set_lead_channels(
                conn, owner, found, wanted, reason=reason, by=actor, now=utcnow()
            )
        shown = ", ".join(c.value for c in LeadChannel if c in wanted) or "none"
        click.echo(f"Lead {found.id}: blocked channels {shown}.")

    run(body)


# Attempts and skips a lead's page shows, newest first.
SHOWN = 20


@dataclass(frozen=True, slots=True)
class _LeadPage:
    lead: leads.Lead
    blocks: list[leads.ListBlock]
    attempts: list[reports.InteractionRow]
    skips: list[reports.SkipRow]


@leads_group.command("show")
@click.argument("lead")
@company_option
@json_option
def leads_show(lead: str, company: str | None, as_json: bool) -> None:
    """Show LEAD (id or external id; external id wins when both match): its fields, its own
    channel DNC, the company lists that block its number, and its newest 20 attempts and
    20 skips."""

    async def body(app: App) -> _LeadPage:
        async with app.snapshot() as conn:
            owner = await company_of(app, conn, company)
            found = await lead_or_fail(conn, owner, lead)
            attempts = await reports.interactions(
                conn, owner, campaign=None, lead_id=found.id, limit=SHOWN
            )
            tried = [row async for row in attempts.rows]
            skips = await reports.skip_log(
                conn,
                owner,
                campaign=None,
                reason=None,
                since=None,
                until=None,
                lead_id=found.id,
                limit=SHOWN,
            )
            skipped = [row async for row in skips.rows]
            blocks = await leads.company_blocks(conn, owner, found, utcnow())
            return _LeadPage(found, blocks, tried, skipped)

    page = run(body)
    found = page.lead
    attempts = [row.as_dict() for row in reversed(page.attempts)]
    skips = [row.as_dict() for row in reversed(page.skips)]
    view = asdict(found)
    view["is_dnc"] = found.is_dnc
    if found.dnc is not None:
        view["dnc"]["channels"] = [c.value for c in LeadChannel if c in found.dnc.channels]
    if as_json:
        lists = [_block_view(block) for block in page.blocks]
        emit_json({**view, "company_lists": lists, "attempts": attempts, "skips": skips})
        return
    dnc_view = view.pop("dnc")
    print_table(("field", "value"), view.items())
    if dnc_view:
        click.echo(
            f"DNC: {', '.join(dnc_view['channels']) or 'no channel'} "
            f"(reason {dnc_view['reason']!r}, by {dnc_view['updated_by']}, "
            f"updated {iso(dnc_view['updated_at'])})"
        )
    for block in page.blocks:
        click.echo(_block_line(block))
    if not page.blocks:
        click.echo("Company lists: the number is on none.")
    _print_recent("Attempts", attempts, ("placed_at", "campaign", "channel", "result", "status"))
    _print_recent("Skips", skips, ("decided_at", "campaign", "channel", "reason"))


def _block_view(block: leads.ListBlock) -> dict[str, object]:
    entry = block.entry
    return {
        "list": entry.list_name.value,
        "blocks": [channel.value for channel in block.channels],
        "source": entry.source.value,
        "reason": entry.reason,
        "added_by": entry.added_by,
        "added_at": iso(entry.added_at),
        "expires_at": iso(entry.expires_at) or None,
    }


def _block_line(block: leads.ListBlock) -> str:
    entry = block.entry
    until = f", until {iso(entry.expires_at)}" if entry.expires_at else ""
    return (
        f"Company list {entry.list_name.value}: blocks "
        f"{', '.join(channel.value for channel in block.channels)} to this number "
        f"(added by {entry.added_by} {iso(entry.added_at)}{until}; reason {entry.reason!r})"
    )


def _print_recent(title: str, views: list[dict[str, object]], columns: tuple[str, ...]) -> None:
    if not views:
        click.echo(f"{title}: none.")
        return
    click.echo(f"{title}, newest first (at most {SHOWN}):")
    print_table(columns, ([view[column] for column in columns] for view in views))
