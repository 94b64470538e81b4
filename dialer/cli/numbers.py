"""`dialer numbers`: the company's sending numbers."""

from __future__ import annotations

from dataclasses import asdict

import click

from compliance import Permission, numbers
from dialer.app import App, utcnow
from dialer.cli.support import (
    actor_of,
    by_option,
    company_of,
    company_option,
    emit_json,
    iso,
    json_option,
    plural,
    print_table,
    run,
)
from dialer.services import e164_all


@click.group("numbers")
def numbers_group() -> None:
    """The numbers the company calls and texts from: a text to one of them is the company's.

    A number belongs to one company at most. `campaign create` registers the campaign's
    caller_id when the company does not have it yet.
    """


@numbers_group.command("add")
@click.argument("values", metavar="NUMBER...", nargs=-1, required=True)
@by_option("adds them")
@company_option
def numbers_add(values: tuple[str, ...], by: str | None, company: str | None) -> None:
    """Register sending numbers (any way of writing them: +1 305 555 0100, (305) 555-0100)."""

    async def body(app: App) -> tuple[int, int]:
        async with app.transaction() as conn:
            owner = await company_of(app, conn, company)
            actor = await actor_of(conn, owner, by, Permission.CHANGE)
            given = set(e164_all(values, owner.default_region))
            try:
                added = await numbers.add_sending_numbers(
                    conn, owner, sorted(given), utcnow(), actor
                )
            except numbers.NumberOwnedElsewhere as error:
                raise click.ClickException(str(error)) from None
        return len(added), len(given) - len(added)

    added, known = run(body)
    already = f"{plural(known, 'number')} {'was' if known == 1 else 'were'} registered already"
    if not added:
        click.echo(f"{already}; nothing was added.")
    elif known:
        click.echo(f"Added {plural(added, 'sending number')}; {already}.")
    else:
        click.echo(f"Added {plural(added, 'sending number')}.")


@numbers_group.command("list")
@company_option
@json_option
def numbers_list(company: str | None, as_json: bool) -> None:
    """The company's sending numbers."""

    async def body(app: App) -> list[numbers.SendingNumber]:
        async with app.snapshot() as conn:
            return await numbers.sending_numbers(conn, await company_of(app, conn, company))

    found = run(body)
    if as_json:
        emit_json([{**asdict(number), "added_at": iso(number.added_at)} for number in found])
        return
    print_table(
        ("number", "added at", "added by"),
        [(number.number, iso(number.added_at), number.added_by) for number in found],
    )
