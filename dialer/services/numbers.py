"""A company's sending numbers: register and list the numbers it calls and texts from,
whoever asks (CLI, API, pages)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from compliance import Permission, numbers
from compliance.numbers import SendingNumber
from dialer.app import App, utcnow
from dialer.services import Caller, acting, e164_all

__all__ = ["Registered", "add_numbers", "list_numbers", "number_view"]


@dataclass(frozen=True, slots=True)
class Registered:
    """What registering numbers did: those now the company's, those it had already."""

    added: list[str]
    already_registered: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"added": self.added, "already_registered": self.already_registered}


async def add_numbers(app: App, caller: Caller, values: Sequence[str]) -> Registered:
    """Register `values` (any format) as the company's sending numbers. One invalid number
    (InvalidNumbers) or one another company owns (NumberOwnedElsewhere, naming no company)
    refuses them all."""
    async with app.transaction() as conn:
        who = await acting(app, conn, caller, Permission.CHANGE)
        given = set(e164_all(values, who.company.default_region))
        added = await numbers.add_sending_numbers(
            conn, who.company, sorted(given), utcnow(), who.actor
        )
    return Registered(added, sorted(given - set(added)))


async def list_numbers(
    app: App, caller: Caller, *, after: str | None = None, limit: int | None = None
) -> list[SendingNumber]:
    """The company's sending numbers, in number order: after the E.164 number `after`, at
    most `limit`."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        return await numbers.sending_numbers(conn, who.company, after=after, limit=limit)


def number_view(number: SendingNumber) -> dict[str, Any]:
    return {
        "number": number.number,
        "added_at": number.added_at.isoformat(),
        "added_by": number.added_by,
    }
