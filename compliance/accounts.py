"""Companies and users: a company owns its lists and leads; users act on its behalf."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import phonenumbers
import structlog
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from compliance.dnc import Role, User
from compliance.tables import companies, users

log = structlog.get_logger("compliance.accounts")


@dataclass(frozen=True, slots=True)
class Company:
    id: int
    name: str
    default_region: str


class UnknownCompany(LookupError):
    """No company of that name."""


async def find_company(conn: AsyncConnection, name: str) -> Company:
    """The company named `name`; UnknownCompany if there is none."""
    row = (await conn.execute(select(companies).where(companies.c.name == name))).first()
    if row is None:
        raise UnknownCompany(f"no company named {name!r}; run `dialer init` or check --company")
    return Company(row.id, row.name, row.default_region)


async def get_company(conn: AsyncConnection, company_id: int) -> Company:
    """The company with this id (it must exist)."""
    row = (await conn.execute(select(companies).where(companies.c.id == company_id))).one()
    return Company(row.id, row.name, row.default_region)


async def ensure_company(
    conn: AsyncConnection, name: str, now: datetime, default_region: str = "US"
) -> tuple[Company, bool]:
    """The company named `name`, created if missing; the flag says whether it was created."""
    try:
        return await find_company(conn, name), False
    except UnknownCompany:
        pass
    company_id = (
        await conn.execute(
            insert(companies)
            .values(name=name, default_region=default_region, created_at=now)
            .returning(companies.c.id)
        )
    ).scalar_one()
    log.info("company.created", company=name, company_id=company_id)
    return Company(company_id, name, default_region), True


class InvalidCountries(ValueError):
    """A list of countries that names no country, or something that is not one."""


def parse_countries(text: str) -> frozenset[str]:
    """'us, pr' -> {'US', 'PR'}: region codes as phonenumbers knows them (ISO 3166)."""
    codes = {code.strip().upper() for code in text.split(",")} - {""}
    if not codes:
        raise InvalidCountries("give at least one country, e.g. US,PR")
    unknown = sorted(codes - phonenumbers.SUPPORTED_REGIONS)
    if unknown:
        raise InvalidCountries(
            f"not a country code: {', '.join(unknown)} (two letters, e.g. US, PR, CA)"
        )
    return frozenset(codes)


async def company_countries(conn: AsyncConnection, company: Company) -> frozenset[str]:
    """The countries whose numbers the company may contact.

    Read under a share lock (PostgreSQL): a change waits for the screening that read the
    countries until its dial intents commit, and a screening waits for a change under way.
    """
    text = (
        await conn.execute(
            select(companies.c.countries)
            .where(companies.c.id == company.id)
            .with_for_update(read=True)
        )
    ).scalar_one()
    return frozenset(text.split(","))


async def set_countries(conn: AsyncConnection, company: Company, countries: frozenset[str]) -> None:
    """Let the company contact numbers of these countries only (`parse_countries` checks
    them)."""
    await conn.execute(
        update(companies)
        .where(companies.c.id == company.id)
        .values(countries=",".join(sorted(countries)))
    )
    log.info("company.countries_set", company=company.name, countries=sorted(countries))


async def add_user(
    conn: AsyncConnection,
    company: Company,
    name: str,
    role: Role,
    can_remove_dnc: bool,
    now: datetime,
) -> User:
    """Create a user of `company`; a duplicate name raises sqlalchemy's IntegrityError."""
    await conn.execute(
        insert(users).values(
            company_id=company.id,
            name=name,
            role=role.value,
            can_remove_dnc=can_remove_dnc,
            created_at=now,
        )
    )
    log.info(
        "user.created",
        company=company.name,
        user=name,
        role=role.value,
        can_remove_dnc=can_remove_dnc,
    )
    return User(name, role, can_remove_dnc)


async def find_user(conn: AsyncConnection, company: Company, name: str) -> User | None:
    row = (
        await conn.execute(
            select(users.c.name, users.c.role, users.c.can_remove_dnc).where(
                users.c.company_id == company.id, users.c.name == name
            )
        )
    ).first()
    return None if row is None else User(row.name, Role(row.role), row.can_remove_dnc)
