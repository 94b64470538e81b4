"""`dialer dnc`: the company Do-Not-Call and Do-Not-Text lists."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

from compliance import AuditEvent, Channel, DncList
from dialer.app import App
from dialer.cli.output import hint_if_more, limit_options, output_file, print_listing
from dialer.cli.support import (
    by_option,
    caller_of,
    company_option,
    emit_json,
    iso,
    json_option,
    list_option,
    parse_future_instant,
    plural,
    print_table,
    progress,
    run,
)
from dialer.csvfiles import CsvWriter
from dialer.services import dnc as service
from dialer.services.dnc import EXPORT_COLUMNS, event_view

expires_option = click.option(
    "--expires",
    "expires_at",
    callback=parse_future_instant,
    metavar="ISO-8601",
    help="When the entries stop blocking, with its UTC offset (default: never).",
)


@click.group()
def dnc() -> None:
    """The company Do-Not-Call (dnc) and Do-Not-Text (dnt) lists."""


@dnc.command("add")
@click.argument("numbers", nargs=-1, required=True)
@list_option
@click.option("--reason", default="", help="Why the numbers are blocked.")
@by_option("adds them")
@expires_option
@company_option
@json_option
def dnc_add(
    numbers: tuple[str, ...],
    list_name: str,
    reason: str,
    by: str | None,
    expires_at: datetime | None,
    company: str | None,
    as_json: bool,
) -> None:
    """Add NUMBERS (any format) to a company list. Invalid input changes nothing."""
    result = run(
        lambda app: service.add_numbers(
            app,
            caller_of(company, by),
            numbers,
            DncList(list_name),
            reason=reason,
            expires_at=expires_at,
        )
    )
    if as_json:
        emit_json(result.as_dict())
        return
    click.echo(
        f"Added {len(result.added)} to {list_name}; {len(result.already_listed)} already listed."
    )


@dnc.command("remove")
@click.argument("numbers", nargs=-1, required=True)
@list_option
@click.option("--reason", required=True, help="Why the numbers may be contacted again.")
@click.option(
    "--by",
    "by",
    metavar="USER",
    required=True,
    help="The user removing them: an admin, or a manager with can_remove_dnc.",
)
@company_option
@json_option
def dnc_remove(
    numbers: tuple[str, ...],
    list_name: str,
    reason: str,
    by: str,
    company: str | None,
    as_json: bool,
) -> None:
    """Remove NUMBERS from a company list: needs a permitted user and a reason."""
    result = run(
        lambda app: service.remove_numbers(
            app, caller_of(company, by), numbers, DncList(list_name), reason=reason
        )
    )
    if as_json:
        emit_json(result.as_dict())
        return
    click.echo(
        f"Removed {len(result.removed)} from {list_name}; {len(result.not_listed)} were not listed."
    )


@dnc.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@list_option
@click.option("--reason", default="", help="Reason recorded on every added entry.")
@by_option("uploads the file")
@expires_option
@company_option
@json_option
def dnc_import(
    file: Path,
    list_name: str,
    reason: str,
    by: str | None,
    expires_at: datetime | None,
    company: str | None,
    as_json: bool,
) -> None:
    """Upload a CSV or XLSX list: only the first column of the first sheet is read.

    A header row and blank rows are skipped; invalid rows are reported and skipped;
    numbers already listed or repeated in the file are counted. A file that cannot be
    read changes nothing.
    """
    with progress(f"Importing {file.name}:") as bar:
        task = bar.add_task("import")
        summary = run(
            lambda app: service.import_file(
                app,
                caller_of(company, by),
                file,
                DncList(list_name),
                reason=reason,
                expires_at=expires_at,
                on_progress=lambda count: bar.advance(task, count),
            )
        )
    if as_json:
        emit_json(service.import_view(summary))
        return
    click.echo(
        f"Read {plural(summary.read, 'row')}: {summary.added:,} added to {list_name}, "
        f"{summary.already_listed:,} already listed, "
        f"{plural(summary.duplicates_in_file, 'duplicate')} in the file, "
        f"{summary.invalid_count:,} invalid."
    )
    if summary.invalid:
        print_table(("row", "value", "error"), ((r.row, r.value, r.error) for r in summary.invalid))


@dnc.command("check")
@click.argument("numbers", nargs=-1, required=True)
@click.option(
    "--channel",
    type=click.Choice([Channel.VOICE.value, Channel.SMS.value]),
    default="voice",
    show_default=True,
)
@company_option
@json_option
def dnc_check(numbers: tuple[str, ...], channel: str, company: str | None, as_json: bool) -> None:
    """Tell whether NUMBERS are blocked on a channel by the company lists."""
    checks = run(
        lambda app: service.check_numbers(app, caller_of(company), numbers, Channel(channel))
    )
    if as_json:
        emit_json([check.as_dict() for check in checks])
        return
    print_table(
        ("input", "number", "verdict"),
        ((check.input, check.number, _verdict(check)) for check in checks),
    )


def _verdict(check: service.NumberCheck) -> str:
    if check.number is None:
        return f"invalid: {check.error}"
    if not check.entries:
        return "not listed"
    until = f" until {check.expires_at.isoformat()}" if check.expires_at else ""
    return f"blocked by {', '.join(entry.list_name for entry in check.entries)}{until}"


@dnc.command("export")
@click.option(
    "--list",
    "list_name",
    type=click.Choice([name.value for name in DncList]),
    help="One list only (default: both).",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to FILE instead of standard output; FILE is replaced only when the "
    "export succeeds.",
)
@company_option
def dnc_export(list_name: str | None, output: Path | None, company: str | None) -> None:
    """Export the company lists as CSV: every live entry, with its expiry if it has one.

    Cells a spreadsheet would run as a formula are written with a leading '.
    """

    async def body(app: App) -> int:
        chosen = DncList(list_name) if list_name else None
        async with service.export_entries(app, caller_of(company), chosen) as entries:
            with output_file(output) as stream:
                writer = CsvWriter(stream, EXPORT_COLUMNS, number_columns={"number"})
                async for entry in entries:
                    writer.write(tuple(service.entry_view(entry).values()))
        return writer.rows

    count = run(body)
    if output:
        click.echo(f"Exported {plural(count, 'entry', 'entries')} to {output}.")


@dnc.command("log")
@click.option("--number", help="Only events for this number (any format).")
@limit_options("event")
@company_option
@json_option
def dnc_log(number: str | None, limit: int | None, company: str | None, as_json: bool) -> None:
    """Show the audit trail: every add, removal and lead channel change.

    The newest 100 events unless --limit N or --all, shown oldest first; standard error
    says when older ones were left out.
    """

    async def body(app: App) -> bool:
        async with service.audit_log(app, caller_of(company), number=number, limit=limit) as page:
            await print_listing(page.rows, as_json, event_view, LOG_COLUMNS, _log_row, "No events.")
        return page.more

    hint_if_more(run(body), limit, "event")


LOG_COLUMNS = ("at", "action", "list", "number", "lead", "channels", "source", "actor", "reason")


def _log_row(event: AuditEvent) -> tuple[Any, ...]:
    return (
        iso(event.at),
        event.action,
        event.list_name,
        event.number,
        event.lead_id,
        event.channels,
        event.source,
        event.actor,
        event.reason,
    )
