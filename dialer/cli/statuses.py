"""`dialer statuses`: call statuses and the rules they fire."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from campaigns import (
    InvalidDefinition,
    repository,
)
from compliance import Permission
from dialer.app import App, utcnow
from dialer.cli.support import (
    actor_of,
    by_option,
    company_of,
    company_option,
    emit_json,
    json_option,
    print_table,
    run,
)
from dialer.files import read_text


@click.group("statuses")
def statuses_group() -> None:
    """Call statuses and the rules they fire.

    A status does nothing by its name: a status called "DNC" adds nothing to any list
    unless its actions say so (company_dnc, company_dnt, lead_dnc:CHANNEL,
    lead_status:VALUE). Only configured actions count.
    """


@statuses_group.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@by_option("loads them")
@company_option
def statuses_load(file: Path, by: str | None, company: str | None) -> None:
    """Replace the company's call statuses and outcome map with FILE (TOML).

    The format, with an example file, is described in config/examples/README.md.
    """

    async def body(app: App) -> int:
        definition = read_text(file)
        async with app.transaction() as conn:
            owner = await company_of(app, conn, company)
            actor = await actor_of(conn, owner, by, Permission.CHANGE)
            try:
                book = await repository.save_status_book(conn, owner, definition, actor, utcnow())
            except InvalidDefinition as error:
                raise InvalidDefinition(f"{file.name}: {error}") from None
            return len(book.statuses)

    click.echo(f"Loaded {run(body)} call statuses from {file.name}.")


@statuses_group.command("list")
@company_option
@json_option
def statuses_list(company: str | None, as_json: bool) -> None:
    """List the company's call statuses, their actions, and the outcome map."""

    async def body(app: App) -> Any:
        async with app.transaction() as conn:
            return await repository.status_book(conn, await company_of(app, conn, company))

    book = run(body)
    statuses = [
        {
            "code": status.code,
            "label": status.label,
            "final": status.final,
            "actions": [str(action) for action in status.actions],
        }
        for status in book.statuses.values()
    ]
    rules = [
        {"result": rule.result.value, "digits": rule.digits, "status": rule.status}
        for rule in book.rules
    ]
    if as_json:
        emit_json({"statuses": statuses, "map": rules})
        return
    print_table(
        ("code", "label", "final", "actions"),
        ((s["code"], s["label"], s["final"], ", ".join(s["actions"]) or "-") for s in statuses),
    )
    print_table(
        ("result", "digits", "status"), ((r["result"], r["digits"], r["status"]) for r in rules)
    )
