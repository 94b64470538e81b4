"""`dialer statuses`: call statuses and the rules they fire."""

from __future__ import annotations

from pathlib import Path

import click

from dialer.cli.support import (
    by_option,
    caller_of,
    company_option,
    emit_json,
    json_option,
    print_table,
    run,
)
from dialer.services import statuses as service


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
    book = run(lambda app: service.load_statuses(app, caller_of(company, by), file))
    click.echo(f"Loaded {len(book.statuses)} call statuses from {file.name}.")


@statuses_group.command("list")
@company_option
@json_option
def statuses_list(company: str | None, as_json: bool) -> None:
    """List the company's call statuses, their actions, and the outcome map."""
    view = service.book_view(run(lambda app: service.status_book(app, caller_of(company))))
    if as_json:
        emit_json(view)
        return
    print_table(
        ("code", "label", "final", "actions"),
        (
            (s["code"], s["label"], s["final"], ", ".join(s["actions"]) or "-")
            for s in view["statuses"]
        ),
    )
    print_table(
        ("result", "digits", "status"),
        ((r["result"], r["digits"], r["status"]) for r in view["map"]),
    )
