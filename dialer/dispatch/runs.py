"""A campaign run to its end, for `dialer campaign run`, the demo and the benchmark: tick,
wait for the attempts to end, and stop once no lead can be attempted any more."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from campaigns import Campaign, CampaignAction, CampaignState, queue
from campaigns import repository as campaign_store
from compliance import Company
from dialer.clock import SimClock

if TYPE_CHECKING:
    from dialer.dispatch import Dispatcher


async def run_until_done(
    dispatcher: Dispatcher, company: Company, name: str, deadline: datetime | None = None
) -> Campaign:
    """Start the campaign if needed and dial until no lead can be attempted any more, or
    until the clock reaches `deadline` (a forecast's horizon)."""
    app, clock = dispatcher.app, dispatcher.clock
    async with app.transaction() as conn:
        campaign = await campaign_store.find_campaign(conn, company, name)
        if campaign.state is CampaignState.DRAFT:
            campaign = await campaign_store.change_state(
                conn, company, name, CampaignAction.START, clock.now()
            )
    await dispatcher.recover()
    while campaign.state is CampaignState.RUNNING:
        claimed = await dispatcher.tick(company, campaign)
        await dispatcher.settle()
        if await complete_if_done(dispatcher, company, campaign):
            async with app.transaction() as conn:
                return await campaign_store.find_campaign(conn, company, name)
        async with app.transaction() as conn:
            due = await queue.next_due(conn, campaign.id)
            campaign = await campaign_store.find_campaign(conn, company, name)
        await _wait(dispatcher, claimed, due)
        if deadline is not None and clock.now() >= deadline:
            break
        if not claimed:  # nothing to dial: settle what is overdue
            await dispatcher.recover()
    return campaign


async def complete_if_done(dispatcher: Dispatcher, company: Company, campaign: Campaign) -> bool:
    """Complete the campaign once none of its leads is queued or under way."""
    async with dispatcher.app.transaction() as conn:
        return await campaign_store.complete_if_done(
            conn, company, campaign, dispatcher.clock.now()
        )


async def _wait(dispatcher: Dispatcher, claimed: int, due: datetime | None) -> None:
    clock = dispatcher.clock
    now = clock.now()
    if isinstance(clock, SimClock):
        # A second of dialing has passed; with nothing due, jump to the next due lead.
        step = now + timedelta(seconds=1)
        clock.advance_to(step if claimed or due is None else max(step, due))
    elif not claimed:
        delay = 1.0 if due is None else (due - now).total_seconds()
        await clock.sleep(min(max(delay, 0.0), 1.0))
    else:
        await clock.sleep(1.0)
