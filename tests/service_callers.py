"""What the service tests share: users of every role in the test company, a user of another
company, and every row of the database to tell that a refusal changed nothing."""

from __future__ import annotations

from sqlalchemy import select

from campaigns import metadata
from compliance import Company, Role, accounts
from dialer.app import App
from dialer.services import Caller
from tests.support import NOW

# The `company` fixture's users: a viewer, a manager, a manager who may remove, an admin.
VIEWER, MANAGER, REMOVER, ADMIN = "vic", "max", "mia", "root"
# An admin of another company: no user of the test company.
OUTSIDER = "olga"

LEADS_CSV = "phone,external_id,state\n(305) 555-0117,L1,FL\n212.555.0123,L2,NY\n"


async def add_staff(app: App, company: Company) -> None:
    """The users above, and a company "rival" whose admin is OUTSIDER."""
    async with app.transaction() as conn:
        for name, role, can_remove in (
            (VIEWER, Role.VIEWER, False),
            (MANAGER, Role.MANAGER, False),
            (REMOVER, Role.MANAGER, True),
            (ADMIN, Role.ADMIN, False),
        ):
            await accounts.add_user(conn, company, name, role, can_remove, NOW)
        rival, _ = await accounts.ensure_company(conn, "rival", NOW)
        await accounts.add_user(conn, rival, OUTSIDER, Role.ADMIN, False, NOW)


def as_user(company: Company, user: str | None) -> Caller:
    return Caller(company.name, user)


async def contents(app: App) -> dict[str, list[tuple]]:
    """Every row of every table: what 'nothing changed' compares."""
    async with app.snapshot() as conn:
        return {
            table.name: sorted(map(tuple, await conn.execute(select(table))), key=repr)
            for table in metadata.sorted_tables
        }
