"""`dialer numbers`: the company's sending numbers."""

from __future__ import annotations

import click

from dialer.cli.support import (
    by_option,
    caller_of,
    company_option,
    emit_json,
    iso,
    json_option,
    plural,
    print_table,
    run,
)
from dialer.services import numbers as service


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
    result = run(lambda app: service.add_numbers(app, caller_of(company, by), values))
    added, known = len(result.added), len(result.already_registered)
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
    found = run(lambda app: service.list_numbers(app, caller_of(company)))
    if as_json:
        emit_json([service.number_view(number) for number in found])
        return
    print_table(
        ("number", "added at", "added by"),
        [(number.number, iso(number.added_at), number.added_by) for number in found],
    )
