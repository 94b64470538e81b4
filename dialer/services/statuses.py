"""Call statuses and the outcome map: loading a company's book and reading it, whoever asks
(CLI, API, pages)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from campaigns import InvalidDefinition, StatusBook, repository
from compliance import Permission
from dialer.app import App, utcnow
from dialer.files import read_text
from dialer.services import Caller, acting

__all__ = ["book_view", "load_from_text", "load_statuses", "status_book"]


async def load_statuses(app: App, caller: Caller, path: Path) -> StatusBook:
    """Replace the company's call statuses and outcome map with the TOML file `path`; a
    book a running or paused campaign could not run with is refused (InvalidDefinition,
    naming the file)."""
    definition = read_text(path)
    try:
        return await load_from_text(app, caller, definition)
    except InvalidDefinition as error:
        raise InvalidDefinition(f"{path.name}: {error}") from None


async def load_from_text(app: App, caller: Caller, definition: str) -> StatusBook:
    """Replace the company's call statuses with the TOML text `definition`, checked as
    `load_statuses` checks a file."""
    async with app.transaction() as conn:
        who = await acting(app, conn, caller, Permission.CHANGE)
        return await repository.save_status_book(conn, who.company, definition, who.actor, utcnow())


async def status_book(app: App, caller: Caller) -> StatusBook:
    """The company's call statuses and outcome map (NoStatuses if it has none)."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        return await repository.status_book(conn, who.company)


def book_view(book: StatusBook) -> dict[str, Any]:
    """The statuses, each with its actions as text, and the outcome map in order."""
    return {
        "statuses": [
            {
                "code": status.code,
                "label": status.label,
                "final": status.final,
                "actions": [str(action) for action in status.actions],
            }
            for status in book.statuses.values()
        ],
        "map": [
            {"result": rule.result.value, "digits": rule.digits, "status": rule.status}
            for rule in book.rules
        ],
    }
