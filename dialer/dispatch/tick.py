"""One tick of one campaign, in one transaction: claim due leads, screen them, log the skips,
and commit the dial intents of those allowed.

The DNC guarantee: the gate reads the lists in the same transaction that commits the dial
intents, and the carrier is only asked after that commit. Every DNC change takes the same
screening lock (`compliance.registry.lock_for_screening`), so one that committed first is
seen, and one that comes later waits for the intents.

A number is in one attempt at a time, across the company's campaigns and nodes: a claimed
lead whose number has an attempt under way (this tick's own intents included), or repeats
one earlier in its batch, goes back to the queue for `NUMBER_BUSY_WAIT`. That is a wait, not
a refusal: it is not screened, logged as a skip, nor charged an attempt.

The rate is a limit on attempts placed, not on leads looked at: leads the gate refuses do
not spend the tick's budget, so a tick claims again until the budget is spent or the queue
has nothing due (bounded, so that a queue of refusals cannot hold the lock for long).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns import Campaign, attempts, queue, skiplog
from compliance import Company, Decision, RuleBook, registry, screen
from dialer.dispatch.observer import NO_OBSERVER, Observer

LEASE = timedelta(minutes=10)
# Leads looked at per tick, as a multiple of the attempts it may place.
LOOK_AHEAD = 20
# How long a lead whose number is in another attempt waits: about one call.
NUMBER_BUSY_WAIT = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Intent:
    """A committed dial intent: the attempt to place and the lead it is for."""

    attempt_id: int
    lead: queue.QueuedLead


async def room(conn: AsyncConnection, campaign: Campaign) -> int:
    """Attempts the campaign may start now: its rate, less what is already under way."""
    spec = campaign.spec
    states = await queue.counts(conn, campaign.id)
    under_way = states.get(queue.CLAIMED, 0) + states.get(queue.IN_FLIGHT, 0)
    return max(0, min(spec.max_concurrent - under_way, spec.attempts_per_second))


async def commit_intents(
    conn: AsyncConnection,
    company: Company,
    campaign: Campaign,
    budget: int,
    now: datetime,
    node: str,
    rules: RuleBook,
    observer: Observer = NO_OBSERVER,
) -> tuple[int, list[Intent], Counter[str]]:
    """Claim and screen until `budget` attempts are allowed; returns (leads claimed,
    intents, leads skipped by the code of their first reason)."""
    skipped: Counter[str] = Counter()
    if budget <= 0:
        return 0, [], skipped
    await registry.lock_for_screening(conn, company)
    looked, intents = 0, []
    while len(intents) < budget and looked < budget * LOOK_AHEAD:
        wanted = budget - len(intents)
        claimed = await queue.claim(conn, campaign.id, wanted, now, node, now + LEASE)
        looked += len(claimed)
        # Intents of earlier rounds are in this transaction: the gate counts them.
        intents += await _screen_round(
            conn, company, campaign, claimed, now, node, rules, observer, skipped
        )
        if len(claimed) < wanted:
            break
    return looked, intents, skipped


async def _screen_round(
    conn: AsyncConnection,
    company: Company,
    campaign: Campaign,
    claimed: list[queue.QueuedLead],
    now: datetime,
    node: str,
    rules: RuleBook,
    observer: Observer,
    skipped: Counter[str],
) -> list[Intent]:
    claimed = await _hold_back_busy_numbers(conn, company, campaign, claimed, now)
    if not claimed:
        return []
    started = time.perf_counter()
    decisions = await screen(
        conn, company, [campaign.attempt(lead) for lead in claimed], now, rules
    )
    observer.screening_seconds(company, campaign, time.perf_counter() - started)
    pairs = list(zip(claimed, decisions, strict=True))
    refused = [(lead, decision) for lead, decision in pairs if not decision.allowed]
    skipped.update(decision.reasons[0].code.value for _, decision in refused)
    await skiplog.log_skips(conn, company, campaign, refused, now, node)
    await queue.move_leads(conn, campaign.id, [_skip_move(lead, d) for lead, d in refused])
    allowed = [lead for lead, decision in pairs if decision.allowed]
    ids = await attempts.record_intents(
        conn,
        company,
        [(lead.lead_id, lead.phone) for lead in allowed],
        campaign.spec.channel,
        now,
        campaign_id=campaign.id,
        node=node,
    )
    await queue.mark_in_flight(conn, campaign.id, [lead.lead_id for lead in allowed], now + LEASE)
    return [Intent(attempt_id, lead) for attempt_id, lead in zip(ids, allowed, strict=True)]


async def _hold_back_busy_numbers(
    conn: AsyncConnection,
    company: Company,
    campaign: Campaign,
    claimed: list[queue.QueuedLead],
    now: datetime,
) -> list[queue.QueuedLead]:
    """The claimed leads whose number is free; the others wait in the queue."""
    busy = await attempts.busy_numbers(conn, company, [lead.phone for lead in claimed])
    free, waiting = [], []
    for lead in claimed:
        (waiting if lead.phone in busy else free).append(lead)
        busy.add(lead.phone)
    later = now + NUMBER_BUSY_WAIT
    await queue.move_leads(conn, campaign.id, [queue.Move(lead.lead_id, later) for lead in waiting])
    return free


def _skip_move(lead: queue.QueuedLead, decision: Decision) -> queue.Move:
    """A refused lead waits until it may be tried, or is done for good."""
    later = None if decision.permanent else decision.next_eligible_at
    return queue.Move(lead.lead_id, later, f"skipped:{decision.reasons[0].code.value}")
