"""`dialer company`: the company's settings, among them the countries it may contact."""

from __future__ import annotations

from typing import Any

import click

from compliance import accounts
from compliance.tables import DEFAULT_COUNTRIES
from dialer.app import App
from dialer.cli.support import company_of, company_option, emit_json, json_option, run


def parse_countries(_ctx: click.Context, _param: click.Parameter, value: str) -> frozenset[str]:
    try:
        return accounts.parse_countries(value)
    except accounts.InvalidCountries as error:
        raise click.BadParameter(str(error)) from error


@click.group("company")
def company_group() -> None:
    """The company's settings: its default region and the countries it may contact.

    The gate skips a number of any other country (reason COUNTRY_NOT_ALLOWED). A new
    company may contact the US and the territories whose rules the gate knows: US, PR,
    VI, GU, AS and MP.
    """


@company_group.command("show")
@company_option
@json_option
def company_show(company: str | None, as_json: bool) -> None:
    """Show the company's settings."""

    async def body(app: App) -> dict[str, Any]:
        async with app.transaction() as conn:
            owner = await company_of(app, conn, company)
            countries = await accounts.company_countries(conn, owner)
        return {
            "name": owner.name,
            "default_region": owner.default_region,
            "countries": sorted(countries),
        }

    shown = run(body)
    if as_json:
        emit_json(shown)
        return
    click.echo(
        f"Company {shown['name']!r}: numbers without a country code are read as "
        f"{shown['default_region']}; numbers in {', '.join(shown['countries'])} may be "
        "contacted."
    )


@company_group.command("set")
@click.option(
    "--countries",
    required=True,
    metavar="CC,CC...",
    callback=parse_countries,
    help="Region codes (ISO 3166, e.g. US,PR,CA): numbers elsewhere are skipped.",
)
@company_option
def company_set(countries: frozenset[str], company: str | None) -> None:
    """Change the company's settings; the gate applies them from its next batch."""

    async def body(app: App) -> str:
        async with app.transaction() as conn:
            owner = await company_of(app, conn, company)
            await accounts.set_countries(conn, owner, countries)
        return owner.name

    name = run(body)
    click.echo(f"Company {name!r} may contact numbers in {', '.join(sorted(countries))}.")
    unknown = sorted(countries - set(DEFAULT_COUNTRIES))
    if unknown:
        click.echo(
            f"Note: the gate knows no rules of {', '.join(unknown)}; US federal calling hours "
            "apply there in the number's own time zone.",
            err=True,
        )
