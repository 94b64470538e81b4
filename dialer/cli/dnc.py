"""`dialer dnc`: the company Do-Not-Call and Do-Not-Text lists."""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from compliance import (
    AuditEvent,
    Channel,
    DncEntry,
    DncList,
    InvalidNumber,
    Permission,
    Source,
    accounts,
    normalize,
    registry,
    sheets,
)
from dialer.app import App, utcnow
from dialer.cli.output import (
    CsvWriter,
    hint_if_more,
    limit_options,
    output_file,
    print_listing,
)
from dialer.cli.support import (
    actor_of,
    by_option,
    company_of,
    company_option,
    emit_json,
    iso,
    json_option,
    list_option,
    normalize_all,
    parse_optional_instant,
    plural,
    print_table,
    progress,
    run,
)


def parse_expiry(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """An instant still to come, or None (the entry never expires)."""
    moment = parse_optional_instant(ctx, param, value)
    if moment is not None and moment <= utcnow():
        raise click.BadParameter(f"{value} has passed: give an instant still to come")
    return moment


expires_option = click.option(
    "--expires",
    "expires_at",
    callback=parse_expiry,
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

    async def body(app: App) -> None:
        async with app.transaction() as conn:
            owner = await company_of(app, conn, company)
            actor = await actor_of(conn, owner, by, Permission.CHANGE)
            wanted = normalize_all(numbers, owner.default_region)
            added = await registry.add_numbers(
                conn,
                owner,
                wanted,
                DncList(list_name),
                source=Source.MANUAL,
                reason=reason,
                actor=actor,
                now=utcnow(),
                expires_at=expires_at,
            )
        already = sorted(set(wanted) - set(added))
        if as_json:
            emit_json({"added": added, "already_listed": already})
            return
        click.echo(f"Added {len(added)} to {list_name}; {len(already)} already listed.")

    run(body)


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

    async def body(app: App) -> None:
        async with app.transaction() as conn:
            owner = await company_of(app, conn, company)
            wanted = normalize_all(numbers, owner.default_region)
            user = await accounts.find_user(conn, owner, by)
            removed = await registry.remove_numbers(
                conn,
                owner,
                wanted,
                DncList(list_name),
                reason=reason,
                user=user,
                by=by,
                now=utcnow(),
            )
        missing = sorted(set(wanted) - set(removed))
        if as_json:
            emit_json({"removed": removed, "not_listed": missing})
            return
        click.echo(f"Removed {len(removed)} from {list_name}; {len(missing)} were not listed.")

    run(body)


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

    async def body(app: App) -> None:
        with progress(f"Importing {file.name}:") as bar:
            task = bar.add_task("import")
            async with app.transaction() as conn:
                owner = await company_of(app, conn, company)
                actor = await actor_of(conn, owner, by, Permission.CHANGE)
                summary = await registry.import_numbers(
                    conn,
                    owner,
                    sheets.iter_first_column(file),
                    DncList(list_name),
                    reason=reason or f"upload of {file.name}",
                    actor=actor,
                    now=utcnow(),
                    expires_at=expires_at,
                    on_progress=lambda count: bar.advance(task, count),
                )
        report = asdict(summary)
        if as_json:
            emit_json(report)
            return
        click.echo(
            f"Read {plural(summary.read, 'row')}: {summary.added:,} added to {list_name}, "
            f"{summary.already_listed:,} already listed, "
            f"{plural(summary.duplicates_in_file, 'duplicate')} in the file, "
            f"{summary.invalid_count:,} invalid."
        )
        if summary.invalid:
            print_table(
                ("row", "value", "error"), ((r.row, r.value, r.error) for r in summary.invalid)
            )

    run(body)


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

    async def body(app: App) -> list[dict[str, Any]]:
        async with app.snapshot() as conn:
            owner = await company_of(app, conn, company)
            results = []
            for value in numbers:
                try:
                    number: str | None = normalize(value, owner.default_region).e164
                    error = None
                except InvalidNumber as invalid:
                    number, error = None, invalid.reason
                results.append({"input": value, "number": number, "error": error})
            valid = [r["number"] for r in results if r["number"]]
            found = await registry.blocking(conn, owner, valid, Channel(channel), utcnow())
        return [_check_view(r["input"], r["number"], r["error"], found) for r in results]

    results = run(body)
    if as_json:
        emit_json(results)
        return
    print_table(
        ("input", "number", "verdict"),
        (
            (
                r["input"],
                r["number"],
                f"invalid: {r['error']}"
                if not r["valid"]
                else f"blocked by {', '.join(r['lists'])}{_until(r)}"
                if r["blocked"]
                else "not listed",
            )
            for r in results
        ),
    )


def _check_view(
    value: str, number: str | None, error: str | None, found: dict[str, list[DncEntry]]
) -> dict[str, Any]:
    """One input's answer; `expires_at` when every entry blocking it expires (the latest)."""
    entries = found.get(number or "", [])
    ends = [entry.expires_at for entry in entries]
    return {
        "input": value,
        "number": number,
        "valid": number is not None,
        "blocked": bool(entries),
        "lists": [entry.list_name.value for entry in entries],
        **({"expires_at": iso(max(ends))} if entries and None not in ends else {}),
        **({"error": error} if error else {}),
    }


def _until(view: dict[str, Any]) -> str:
    return f" until {view['expires_at']}" if "expires_at" in view else ""


EXPORT_COLUMNS = ("number", "list", "source", "reason", "added_by", "added_at", "expires_at")


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
        async with app.snapshot() as conn:
            owner = await company_of(app, conn, company)
            chosen = DncList(list_name) if list_name else None
            with output_file(output) as stream:
                writer = CsvWriter(stream, EXPORT_COLUMNS, number_columns={"number"})
                async for entry in registry.entries(conn, owner, chosen, utcnow()):
                    writer.write(
                        (
                            entry.number,
                            entry.list_name,
                            entry.source,
                            entry.reason,
                            entry.added_by,
                            iso(entry.added_at),
                            iso(entry.expires_at),
                        )
                    )
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
        async with app.snapshot() as conn:
            owner = await company_of(app, conn, company)
            wanted = normalize(number, owner.default_region).e164 if number else None
            page = await registry.audit_events(conn, owner, number=wanted, limit=limit)
            await print_listing(
                page.rows, as_json, _event_view, LOG_COLUMNS, _log_row, "No events."
            )
        return page.more

    hint_if_more(run(body), limit, "event")


LOG_COLUMNS = ("at", "action", "list", "number", "lead", "channels", "source", "actor", "reason")


EVENT_FIELDS = [field.name for field in fields(AuditEvent)]


def _event_view(event: AuditEvent) -> dict[str, Any]:
    # Not dataclasses.asdict: it deep-copies every value, a third of a long log's time.
    return {name: getattr(event, name) for name in EVENT_FIELDS}


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
