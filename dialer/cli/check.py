"""`dialer check`: a dry run of the compliance gate."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import click

from compliance import Channel, explain, zones
from dialer.cli.support import (
    caller_of,
    company_option,
    emit_json,
    json_option,
    parse_instant,
    run,
)
from dialer.services import gate


def _known(check: Callable[[str], str]) -> Callable[..., str | None]:
    """A click callback refusing (exit 2) a value `check` does not know."""

    def callback(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return check(value)
        except ValueError as error:
            raise click.BadParameter(str(error)) from error

    return callback


@click.command()
@click.argument("number")
@click.option(
    "--channel",
    type=click.Choice([Channel.VOICE.value, Channel.SMS.value]),
    default=Channel.VOICE.value,
    show_default=True,
)
@click.option(
    "--at",
    "at",
    callback=parse_instant,
    metavar="ISO-8601",
    help="The instant to judge, with its UTC offset (default: now).",
)
@click.option(
    "--state",
    callback=_known(zones.known_state),
    help="The lead's address state (e.g. CO); its rules apply too.",
)
@click.option(
    "--timezone",
    "timezone",
    callback=_known(zones.known_zone),
    help="The lead's IANA time zone, e.g. America/Denver.",
)
@click.option("--lead", help="A lead (id or external id): its state, zone, own DNC, history.")
@click.option("--campaign", help="A campaign: its window, its attempt limit and its channel.")
@company_option
@json_option
def check(
    number: str,
    channel: str,
    at: datetime,
    state: str | None,
    timezone: str | None,
    lead: str | None,
    campaign: str | None,
    company: str | None,
    as_json: bool,
) -> None:
    """Dry run of the gate: may NUMBER be called or texted at --at, and if not, why.

    Screens exactly as the engine does before each attempt: lead and company DNC lists,
    calling hours in every candidate time zone (federal and state rules), rolling caps.
    Exits 0 when allowed and 1 when blocked, with or without --json.
    """
    decision = run(
        lambda app: gate.check_attempt(
            app,
            caller_of(company),
            number,
            channel=Channel(channel),
            at=at,
            state=state,
            timezone=timezone,
            lead=lead,
            campaign=campaign,
        )
    )
    if as_json:
        emit_json(decision.as_dict())
    else:
        click.echo(explain(decision))
    # The verdict is the exit code too, so scripts can branch on it.
    if not decision.allowed:
        raise SystemExit(1)
