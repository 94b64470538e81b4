"""`dialer tokens`: the REST API's bearer tokens, each acting as one user of the company."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

import click

from compliance.tokens import MAX_TOKEN_ID
from dialer.cli.support import (
    caller_of,
    company_option,
    emit_json,
    json_option,
    parse_future_instant,
    print_table,
    run,
)
from dialer.services import tokens as service

T = TypeVar("T")
LIST_COLUMNS = (
    "id",
    "user",
    "label",
    "state",
    "created_at",
    "created_by",
    "expires_at",
    "last_used_at",
)


@click.group("tokens")
def tokens_group() -> None:
    """API tokens: a request carrying `Authorization: Bearer TOKEN` acts as its user."""


@tokens_group.command("create")
@click.option("--user", required=True, metavar="NAME", help="The user the token acts as.")
@click.option("--label", default="", help="What the token is for, e.g. the system using it.")
@click.option(
    "--expires",
    "expires_at",
    callback=parse_future_instant,
    metavar="ISO-8601",
    help="When the token stops working, with its UTC offset (default: never).",
)
@company_option
@json_option
def tokens_create(
    user: str, label: str, expires_at: datetime | None, company: str | None, as_json: bool
) -> None:
    """Issue a token acting as a user, and print it: it is shown this once only (only a
    hash of its secret is kept). Needs an admin, or the local operator."""
    created = run(lambda app: service.create(app, caller_of(company), user, label, expires_at))
    if as_json:
        emit_json(created.as_dict())
        return
    click.echo(
        f"Token {created.token.id} acts as {user!r}; it is shown this once, keep it safe:",
        err=True,
    )
    click.echo(created.text)


@tokens_group.command("list")
@company_option
@json_option
def tokens_list(company: str | None, as_json: bool) -> None:
    """List the company's tokens (never their secrets), revoked and expired ones too."""
    views = [
        service.token_view(token)
        for token in run(lambda app: service.list_tokens(app, caller_of(company)))
    ]
    if as_json:
        emit_json(views)
    elif not views:
        click.echo("No tokens.")
    else:
        print_table(LIST_COLUMNS, ([view[name] for name in LIST_COLUMNS] for view in views))


@tokens_group.command("revoke")
@click.argument("token_id", metavar="ID", type=click.IntRange(1, MAX_TOKEN_ID))
@company_option
def tokens_revoke(token_id: int, company: str | None) -> None:
    """Revoke the token ID (see `tokens list`): from now on it opens nothing."""
    token = run(lambda app: service.revoke(app, caller_of(company), token_id))
    click.echo(f"Token {token.id} ({token.user}) revoked at {token.revoked_at.isoformat()}.")
