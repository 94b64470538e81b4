"""A company's settings: its default region, the countries it may contact and the texts it
answers inbound messages with, whoever asks (CLI, API, pages)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from compliance import Company, Permission, accounts
from dialer.app import App
from dialer.services import Caller, acting

__all__ = ["CompanySettings", "change_settings", "read_settings"]


@dataclass(frozen=True, slots=True)
class CompanySettings:
    """A company's settings as they stand; `as_dict()` is their one JSON shape."""

    name: str
    default_region: str
    countries: tuple[str, ...]  # sorted
    replies: accounts.ReplyTexts

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "default_region": self.default_region,
            "countries": list(self.countries),
            "replies": asdict(self.replies),
        }


async def read_settings(app: App, caller: Caller) -> CompanySettings:
    """The caller's company settings, with the default replies for those it did not set."""
    # A transaction, not a snapshot: the countries are read under a share lock, which
    # PostgreSQL refuses in a read-only transaction.
    async with app.transaction() as conn:
        who = await acting(app, conn, caller)
        return await _settings(conn, who.company)


async def change_settings(
    app: App,
    caller: Caller,
    *,
    countries: Collection[str] | None = None,
    replies: Mapping[accounts.Reply, str] | None = None,
) -> CompanySettings:
    """Let the company contact numbers of `countries` only (region codes, any case;
    InvalidCountries) and answer inbound texts with `replies` (InvalidReply); None or
    empty leaves a setting as it is. Returns the settings as they now stand: the gate
    applies them from its next batch, replies from the next inbound text."""
    async with app.transaction() as conn:
        who = await acting(app, conn, caller, Permission.CHANGE)
        if countries is not None:
            chosen = accounts.parse_countries(",".join(countries))
            await accounts.set_countries(conn, who.company, chosen)
        await accounts.set_replies(conn, who.company, dict(replies or {}))
        return await _settings(conn, who.company)


async def _settings(conn: AsyncConnection, company: Company) -> CompanySettings:
    countries = await accounts.company_countries(conn, company)
    replies = await accounts.reply_texts(conn, company)
    return CompanySettings(company.name, company.default_region, tuple(sorted(countries)), replies)
