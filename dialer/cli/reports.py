"""Reporting commands: `dialer skips`, `dialer interactions`, `dialer report`
(added to the `dialer` group by `dialer.cli`)."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

import click

from campaigns import outcomes, reports
from compliance import Code, Permission, accounts
from dialer.app import App, utcnow
from dialer.cli.support import (
    company_of,
    company_option,
    emit_json,
    parse_optional_instant,
    print_table,
    run,
)

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


def _write_csv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    writer = csv.writer(sys.stdout)
    writer.writerow(columns)
    writer.writerows(rows)


def _lead(view: dict[str, Any]) -> Any:
    return view["external_id"] or view["lead_id"]


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
@format_option("table", "csv", "json")
@company_option
def skips(
    campaign: str | None,
    reason: str | None,
    since: datetime | None,
    until: datetime | None,
    output_format: str,
    company: str | None,
) -> None:
    """The skip log: every attempt the gate refused, oldest first, with all its reasons."""

    async def body(app: App) -> list[reports.SkipRow]:
        async with app.transaction() as conn:
            owner = await company_of(app, conn, company)
            return await reports.skip_log(
                conn, owner, campaign=campaign, reason=reason, since=since, until=until
            )

    views = [row.as_dict() for row in run(body)]
    if output_format == "json":
        emit_json(views)
    elif output_format == "csv":
        columns = [column.name for column in fields(reports.SkipRow)]
        _write_csv(
            columns,
            [
                [
                    "|".join(v["reasons"])
                    if key == "reasons"
                    else json.dumps(v["detail"])
                    if key == "detail"
                    else v[key]
                    for key in columns
                ]
                for v in views
            ],
        )
    elif not views:
        click.echo("No skipped attempts.")
    else:
        print_table(
            ("decided at", "campaign", "lead", "number", "channel", "reason", "rule", "reasons"),
            (
                (
                    v["decided_at"],
                    v["campaign"],
                    _lead(v),
                    v["number"],
                    v["channel"],
                    v["reason"],
                    v["rule"],
                    ", ".join(v["reasons"]),
                )
                for v in views
            ),
        )


# --- interactions -----------------------------------------------------------------------


@click.group("interactions", invoke_without_command=True)
@campaign_option
@format_option("table", "csv", "json")
@company_option
@click.pass_context
def interactions(
    ctx: click.Context, campaign: str | None, output_format: str, company: str | None
) -> None:
    """Every attempt placed, in order: result, keyed digits and call status."""
    if ctx.invoked_subcommand is not None:
        return

    async def body(app: App) -> list[reports.InteractionRow]:
        async with app.transaction() as conn:
            owner = await company_of(app, conn, company)
            return await reports.interactions(conn, owner, campaign=campaign)

    views = [row.as_dict() for row in run(body)]
    if output_format == "json":
        emit_json(views)
    elif output_format == "csv":
        columns = [column.name for column in fields(reports.InteractionRow)]
        _write_csv(columns, [[v[key] for key in columns] for v in views])
    elif not views:
        click.echo("No attempts.")
    else:
        print_table(
            ("placed at", "campaign", "lead", "number", "channel", "result", "digits", "status"),
            (
                (
                    v["placed_at"],
                    v["campaign"],
                    _lead(v),
                    v["number"],
                    v["channel"],
                    v["result"],
                    v["digits"],
                    v["status"],
                )
                for v in views
            ),
        )


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
    call statuses, skips (waits apart), DNC additions, pace."""

    async def body(app: App) -> reports.CampaignReport:
        async with app.transaction() as conn:
            owner = await company_of(app, conn, company)
            return await reports.campaign_report(conn, owner, name)

    view = run(body).as_dict()
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

    async def body(app: App) -> str:
        async with app.transaction() as conn:
            owner = await company_of(app, conn, company)
            actor = await accounts.find_actor(conn, owner, by, Permission.CHANGE)
            applied = await outcomes.set_disposition(
                conn, owner, attempt_id, status, actor.name, utcnow()
            )
            return ", ".join(str(action) for action in applied.actions) or "no action"

    click.echo(f"Attempt {attempt_id} is {status} ({run(body)}).")
