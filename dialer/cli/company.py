"""`dialer company`: the company's settings: the countries it may contact, its replies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from compliance import accounts
from compliance.tables import DEFAULT_COUNTRIES
from dialer.cli.support import caller_of, company_option, emit_json, json_option, run
from dialer.services import company as service


def parse_countries(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> frozenset[str] | None:
    if value is None:
        return None
    try:
        return accounts.parse_countries(value)
    except accounts.InvalidCountries as error:
        raise click.BadParameter(str(error)) from error


def parse_reply(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return accounts.check_reply(value)
    except accounts.InvalidReply as error:
        raise click.BadParameter(str(error)) from error


# What each reply answers, as `company show` and `company set` name it.
ANSWERS = {
    accounts.Reply.OPT_OUT: "an opt-out",
    accounts.Reply.HELP: "HELP",
    accounts.Reply.OPT_IN: "START",
}


def reply_option(reply: accounts.Reply) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        f"--{reply.value.replace('_', '-')}-reply",
        f"{reply.value}_reply",
        metavar="TEXT",
        callback=parse_reply,
        help=f"The text that answers {ANSWERS[reply]} (at most {accounts.MAX_REPLY} "
        "characters; 160 fit in one SMS).",
    )


@click.group("company")
def company_group() -> None:
    """The company's settings: its default region, the countries it may contact and the
    texts it answers inbound messages with.

    The gate skips a number of any other country (reason COUNTRY_NOT_ALLOWED). A new
    company may contact the US and the territories whose rules the gate knows: US, PR,
    VI, GU, AS and MP. Until it sets its own, it answers an opt-out, HELP and START with
    short texts naming it and saying how to opt out.
    """


@company_group.command("show")
@company_option
@json_option
def company_show(company: str | None, as_json: bool) -> None:
    """Show the company's settings."""
    shown = run(lambda app: service.read_settings(app, caller_of(company)))
    if as_json:
        emit_json(shown.as_dict())
        return
    click.echo(
        f"Company {shown.name!r}: numbers without a country code are read as "
        f"{shown.default_region}; numbers in {', '.join(shown.countries)} may be contacted."
    )
    for reply in accounts.Reply:
        click.echo(f"Reply to {ANSWERS[reply]}: {getattr(shown.replies, reply.value)}")


@company_group.command("set")
@click.option(
    "--countries",
    metavar="CC,CC...",
    callback=parse_countries,
    help="Region codes (ISO 3166, e.g. US,PR,CA): numbers elsewhere are skipped.",
)
@reply_option(accounts.Reply.OPT_OUT)
@reply_option(accounts.Reply.HELP)
@reply_option(accounts.Reply.OPT_IN)
@company_option
def company_set(
    countries: frozenset[str] | None,
    opt_out_reply: str | None,
    help_reply: str | None,
    opt_in_reply: str | None,
    company: str | None,
) -> None:
    """Change the company's settings; the gate applies them from its next batch, replies
    from the next inbound text."""
    given = {
        accounts.Reply.OPT_OUT: opt_out_reply,
        accounts.Reply.HELP: help_reply,
        accounts.Reply.OPT_IN: opt_in_reply,
    }
    texts = {reply: text for reply, text in given.items() if text is not None}
    if countries is None and not texts:
        raise click.UsageError(
            "give a setting to change: --countries, --opt-out-reply, --help-reply or --opt-in-reply"
        )
    changed = run(
        lambda app: service.change_settings(
            app, caller_of(company), countries=countries, replies=texts
        )
    )
    name = changed.name
    for reply, text in texts.items():
        click.echo(f"Company {name!r} now replies to {ANSWERS[reply]} with: {text}")
    if countries is None:
        return
    click.echo(f"Company {name!r} may contact numbers in {', '.join(changed.countries)}.")
    unknown = sorted(set(changed.countries) - set(DEFAULT_COUNTRIES))
    if unknown:
        click.echo(
            f"Note: the gate knows no rules of {', '.join(unknown)}; US federal calling hours "
            "apply there in the number's own time zone.",
            err=True,
        )
