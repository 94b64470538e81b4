"""A company's sending numbers: what it calls and texts from, and where its texts come in.

An inbound text belongs to the company owning its To number, so a number is one company's
at most. Numbers are E.164 here and BIGINT keys in storage (`phone.to_key`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from compliance.accounts import LOCAL_OPERATOR, Company, get_company
from compliance.phone import from_key, to_key
from compliance.tables import in_batch
from compliance.tables import sending_numbers as numbers_table

log = structlog.get_logger("compliance.numbers")


@dataclass(frozen=True, slots=True)
class SendingNumber:
    number: str  # E.164
    added_at: datetime
    added_by: str


class NumberOwnedElsewhere(ValueError):
    """A number another company sends from; nothing was changed."""


async def add_sending_numbers(
    conn: AsyncConnection,
    company: Company,
    numbers: Sequence[str],
    now: datetime,
    by: str = LOCAL_OPERATOR,
) -> list[str]:
    """Register E.164 `numbers` as the company's; returns those it did not have yet.

    A number another company owns refuses the whole call (NumberOwnedElsewhere). It is
    checked before anything is written; one that another company registers meanwhile is
    found after the insert, and the caller's transaction must then roll back.
    """
    keys = sorted({to_key(number) for number in numbers})
    if not keys:
        return []
    _refuse_others(await _owners(conn, keys), company)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    added = (
        await conn.execute(
            dialect.insert(numbers_table)
            .on_conflict_do_nothing(index_elements=["number"])
            .returning(numbers_table.c.number),
            [
                {"number": key, "company_id": company.id, "added_at": now, "added_by": by}
                for key in keys
            ],
        )
    ).scalars()
    new = sorted(set(added))
    _refuse_others(await _owners(conn, keys), company)
    if new:
        log.info(
            "sending_numbers.added",
            company=company.name,
            numbers=[from_key(key) for key in new],
            by=by,
        )
    return [from_key(key) for key in new]


async def _owners(conn: AsyncConnection, keys: list[int]) -> dict[int, int]:
    """The company id owning each of `keys` that is registered."""
    rows = await conn.execute(
        select(numbers_table.c.number, numbers_table.c.company_id).where(
            in_batch(numbers_table.c.number, keys, conn.dialect.name)
        )
    )
    return {row.number: row.company_id for row in rows}


def _refuse_others(owners: dict[int, int], company: Company) -> None:
    # Nothing of the other company is named: the caller may not see its data.
    taken = sorted(key for key, owner in owners.items() if owner != company.id)
    if taken:
        verb = "is" if len(taken) == 1 else "are"
        raise NumberOwnedElsewhere(
            f"{', '.join(from_key(key) for key in taken)} {verb} owned by another company; "
            "nothing was changed"
        )


async def sending_numbers(
    conn: AsyncConnection,
    company: Company,
    *,
    after: str | None = None,
    limit: int | None = None,
) -> list[SendingNumber]:
    """The company's sending numbers in number order, from after the E.164 number `after`,
    at most `limit`: one query."""
    query = (
        select(numbers_table)
        .where(numbers_table.c.company_id == company.id)
        .order_by(numbers_table.c.number)
        .limit(limit)
    )
    if after is not None:
        query = query.where(numbers_table.c.number > to_key(after))
    rows = await conn.execute(query)
    return [SendingNumber(from_key(row.number), row.added_at, row.added_by) for row in rows]


async def company_owning(conn: AsyncConnection, e164: str) -> Company | None:
    """The company owning the number `e164` (E.164, else InvalidNumber), None when no
    company does."""
    company_id = (
        await conn.execute(
            select(numbers_table.c.company_id).where(numbers_table.c.number == to_key(e164))
        )
    ).scalar_one_or_none()
    return None if company_id is None else await get_company(conn, company_id)
