"""Settling attempts whose word is overdue, on every node and on a schedule: after a crash,
a lost callback, a database outage, or a create request whose answer never came.

- leads in flight whose holder is gone (its heartbeat stopped, or its lease expired) are
  taken over by this node;
- an attempt with a carrier reference is settled from the carrier's own status; only the
  carrier's word "no such call" (not a 401, not a proxy's 404) ends it without an outcome;
- an attempt without one (its answer was lost, or the process died before recording it) is
  looked up in the carrier's list of calls (or texts) to its number: found, it is bound to
  that call or text; not found once the carrier had time to list it, it was not placed and
  its lead goes back.

A keypress already recorded is kept: a status fetch carries no digits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns import Campaign, attempts, logkeys, outcomes, queue
from campaigns import repository as campaign_store
from compliance import Channel, Company
from compliance.attempts import AttemptPhase
from dialer.app import App
from dialer.carriers import Carrier, CarrierError, CarrierEvent, Kind, Placement
from dialer.clock import Clock
from dialer.dispatch.cache import CampaignCache, OpenAttempts
from dialer.dispatch.observer import NO_OBSERVER, Observer
from dialer.dispatch.tick import LEASE
from dialer.scheduling import nodes

log = structlog.get_logger("dialer.dispatch")

# An attempt without a reference is looked for in the carrier's list from a little before
# its intent (clocks differ); not listed this long after, it was not placed.
LIST_MARGIN = timedelta(minutes=1)
UNLISTED_AFTER = timedelta(seconds=60)
# A placed attempt with no final callback this long after is asked about.
OVERDUE = timedelta(minutes=2)


@dataclass(slots=True)
class Recovery:
    app: App
    carrier: Carrier
    clock: Clock
    cache: CampaignCache
    open: OpenAttempts
    observer: Observer = NO_OBSERVER
    # When the carrier last said each call is still up: a long conversation is asked about
    # again only every OVERDUE, not every round.
    _asked: dict[int, datetime] = field(default_factory=dict)

    async def run(self, node: str) -> int:
        """One round for node `node`: take over what gone nodes held, and settle what is
        overdue among its own open attempts; returns attempts settled."""
        now = self.clock.now()
        async with self.app.transaction() as conn:
            taken = await self._take_over(conn, node, now)
            mine = await attempts.open_attempts(conn, node=node)
        still_open = {a.id for a in mine}
        self._asked = {i: at for i, at in self._asked.items() if i in still_open}
        return await self.settle([a for a in mine if self._overdue(a, taken, now)])

    def _overdue(self, attempt: attempts.AttemptRow, taken: set[int], now: datetime) -> bool:
        """Whether to ask the carrier about an attempt of this node: one just taken over, one
        whose answer was lost, one left by a previous process, or one whose final callback
        is late. One being placed right now is left to its placing."""
        if attempt.id in taken:
            return True
        if attempt.id in self.open.placing:
            return False
        if attempt.phase is not AttemptPhase.PLACED:
            return True
        return self._asked.get(attempt.id, attempt.placed_at) <= now - OVERDUE

    async def settle(self, open_attempts: Sequence[attempts.AttemptRow]) -> int:
        """Ask the carrier about each attempt; returns how many it settled."""
        settled = 0
        for attempt in open_attempts:
            company, campaign = await self._campaign_of(attempt)
            with logkeys.about_attempt(company.name, campaign.name, attempt.id, attempt.lead_id):
                if attempt.carrier_sid is None:
                    settled += await self._find_sent(attempt)
                else:
                    settled += await self._ask_status(attempt, attempt.carrier_sid)
        return settled

    async def _campaign_of(self, attempt: attempts.AttemptRow) -> tuple[Company, Campaign]:
        remembered = self.cache.remembered(attempt.campaign_id)
        if remembered is not None:
            return remembered
        async with self.app.transaction() as conn:
            return await self.cache.campaign(conn, attempt.company_id, attempt.campaign_id)

    async def _take_over(self, conn: AsyncConnection, node: str, now: datetime) -> set[int]:
        """Lease to `node` the in-flight leads whose holder is gone; returns the ids of their
        open attempts."""
        taken: set[int] = set()
        for company, campaign in await campaign_store.campaigns_in_flight(conn):
            held = [h for h in await queue.in_flight(conn, campaign.id) if h.lease_node != node]
            gone = [h.lead_id for h in await nodes.lapsed_leases(conn, held, now)]
            if not gone:
                continue
            self.cache.remember(company, campaign)
            await queue.extend_leases(conn, campaign.id, gone, node, now + LEASE)
            pending = await attempts.open_attempts(conn, campaign_id=campaign.id, lead_ids=gone)
            orphans = set(gone) - {a.lead_id for a in pending}
            await queue.give_back(conn, campaign.id, sorted(orphans), now)
            await attempts.take_over(conn, [a.id for a in pending], node)
            taken.update(a.id for a in pending)
            log.warning(
                "recovery.took_over",
                company=company.name,
                campaign=campaign.name,
                leads=len(gone),
                node=node,
            )
        return taken

    async def _ask_status(self, attempt: attempts.AttemptRow, sid: str) -> int:
        kind = await self._kind(attempt)
        try:
            event = await self.carrier.fetch_status(sid, kind)
        except CarrierError as error:
            if error.placement is not Placement.NOT_FOUND:
                log.warning("recovery.ask_later", attempt_id=attempt.id, error=str(error))
                return 0
            log.warning("recovery.unknown_to_carrier", attempt_id=attempt.id, error=str(error))
            event = CarrierEvent.of(sid, kind, "failed")
        if not event.final:
            self._asked[attempt.id] = self.clock.now()  # still up: ask again later
            return 0
        return await self._end(attempt, event)

    async def _find_sent(self, attempt: attempts.AttemptRow) -> int:
        """An attempt without a reference: bind it to its call or text in the carrier's list,
        or give its lead back once the list has had time to show it."""
        now = self.clock.now()
        try:
            found = await self.carrier.list_sent(
                await self._kind(attempt), attempt.number, attempt.placed_at - LIST_MARGIN
            )
        except CarrierError as error:
            log.warning("recovery.ask_later", attempt_id=attempt.id, error=str(error))
            return 0
        async with self.app.transaction() as conn:
            bound = await attempts.bound_sids(conn, [event.sid for event in found])
            free = [event for event in found if event.sid not in bound]
            if free:
                sid = free[0].sid
                await attempts.bind_sid(conn, attempt.id, sid)
                log.warning("recovery.bound", attempt_id=attempt.id, sid=sid)
            elif attempt.placed_at <= now - UNLISTED_AFTER and attempt.campaign_id is not None:
                await self._not_placed(conn, attempt, now)
                return 1
        if free and free[0].final:
            return await self._end(attempt, free[0])
        return 0

    async def _not_placed(
        self, conn: AsyncConnection, attempt: attempts.AttemptRow, now: datetime
    ) -> None:
        if await outcomes.not_placed(
            conn, attempt.campaign_id, {attempt.id: attempt.lead_id}, now, now
        ):
            self.open.ended([attempt.id])
            log.warning("recovery.not_placed", attempt_id=attempt.id)

    async def _end(self, attempt: attempts.AttemptRow, event: CarrierEvent) -> int:
        """End the attempt as the carrier's final status says (a text that failed because its
        recipient opted out at the carrier as one refused on create: `outcomes.opted_out`)."""
        now = self.clock.now()
        async with self.app.transaction() as conn:
            company, campaign = await self.cache.campaign(
                conn, attempt.company_id, attempt.campaign_id
            )
            book = await self.cache.book(conn, company)
            if event.opted_out:
                refusal = outcomes.OptedOut(attempt.id, attempt.number, event.error_code)
                ended = await outcomes.opted_out(conn, company, campaign, book, [refusal], now)
            else:
                ending = outcomes.Ending(attempt.id, event.result or "failed", None, event.status)
                ended = await outcomes.end_attempts(conn, company, campaign, book, [ending], now)
        self.open.ended([attempt.id])
        if ended:
            self.observer.attempts_ended(company, campaign, ended.values())
            if event.opted_out:
                self.observer.opted_out(company, Channel.SMS, len(ended))
        if ended.listed:
            self.observer.listed(company, ended.listed)
        return len(ended)

    async def _kind(self, attempt: attempts.AttemptRow) -> Kind:
        """Whether the attempt is a call or a text, as its campaign's channel says."""
        async with self.app.transaction() as conn:
            _, campaign = await self.cache.campaign(conn, attempt.company_id, attempt.campaign_id)
        return "sms" if campaign.spec.channel is Channel.SMS else "call"
