"""Reporting commands: `dialer skips`, `dialer interactions`, `dialer report`
(added to the `dialer` group by `dialer.cli`)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import fields
from datetime import datetime
from typing import Any

import click

from campaigns import reports
from compliance import Code
from dialer.app import App
from dialer.cli.output import (
    hint_if_more,
    limit_options,
    print_table_pages,
    write_json_array,
)
from dialer.cli.support import (
    caller_of,
    company_option,
    emit_json,
    parse_optional_instant,
    print_table,
    run,
)
from dialer.csvfiles import CsvWriter
from dialer.services import reports as service
from dialer.services.reports import Column

_FORMAT_USES = {
    "table": "table for people",
    "csv": "csv for spreadsheets",
    "json": "json for programs",
}


def format_option(*choices: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(choices),
        default=choices[0],
        show_default=True,
        help=", ".join(_FORMAT_USES[choice] for choice in choices) + ".",
    )


campaign_option = click.option("--campaign", metavar="NAME", help="One campaign only.")


def _lead(view: dict[str, Any]) -> Any:
    return view["external_id"] or view["lead_id"]


async def _write_listing(
    views: AsyncIterator[dict[str, Any]],
    output_format: str,
    columns: dict[str, dict[str, Column]],
    empty: str,
) -> None:
    """Views as they come: a JSON array, or the format's columns as CSV or tables."""
    if output_format == "json":
        await write_json_array(views)
        return
    chosen = columns[output_format]
    rows = (service.cells(view, chosen) async for view in views)
    if output_format == "csv":
        writer = CsvWriter(sys.stdout, list(chosen), number_columns={"number"})
        async for row in rows:
            writer.write(row)
    elif not await print_table_pages(list(chosen), rows):
        click.echo(empty)


def _as_is(row_type: type) -> dict[str, Column]:
    """Every field of a row type, shown as it is."""
    return {column.name: column.name for column in fields(row_type)}


# --- the skip log -----------------------------------------------------------------------


@click.command("skips")
@campaign_option
@click.option(
    "--reason",
    type=click.Choice([code.value for code in Code], case_sensitive=False),
    metavar="CODE",
    help="Only skips whose first failing code is CODE, e.g. COMPANY_DNC (as report counts them).",
)
@click.option(
    "--since",
    callback=parse_optional_instant,
    metavar="ISO-8601",
    help="Decided at or after this instant, with its UTC offset.",
)
@click.option(
    "--until",
    callback=parse_optional_instant,
    metavar="ISO-8601",
    help="Decided before this instant, with its UTC offset.",
)
@limit_options("skip")
@format_option("table", "csv", "json")
@company_option
def skips(
    campaign: str | None,
    reason: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int | None,
    output_format: str,
    company: str | None,
) -> None:
    """The skip log: the attempts the gate refused, with all their reasons.

    The newest 100 unless --limit N or --all, shown oldest first; standard error says when
    older ones were left out. CSV cells a spreadsheet would run as a formula get a leading '.
    """

    async def body(app: App) -> bool:
        async with service.skip_log(
            app,
            caller_of(company),
            campaign=campaign,
            reason=reason,
            since=since,
            until=until,
            limit=limit,
        ) as page:
            views = (row.as_dict() async for row in page.rows)
            await _write_listing(views, output_format, SKIP_COLUMNS, "No skipped attempts.")
        return page.more

    hint_if_more(run(body), limit, "skip")


SKIP_COLUMNS: dict[str, dict[str, Column]] = {
    "csv": service.SKIP_CSV,
    "table": {
        "decided at": "decided_at",
        "campaign": "campaign",
        "lead": _lead,
        "number": "number",
        "channel": "channel",
        "reason": "reason",
        "rule": "rule",
        "reasons": lambda view: ", ".join(view["reasons"]),
    },
}


# --- interactions -----------------------------------------------------------------------


