"""`dialer spam`: the Spam list, numbers whose inbound texts the company ignores."""

from __future__ import annotations

import click

from compliance.spam import SpamEntry, SpamEvent
from dialer.app import App
from dialer.cli.output import hint_if_more, limit_options, print_listing
from dialer.cli.support import (
    by_option,
    caller_of,
    company_option,
    emit_json,
    iso,
    json_option,
    plural,
    run,
)
from dialer.services import spam as service
from dialer.services.spam import entry_view, event_view


@click.group("spam")
def spam_group() -> None:
    """The Spam list: numbers whose inbound texts the company does not want to hear from.

    A text from a listed number is stored, marked spam and not answered; an opt-out in it
    is still honoured. The list blocks nothing outbound: calls and texts to a listed
    number are screened as before (it is no DNC list, see `dialer dnc`). Every change is
    audited: `dialer spam log`.
    """


@spam_group.command("add")
@click.argument("numbers", nargs=-1, required=True)
@click.option("--reason", default="", help="Why texts from the numbers are unwanted.")
@by_option("adds them")
@company_option
@json_option
def spam_add(
    numbers: tuple[str, ...], reason: str, by: str | None, company: str | None, as_json: bool
) -> None:
    """Add NUMBERS (any format) to the Spam list. Invalid input changes nothing."""
    result = run(
        lambda app: service.add_numbers(app, caller_of(company, by), numbers, reason=reason)
    )
    if as_json:
        emit_json(result.as_dict())
        return
    click.echo(
        f"Added {plural(len(result.added), 'number')} to the Spam list; "
        f"{plural(len(result.already_listed), 'number')} already on it."
    )


@spam_group.command("remove")
@click.argument("numbers", nargs=-1, required=True)
@click.option("--reason", required=True, help="Why texts from the numbers are wanted again.")
@by_option("removes them")
@company_option
@json_option
def spam_remove(
    numbers: tuple[str, ...], reason: str, by: str | None, company: str | None, as_json: bool
) -> None:
    """Remove NUMBERS from the Spam list: needs a reason. Invalid input changes nothing.

    Taking a number off lifts no protection (the list blocks nothing outbound), so a
    manager may, without the can_remove_dnc permission that DNC removals need.
    """
    result = run(
        lambda app: service.remove_numbers(app, caller_of(company, by), numbers, reason=reason)
    )
    if as_json:
        emit_json(result.as_dict())
        return
    click.echo(
        f"Removed {plural(len(result.removed), 'number')} from the Spam list; "
        f"{plural(len(result.not_listed), 'number')} not on it."
    )


LIST_COLUMNS = ("number", "reason", "added_by", "added_at")


@spam_group.command("list")
@limit_options("number")
@company_option
@json_option
def spam_list(limit: int | None, company: str | None, as_json: bool) -> None:
    """Show the Spam list, in the order numbers were added.

    The 100 added last unless --limit N or --all; standard error says when others were
    left out.
    """

    async def body(app: App) -> bool:
        async with service.entries(app, caller_of(company), limit=limit) as page:
            await print_listing(
                page.rows, as_json, entry_view, LIST_COLUMNS, _entry_row, "The Spam list is empty."
            )
        return page.more

    hint_if_more(run(body), limit, "number")


def _entry_row(entry: SpamEntry) -> tuple[str, ...]:
    return (entry.number, entry.reason, entry.added_by, iso(entry.added_at))


LOG_COLUMNS = ("at", "action", "number", "actor", "reason")


@spam_group.command("log")
@click.option("--number", help="Only events for this number (any format).")
@limit_options("event")
@company_option
@json_option
def spam_log(number: str | None, limit: int | None, company: str | None, as_json: bool) -> None:
    """Show the Spam list's audit trail: every add and removal.

    The newest 100 events unless --limit N or --all, shown oldest first; standard error
    says when older ones were left out.
    """

    async def body(app: App) -> bool:
        async with service.audit_log(app, caller_of(company), number=number, limit=limit) as page:
            await print_listing(
                page.rows, as_json, event_view, LOG_COLUMNS, _event_row, "No events."
            )
        return page.more

    hint_if_more(run(body), limit, "event")


def _event_row(event: SpamEvent) -> tuple[str, ...]:
    return (iso(event.at), event.action, event.number, event.actor, event.reason)
