"""`dialer spam`: the Spam list, numbers whose inbound texts the company ignores."""

from __future__ import annotations

from typing import Any

import click

from compliance import Permission, normalize, spam
from compliance.spam import SpamEntry, SpamEvent
from dialer.app import App, utcnow
from dialer.cli.output import hint_if_more, limit_options, print_listing
from dialer.cli.support import (
    actor_of,
    by_option,
    company_of,
    company_option,
    emit_json,
    iso,
    json_option,
    plural,
    run,
)
from dialer.services import e164_all


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

    async def body(app: App) -> None:
        async with app.transaction() as conn:
            owner = await company_of(app, conn, company)
            actor = await actor_of(conn, owner, by, Permission.CHANGE)
            wanted = e164_all(numbers, owner.default_region)
            added = await spam.add_numbers(
                conn, owner, wanted, reason=reason, actor=actor, now=utcnow()
            )
        already = sorted(set(wanted) - set(added))
        if as_json:
            emit_json({"added": added, "already_listed": already})
            return
        click.echo(
            f"Added {plural(len(added), 'number')} to the Spam list; "
            f"{plural(len(already), 'number')} already on it."
        )

    run(body)


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

    async def body(app: App) -> None:
        async with app.transaction() as conn:
            owner = await company_of(app, conn, company)
            actor = await actor_of(conn, owner, by, Permission.CHANGE)
            wanted = e164_all(numbers, owner.default_region)
            removed = await spam.remove_numbers(
                conn, owner, wanted, reason=reason, actor=actor, now=utcnow()
            )
        missing = sorted(set(wanted) - set(removed))
        if as_json:
            emit_json({"removed": removed, "not_listed": missing})
            return
        click.echo(
            f"Removed {plural(len(removed), 'number')} from the Spam list; "
            f"{plural(len(missing), 'number')} not on it."
        )

    run(body)


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
        async with app.snapshot() as conn:
            owner = await company_of(app, conn, company)
            page = await spam.entries(conn, owner, limit=limit)
            await print_listing(
                page.rows, as_json, _entry_view, LIST_COLUMNS, _entry_row, "The Spam list is empty."
            )
        return page.more

    hint_if_more(run(body), limit, "number")


def _entry_view(entry: SpamEntry) -> dict[str, Any]:
    return dict(zip(LIST_COLUMNS, _entry_row(entry), strict=True))


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
        async with app.snapshot() as conn:
            owner = await company_of(app, conn, company)
            wanted = normalize(number, owner.default_region).e164 if number else None
            page = await spam.events(conn, owner, number=wanted, limit=limit)
            await print_listing(
                page.rows, as_json, _event_view, LOG_COLUMNS, _event_row, "No events."
            )
        return page.more

    hint_if_more(run(body), limit, "event")


def _event_view(event: SpamEvent) -> dict[str, Any]:
    return {"id": event.id, **dict(zip(LOG_COLUMNS, _event_row(event), strict=True))}


def _event_row(event: SpamEvent) -> tuple[str, ...]:
    return (iso(event.at), event.action, event.number, event.actor, event.reason)
