"""Who the service tests call as: users of each role in the company 'acme' (the `company`
fixture) and an admin of another company; and every row, to show a refusal changed nothing."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from campaigns import metadata
from compliance import Company, Role, accounts
from dialer.services import Caller
from tests.support import NOW

VIEWER = Caller("acme", "vic")
MANAGER = Caller("acme", "max")  # without can_remove_dnc
OUTSIDER = Caller("acme", "gus")  # an admin of globex


async def add_staff(engine: AsyncEngine, company: Company) -> None:
    async with engine.begin() as conn:
        await accounts.add_user(conn, company, "vic", Role.VIEWER, False, NOW)
        await accounts.add_user(conn, company, "max", Role.MANAGER, False, NOW)
        globex, _ = await accounts.ensure_company(conn, "globex", NOW)
        await accounts.add_user(conn, globex, "gus", Role.ADMIN, False, NOW)


async def every_row(engine: AsyncEngine) -> dict[str, list[tuple]]:
    async with engine.connect() as conn:
        return {
            table.name: sorted(map(tuple, await conn.execute(select(table))), key=repr)
            for table in metadata.sorted_tables
        }
