"""Setting up: the schema and company (`init`), users, and `serve`."""

from __future__ import annotations

import sys

import click
from sqlalchemy import text

from campaigns import repository
from compliance import Role, accounts
from dialer.app import App, utcnow
from dialer.cli.output import print_listing
from dialer.cli.support import (
    by_option,
    caller_of,
    company_option,
    iso,
    json_option,
    run,
)
from dialer.database import location, upgrade_schema
from dialer.runner import serve as serve_forever
from dialer.services import users as service
from dialer.settings import create_secret_key


@click.command()
@company_option
def init(company: str | None) -> None:
    """Create or upgrade the database schema and create the company.

    The database is the settings' database_url; unset, the SQLite file dialer.db in the
    data folder (DIALER_HOME, else the user's data folder), which init creates. Without a
    secret_key setting (DIALER_SECRET_KEY), init writes one to the file secret_key in the
    data folder, and keeps it on later runs: every node must share the same key.
    """

    async def body(app: App) -> None:
        await upgrade_schema(app.engine)
        name = company or app.settings.default_company
        async with app.transaction() as conn:
            revision = (
                await conn.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar()
            owner, created = await accounts.ensure_company(
                conn, name, utcnow(), app.settings.default_region
            )
            seeded = await repository.seed_status_book(conn, owner, utcnow())
        state = "created" if created else "exists"
        statuses = "; default call statuses seeded" if seeded else ""
        click.echo(f"Database: {location(app.settings.database_url)}")
        click.echo(f"Schema at revision {revision}; company {name!r} {state}{statuses}.")
        click.echo(secret_key_line(app))

    run(body, initialized=False)


def secret_key_line(app: App) -> str:
    """Where the sessions' secret key comes from; written to the data folder if unset."""
    if app.settings.secret_key_file is not None:
        return f"Secret key: {app.settings.secret_key_file}"
    if app.settings.secret_key:
        return "Secret key: the secret_key setting (DIALER_SECRET_KEY)."
    created = create_secret_key(app.settings.home)
    return (
        f"Secret key: created {created} (readable by you only); every node needs the same "
        "key: copy the file into each node's data folder, or set DIALER_SECRET_KEY."
    )


@click.command()
def serve() -> None:
    """Run every running campaign unattended: the dispatch loop and the carrier webhooks.

    Stops cleanly on SIGTERM or Ctrl-C: it claims no more work, lets the requests under
    way finish and records them, marks the node stopped and exits 0; the other nodes take
    back the calls it still has up. Every node registers with a heartbeat; several may
    share one PostgreSQL database, and each takes back what a stopped node held. The carrier,
    webhook address and tick come from the settings (carrier, webhook_host, webhook_port,
    public_url, tick_seconds; see config/dialer.toml). The webhook port also answers
    /healthz, /readyz and /metrics (Prometheus), without a token.
    """
    run(serve_forever)
    click.echo("Stopped.")


# --- users ----------------------------------------------------------------------------


@click.group()
def users() -> None:
    """Manage the people who act on a company's lists, and their passwords."""


def read_password() -> str:
    """The password from standard input: typed unseen (twice) at a terminal, else its first
    line without the line break. Never echoed, never logged."""
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if not password:
        raise click.ClickException(
            "no password on standard input: give it as one line, e.g. from a file with < FILE"
        )
    return password


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option(
    "--can-remove-dnc",
    is_flag=True,
    help="A manager who may take numbers off lists, end blackouts and release opt-outs.",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the user's password from standard input (one line); without it the user "
    "cannot sign in until `dialer users passwd`.",
)
@by_option("adds the user", who="an admin")
@company_option
def users_add(
    name: str,
    role: str,
    can_remove_dnc: bool,
    password_stdin: bool,
    by: str | None,
    company: str | None,
) -> None:
    """Add a user NAME with a role.

    A viewer changes nothing; a manager changes lists, leads, statuses, campaigns,
    blackouts and dispositions; an admin also manages users. Taking a number off a list,
    ending a blackout and releasing an opt-out need an admin, or a manager with
    --can-remove-dnc. A password has 15 to 256 characters, any characters; common ones
    and ones holding the user's or the company's name are refused.
    """
    password = read_password() if password_stdin else None
    run(
        lambda app: service.add_user(
            app,
            caller_of(company, by),
            name,
            Role(role),
            can_remove_dnc=can_remove_dnc,
            password=password,
        )
    )
    suffix = ", with a password" if password is not None else ""
    click.echo(f"User {name!r} added as {role}{suffix}.")


@users.command("passwd")
@click.argument("name")
@by_option("sets it", who="an admin, or the user themself")
@company_option
def users_passwd(name: str, by: str | None, company: str | None) -> None:
    """Set the password of user NAME, read from standard input (one line), replacing
    any: 15 to 256 characters, any characters; common ones and ones holding the user's
    or the company's name are refused."""
    password = read_password()
    replaced = run(lambda app: service.set_password(app, caller_of(company, by), name, password))
    click.echo(f"Password of {name!r} {'replaced' if replaced else 'set'}.")


@users.command("list")
@company_option
@json_option
def users_list(company: str | None, as_json: bool) -> None:
    """The company's users, by name: role, permissions, and whether each has a password
    (never the password or its hash)."""

    async def body(app: App) -> None:
        async with service.list_users(app, caller_of(company)) as page:
            await print_listing(
                page.rows,
                as_json,
                service.user_view,
                ["name", "role", "can_remove_dnc", "has_password", "created_at"],
                lambda account: [
                    account.user.name,
                    account.user.role.value,
                    "yes" if account.user.can_remove_dnc else "no",
                    "yes" if account.has_password else "no",
                    iso(account.created_at),
                ],
                "No users yet: add one with `dialer users add`.",
            )

    run(body)
