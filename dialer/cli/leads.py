"""`dialer leads`: leads and each lead's own channel DNC."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

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
    config/examples/README.md. A lead whose external_id exists is left unchanged.
    """

    async def body(app: App) -> None:
        records = sheets.iter_records(file, leads.LEAD_COLUMNS)
        with progress(f"Importing {file.name}:") as bar:
            task = bar.add_task("import")
            async with app.transaction() as conn:
                owner = await company_of(app, conn, company)
                summary = await leads.import_leads(
                    conn,
                    owner,
                    records,
                    lead_list,
                    utcnow(),
                    on_progress=lambda count: bar.advance(task, count),
                )
        if as_json:
            emit_json(asdict(summary))
            return
        click.echo(
            f"Read {plural(summary.read, 'row')}: {plural(summary.added, 'lead')} added to "
            f"{lead_list!r}, "
            f"{summary.already_present:,} already present, {summary.invalid_count:,} invalid."
        )
        if summary.invalid:
            print_table(
                ("row", "phone", "error"), ((r.row, r.value, r.error) for r in summary.invalid)
            )

    run(body)


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


@leads_group.command("show")
@click.argument("lead")
@company_option
@json_option
def leads_show(lead: str, company: str | None, as_json: bool) -> None:
    """Show LEAD (id or external id; external id wins when both match)."""

    async def body(app: App) -> leads.Lead:
        async with app.transaction() as conn:
            owner = await company_of(app, conn, company)
            return await lead_or_fail(conn, owner, lead)

    found = run(body)
    view = asdict(found)
    view["is_dnc"] = found.is_dnc
    if found.dnc is not None:
        view["dnc"]["channels"] = [c.value for c in LeadChannel if c in found.dnc.channels]
    if as_json:
        emit_json(view)
        return
    dnc_view = view.pop("dnc")
    print_table(("field", "value"), view.items())
    if dnc_view:
        click.echo(
            f"DNC: {', '.join(dnc_view['channels']) or 'no channel'} "
            f"(reason {dnc_view['reason']!r}, by {dnc_view['updated_by']}, "
            f"updated {iso(dnc_view['updated_at'])})"
        )