@click.group("interactions", invoke_without_command=True)
@campaign_option
@limit_options("attempt")
@format_option("table", "csv", "json")
@company_option
@click.pass_context
def interactions(
    ctx: click.Context,
    campaign: str | None,
    limit: int | None,
    output_format: str,
    company: str | None,
) -> None:
    """The attempts placed, in order: result, keyed digits and call status.

    The newest 100 unless --limit N or --all, shown oldest first; standard error says when
    older ones were left out. CSV cells a spreadsheet would run as a formula get a leading '.
    """
    if ctx.invoked_subcommand is not None:
        return

    async def body(app: App) -> bool:
        async with service.interactions(
            app, caller_of(company), campaign=campaign, limit=limit
        ) as page:
            views = (row.as_dict() async for row in page.rows)
            await _write_listing(views, output_format, INTERACTION_COLUMNS, "No attempts.")
        return page.more

    hint_if_more(run(body), limit, "attempt")


INTERACTION_COLUMNS: dict[str, dict[str, Column]] = {
    "csv": _as_is(reports.InteractionRow),
    "table": {
        "placed at": "placed_at",
        "campaign": "campaign",
        "lead": _lead,
        "number": "number",
        "channel": "channel",
        "result": "result",
        "digits": "digits",
        "status": "status",
    },
}


# --- a campaign's figures ---------------------------------------------------------------

# Each section of the table: (key, title, what its first column holds).
_SECTIONS = (
    (
        "not_contacted_by_last_reason",
        "Leads not contacted, by last reason (the skip code that ended them, else their "
        "last call status)",
        "reason",
    ),
    ("attempts_by_status", "Attempts by call status", "status"),
    (
        "skips_later_attempted",
        "Skips later attempted (waits: the lead was attempted after them), by reason",
        "reason",
    ),
    (
        "skips_not_attempted_after",
        "Skips not attempted after (they stopped the lead, or it still waits), by reason",
        "reason",
    ),
    ("dnc_added", "DNC additions by status rules", "status"),
    ("attempts_per_hour", "Attempts per hour (UTC)", "hour"),
    (
        "opt_outs",
        "Opt-outs, by how they came (a key pressed on a call; a STOP text, or a text the "
        "carrier refused as opted out; a text presumed to revoke consent)",
        "way",
    ),
)


def print_report(view: dict[str, Any]) -> None:
    """A campaign report (`CampaignReport.as_dict`) as tables, each figure explained."""
    click.echo(f"Campaign {view['campaign']!r}")
    print_table(
        ("leads", "count", "meaning"),
        (
            (
                "in the queue",
                view["leads_in_queue"],
                f"leads of list {view['lead_list']!r} it took on",
            ),
            ("attempted", view["leads_attempted"], "at least one call or text placed"),
            ("contacted", view["leads_contacted"], "a call answered or a text delivered"),
            ("still queued", view["leads_still_queued"], "it may still attempt them"),
            ("not contacted", view["leads_not_contacted"], "finished with, never contacted"),
        ),
    )
    for key, title, column in _SECTIONS:
        click.echo(f"\n{title}")
        if view[key]:
            print_table((column, "count"), view[key].items())
        else:
            click.echo("none")


@click.command("report")
@click.argument("name")
@format_option("table", "json")
@company_option
def report(name: str, output_format: str, company: str | None) -> None:
    """A campaign's figures: its leads (in the queue, attempted, contacted, and why not),
    call statuses, skips (waits apart), DNC additions, pace, opt-outs."""
    view = run(lambda app: service.campaign_report(app, caller_of(company), name)).as_dict()
    if output_format == "json":
        emit_json(view)
        return
    print_report(view)


@interactions.command("disposition")
@click.argument("attempt_id", type=int)
@click.argument("status")
@click.option("--by", "by", metavar="USER", required=True, help="The manager or admin who sets it.")
@company_option
def disposition(attempt_id: int, status: str, by: str, company: str | None) -> None:
    """Set an attempt's call status after the fact; the status's actions fire too.

    As always, only the status's configured actions count, not its name.
    """
    applied = run(
        lambda app: service.set_disposition(app, caller_of(company, by), attempt_id, status)
    )
    actions = ", ".join(str(action) for action in applied.actions) or "no action"
    click.echo(f"Attempt {attempt_id} is {status} ({actions}).")
