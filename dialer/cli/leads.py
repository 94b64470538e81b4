"""`dialer leads`: leads and each lead's own channel DNC."""

from __future__ import annotations

from pathlib import Path

import click

from compliance import leads, parse_lead_channels
from dialer.cli.support import (
    by_option,
    caller_of,
    company_option,
    emit_json,
    iso,
    json_option,
    plural,
    print_table,
    progress,
    run,
)
from dialer.services import leads as service


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
    with progress(f"Importing {file.name}:") as bar:
        task = bar.add_task("import")
        imported = run(
            lambda app: service.import_file(
                app,
                caller_of(company),
                file,
                lead_list,
                on_progress=lambda count: bar.advance(task, count),
            )
        )
    if as_json:
        emit_json(imported.as_dict())
        return
    summary = imported.summary
    click.echo(
        f"Read {plural(summary.read, 'row')}: {plural(summary.added, 'lead')} added to "
        f"{lead_list!r}, {summary.updated:,} updated, {summary.unchanged:,} unchanged, "
        f"{plural(summary.duplicate_count, 'duplicate')}, {summary.invalid_count:,} invalid."
    )
    for name, count in imported.enrolled.items():
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

    changed = run(
        lambda app: service.set_channels(app, caller_of(company, by), lead, wanted, reason=reason)
    )
    click.echo(f"Lead {changed.lead_id}: blocked channels {', '.join(changed.names) or 'none'}.")


@leads_group.command("show")
@click.argument("lead")
@company_option
@json_option
def leads_show(lead: str, company: str | None, as_json: bool) -> None:
    """Show LEAD (id or external id; external id wins when both match): its fields, its own
    channel DNC, the company lists that block its number, and its newest 20 attempts and
    20 skips."""
    page = run(lambda app: service.lead_page(app, caller_of(company), lead))
    if as_json:
        emit_json(page.as_dict())
        return
    view = service.lead_view(page.lead)
    attempts = [row.as_dict() for row in page.attempts]
    skips = [row.as_dict() for row in page.skips]
    dnc_view = view.pop("dnc")
    print_table(("field", "value"), view.items())
    if dnc_view:
        click.echo(
            f"DNC: {', '.join(dnc_view['channels']) or 'no channel'} "
            f"(reason {dnc_view['reason']!r}, by {dnc_view['updated_by']}, "
            f"updated {dnc_view['updated_at']})"
        )
    for block in page.blocks:
        click.echo(_block_line(block))
    if not page.blocks:
        click.echo("Company lists: the number is on none.")
    _print_recent("Attempts", attempts, ("placed_at", "campaign", "channel", "result", "status"))
    _print_recent("Skips", skips, ("decided_at", "campaign", "channel", "reason"))


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
    click.echo(f"{title}, newest first (at most {service.SHOWN}):")
    print_table(columns, ([view[column] for column in columns] for view in views))
