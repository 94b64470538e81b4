"""What every `dialer` command shares: running a command body, output, common options."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from campaigns import InvalidDefinition, InvalidTransition, NoStatuses, UnknownCampaign
from campaigns.inbound import ReviewRefused
from campaigns.outcomes import UnknownAttempt
from compliance import (
    DncList,
    InvalidBlackout,
    InvalidNumber,
    InvalidPassword,
    InvalidUser,
    NotPermitted,
    RemovalRefused,
    UnknownCompany,
    UnknownUser,
    UnreadableFile,
    accounts,
)
from compliance.hours import check_instant
from compliance.numbers import NumberOwnedElsewhere
from compliance.tokens import TokenRefused, UnknownToken
from dialer.app import App, open_app, utcnow
from dialer.carriers.simulator import InvalidScenario
from dialer.database import DatabaseNotInitialized, DatabaseUnavailable
from dialer.files import UnreadableText
from dialer.services import Caller, InvalidNumbers
from dialer.services.leads import UnknownLead
from dialer.settings import InvalidSettings, SettingsConflict

T = TypeVar("T")

# Where every input format (campaign, statuses, scenario, lead file) is described.
FORMATS_GUIDE = "config/examples/README.md"

# Errors that mean "refused or failed, nothing changed": exit 1 with the message.
REFUSALS = (
    UnknownAttempt,
    DatabaseNotInitialized,
    DatabaseUnavailable,
    InvalidBlackout,
    InvalidDefinition,
    InvalidNumber,
    InvalidNumbers,
    InvalidPassword,
    InvalidScenario,
    InvalidSettings,
    InvalidTransition,
    InvalidUser,
    NoStatuses,
    NotPermitted,
    NumberOwnedElsewhere,
    RemovalRefused,
    ReviewRefused,
    SettingsConflict,
    TokenRefused,
    UnknownCampaign,
    UnknownCompany,
    UnknownToken,
    UnknownUser,
    UnknownLead,
    UnreadableFile,
    UnreadableText,
)


def run(body: Callable[[App], Awaitable[T]], *, initialized: bool = True) -> T:
    """Run an async command body against the configured database, which must have its
    schema unless not `initialized` (`dialer init`)."""

    async def main() -> T:
        async with open_app(initialized=initialized) as app:
            return await body(app)

    try:
        return asyncio.run(main())
    except REFUSALS as error:
        raise click.ClickException(str(error)) from error


def plural(count: int, noun: str, many: str | None = None) -> str:
    """A count with its noun in correct English: '1 row', '2 rows', '1,000 entries'."""
    return f"{count:,} {noun if count == 1 else many or noun + 's'}"


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    table = Table(*columns, show_edge=False, pad_edge=False)
    for row in rows:
        table.add_row(*("" if value is None else str(value) for value in row))
    console = Console(width=None if sys.stdout.isatty() else 200)
    console.print(table)


def progress(label: str) -> Progress:
    """A rows-read counter on a terminal; silent when stderr is not one."""
    console = Console(stderr=True)
    return Progress(
        SpinnerColumn(),
        TextColumn(f"{label} {{task.completed:,}} rows"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


def caller_of(company: str | None, by: str | None = None) -> Caller:
    """Who a command acts as: --company (default: the default_company setting) and --by
    (default: the local operator)."""
    return Caller(company, by)


def by_option(
    change: str, who: str = "a manager or admin"
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--by USER for a change the local operator may make without naming anyone."""
    return click.option(
        "--by",
        "by",
        metavar="USER",
        help=f"The user who {change}: {who} of the company "
        f"(default: the local operator, recorded as {accounts.LOCAL_OPERATOR!r}).",
    )


company_option = click.option(
    "--company", metavar="NAME", help="Company to act for (default: the default_company setting)."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def parse_instant(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime:
    """An aware ISO-8601 instant, now when not given."""
    return parse_optional_instant(ctx, param, value) or utcnow()


def parse_optional_instant(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> datetime | None:
    """An aware ISO-8601 instant within the accepted range, or None when not given."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise click.BadParameter(f"{value!r} is not an ISO-8601 instant") from error
    if moment.tzinfo is None:
        raise click.BadParameter("give a UTC offset, e.g. 2026-03-10T20:30-04:00 or ...Z")
    try:
        check_instant(moment)
    except ValueError as error:
        raise click.BadParameter(str(error)) from error
    return moment


def parse_future_instant(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> datetime | None:
    """An instant still to come, or None when not given (an expiry: never)."""
    moment = parse_optional_instant(ctx, param, value)
    if moment is not None and moment <= utcnow():
        raise click.BadParameter(f"{value} has passed: give an instant still to come")
    return moment


list_option = click.option(
    "--list",
    "list_name",
    type=click.Choice([name.value for name in DncList]),
    default=DncList.DNC.value,
    show_default=True,
    help="dnc blocks calls and texts; dnt (Do-Not-Text) blocks texts only.",
)


def iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""
