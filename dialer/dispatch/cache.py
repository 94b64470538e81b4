"""What the dispatcher keeps in memory between ticks: the campaigns and status books it
has read, and the attempts it placed that have not ended yet."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns import Campaign, StatusBook
from campaigns import repository as campaign_store
from compliance import Company, accounts


@dataclass(slots=True)
class CampaignCache:
    """Campaigns by id (a definition never changes) and each company's status book, which
    a tick refreshes (a manager may load a new one while campaigns run)."""

    _campaigns: dict[int, tuple[Company, Campaign]] = field(default_factory=dict)
    _books: dict[int, StatusBook] = field(default_factory=dict)

    def remember(self, company: Company, campaign: Campaign) -> None:
        self._campaigns[campaign.id] = (company, campaign)

    def known(self, campaign_id: int) -> Campaign | None:
        """The campaign if it was read already: no database needed."""
        remembered = self._campaigns.get(campaign_id)
        return remembered[1] if remembered else None

    def remembered(self, campaign_id: int) -> tuple[Company, Campaign] | None:
        """The campaign and its company if read already: no database needed."""
        return self._campaigns.get(campaign_id)

    async def campaign(
        self, conn: AsyncConnection, company_id: int, campaign_id: int
    ) -> tuple[Company, Campaign]:
        if campaign_id not in self._campaigns:
            self._campaigns[campaign_id] = (
                await accounts.get_company(conn, company_id),
                await campaign_store.find_campaign_by_id(conn, campaign_id),
            )
        return self._campaigns[campaign_id]

    async def refresh_book(self, conn: AsyncConnection, company: Company) -> StatusBook:
        self._books[company.id] = await campaign_store.status_book(conn, company)
        return self._books[company.id]

    async def book(self, conn: AsyncConnection, company: Company) -> StatusBook:
        if company.id not in self._books:
            return await self.refresh_book(conn, company)
        return self._books[company.id]


@dataclass(slots=True)
class OpenAttempts:
    """The attempts this process placed and has not seen end, to wait for them."""

    ids: set[int] = field(default_factory=set)
    placing: set[int] = field(default_factory=set)  # their create request is under way
    # What the carrier answered: attempt id -> (campaign id, sid), so that a call's answer
    # request is served without a database round trip.
    calls: dict[int, tuple[int, str]] = field(default_factory=dict)
    _idle: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._idle.set()

    def opened(self, ids: Iterable[int]) -> None:
        self.ids.update(ids)
        if self.ids:
            self._idle.clear()

    def ended(self, ids: Iterable[int]) -> None:
        for attempt_id in ids:
            self.ids.discard(attempt_id)
            self.calls.pop(attempt_id, None)
        if not self.ids:
            self._idle.set()

    async def wait_idle(self) -> None:
        await self._idle.wait()
