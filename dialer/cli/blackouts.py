"""`dialer blackouts`: state emergency blackouts."""

from __future__ import annotations

from datetime import datetime

import click

from compliance import Blackout
from dialer.cli.support import (
    by_option,
    caller_of,
    company_option,
    emit_json,
    iso,
    json_option,
    parse_instant,
    parse_optional_instant,
    print_table,
    run,
)
from dialer.services import blackouts as service


@click.group("blackouts")
def blackouts_group() -> None:
    """State emergency blackouts: no call or text to a state while one lasts.

    Louisiana bans telephonic solicitation while a governor-declared state of emergency
    lasts. The gate reads blackouts on every batch, so one added while campaigns run
    applies to their next attempt; a lead whose number or address is in the state waits
    until the blackout ends. `blackouts end` ends one early, when the declaration is lifted.
    """


@blackouts_group.command("add")
@click.option("--state", required=True, help="The state's postal code, e.g. LA.")
@click.option(
    "--from", "starts_at", metavar="ISO", callback=parse_instant, help="Start (default: now)."
)
@click.option("--until", "ends_at", metavar="ISO", required=True, callback=parse_optional_instant)
@click.option("--source", required=True, help="The declaration: a URL or an order number.")
@click.option("--reason", default="", help="What it is, e.g. the storm's name.")
@by_option("enters it")
@company_option
def blackouts_add(
    state: str,
    starts_at: datetime,
    ends_at: datetime,
    source: str,
    reason: str,
    by: str | None,
    company: str | None,
) -> None:
    """Add a blackout from --from until --until (exclusive)."""
    added = run(
        lambda app: service.add_blackout(
            app,
            caller_of(company, by),
            state,
            starts_at,
            ends_at,
            source=source,
            reason=reason,
        )
    )
    click.echo(
        f"No calls or texts to {added.state} from {iso(added.starts_at)} "
        f"until {iso(added.ends_at)}."
    )


@blackouts_group.command("list")
@click.option("--all", "everything", is_flag=True, help="Past blackouts too.")
@company_option
@json_option
def blackouts_list(everything: bool, company: str | None, as_json: bool) -> None:
    """The blackouts not over yet (with --all, every one)."""
    found = run(lambda app: service.list_blackouts(app, caller_of(company), everything=everything))
    if as_json:
        emit_json([service.blackout_view(blackout) for blackout in found])
        return
    print_table(
        ("id", "state", "from", "until", "reason", "source", "ended early"),
        [
            (b.id, b.state, iso(b.starts_at), iso(b.until), b.reason, b.source, _early_end(b))
            for b in found
        ],
    )


def _early_end(blackout: Blackout) -> str:
    ended = blackout.ended
    return "" if ended is None else f"by {ended.by}: {ended.reason}"


@blackouts_group.command("end")
@click.argument("blackout_id", metavar="ID", type=click.IntRange(min=1))
@click.option(
    "--at", "at", metavar="ISO", callback=parse_instant, help="When it ends (default: now)."
)
@click.option("--by", "by", required=True, help="User ending it (needs can_remove_dnc).")
@click.option("--reason", required=True, help="Why it ends early, e.g. the order lifting it.")
@company_option
def blackouts_end(
    blackout_id: int, at: datetime, by: str, reason: str, company: str | None
) -> None:
    """End blackout ID (see `blackouts list`) early, from --at on: needs a permitted user
    and a reason, like taking a number off a list. The declared end is kept beside it."""
    ended = run(
        lambda app: service.end_blackout(
            app, caller_of(company, by), blackout_id, at, reason=reason
        )
    )
    click.echo(f"Blackout {ended.id} of {ended.state} ends at {iso(ended.until)}.")
