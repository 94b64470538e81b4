"""Setting up: the schema and company (`init`), users, and `serve`."""

from __future__ import annotations

import click
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from campaigns import (
    repository,
)
from compliance import (
    Permission,
    Role,
    accounts,
)
from dialer.app import App, utcnow
from dialer.cli.support import (
    actor_of,
    by_option,
    company_of,
    company_option,
    run,
)
from dialer.database import location, upgrade_schema
from dialer.runner import serve as serve_forever


@click.command()
@company_option
def init(company: str | None) -> None:
    """Create or upgrade the database schema and create the company.

    The database is the settings' database_url; unset, the SQLite file dialer.db in the
    data folder (DIALER_HOME, else the user's data folder), which init creates.
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

    run(body, initialized=False)


@click.command()
def serve() -> None:
    """Run every running campaign unattended: the dispatch loop and the carrier webhooks.

    Stops cleanly on SIGTERM or Ctrl-C: the requests under way finish and are recorded
    first. Every node registers with a heartbeat; several may share one PostgreSQL
    database, and each takes back what a stopped node held. The carrier,
    webhook address and tick come from the settings (carrier, webhook_host, webhook_port,
    public_url, tick_seconds; see config/dialer.toml).
    """
    run(serve_forever)
    click.echo("Stopped.")


# --- users ----------------------------------------------------------------------------


@click.group()
def users() -> None:
    """Manage the people who act on a company's lists."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option(
    "--can-remove-dnc",
    is_flag=True,
    help="A manager who may take numbers off lists, end blackouts and release opt-outs.",
)
@by_option("adds the user", who="an admin")
@company_option
def users_add(
    name: str, role: str, can_remove_dnc: bool, by: str | None, company: str | None
) -> None:
    """Add a user NAME with a role.

    A viewer changes nothing; a manager changes lists, leads, statuses, campaigns,
    blackouts and dispositions; an admin also manages users. Taking a number off a list,
    ending a blackout and releasing an opt-out need an admin, or a manager with
    --can-remove-dnc.
    """

    async def body(app: App) -> None:
        async with app.transaction() as conn:
            owner = await company_of(app, conn, company)
            actor = await actor_of(conn, owner, by, Permission.MANAGE_USERS)
            try:
                await accounts.add_user(
                    conn, owner, name, Role(role), can_remove_dnc, utcnow(), by=actor
                )
            except IntegrityError as error:
                raise click.ClickException(f"a user named {name!r} already exists") from error
        click.echo(f"User {name!r} added as {role}.")

    run(body)
