"""`dialer dnc`: the company Do-Not-Call and Do-Not-Text lists."""

from __future__ import annotations

import csv
import sys
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from compliance import (
    Channel,
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
    plural,
    print_table,
    progress,
    run,
)


@click.group()
def dnc() -> None:
    """The company Do-Not-Call (dnc) and Do-Not-Text (dnt) lists."""


@dnc.command("add")
@click.argument("numbers", nargs=-1, required=True)
@list_option
@click.option("--reason", default="", help="Why the numbers are blocked.")
@by_option("adds them")
@company_option
@json_option
def dnc_add(
    numbers: tuple[str, ...],
    list_name: str,
    reason: str,
    by: str | None,
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
@company_option
@json_option
def dnc_import(
    file: Path, list_name: str, reason: str, by: str | None, company: str | None, as_json: bool
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
        async with app.transaction() as conn:
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
            found = await registry.blocked(conn, owner, valid, Channel(channel), utcnow())
        return [
            {
                "input": r["input"],
                "number": r["number"],
                "valid": r["number"] is not None,
                "blocked": r["number"] in found,
                "lists": [name.value for name in found.get(r["number"], [])],
                **({"error": r["error"]} if r["error"] else {}),
            }
            for r in results
        ]

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
                else f"blocked by {', '.join(r['lists'])}"
                if r["blocked"]
                else "not listed",
            )
            for r in results
        ),
    )


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
    help="Write to FILE instead of standard output.",
)
@company_option
def dnc_export(list_name: str | None, output: Path | None, company: str | None) -> None:
    """Export the company lists as CSV (one row per live entry)."""

    async def body(app: App) -> int:
        count = 0
        with (
            output.open("w", newline="", encoding="utf-8") if output else nullcontext(sys.stdout)
        ) as stream:
            writer = csv.writer(stream)
            writer.writerow(EXPORT_COLUMNS)
            async with app.transaction() as conn:
                owner = await company_of(app, conn, company)
                chosen = DncList(list_name) if list_name else None
                async for entry in registry.entries(conn, owner, chosen, utcnow()):
                    writer.writerow(
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
                    count += 1
        return count

    count = run(body)
    if output:
        click.echo(f"Exported {plural(count, 'entry', 'entries')} to {output}.")


@dnc.command("log")
@click.option("--number", help="Only events for this number (any format).")
@click.option("--limit", type=click.IntRange(min=1), help="Only the newest N events.")
@company_option
@json_option
def dnc_log(number: str | None, limit: int | None, company: str | None, as_json: bool) -> None:
    """Show the audit trail: every add, removal and lead channel change."""

    async def body(app: App) -> list[dict[str, Any]]:
        async with app.transaction() as conn:
            owner = await company_of(app, conn, company)
            wanted = normalize(number, owner.default_region).e164 if number else None
            events = await registry.audit_events(conn, owner, number=wanted, limit=limit)
        return [asdict(event) for event in events]

    events = run(body)
    if as_json:
        emit_json(events)
        return
    print_table(
        ("at", "action", "list", "number", "lead", "channels", "source", "actor", "reason"),
        (
            (
                iso(e["at"]),
                e["action"],
                e["list_name"],
                e["number"],
                e["lead_id"],
                e["channels"],
                e["source"],
                e["actor"],
                e["reason"],
            )
            for e in events
        ),
    )
