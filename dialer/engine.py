"""The dispatch loop: claim due leads, screen them, log skips, commit dial intents, place
attempts with the carrier, and turn carrier callbacks into call statuses and next steps.

The DNC guarantee: the gate reads the lists in the same transaction that commits the dial
intents, and the carrier is only asked after that commit. A DNC add that committed first is
therefore seen. SQLite serializes the two (every transaction takes the write lock up
front); on PostgreSQL they meet on a per-company advisory lock (see
`compliance.registry.lock_for_screening`).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import structlog
from sqlalchemy import bindparam, case, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns import Campaign, CampaignAction, CampaignState, StatusBook, outcomes, queue
from campaigns import repository as campaign_store
from campaigns.definitions import render_sms
from campaigns.tables import call_events, skips
from compliance import (
    Attempt,
    Channel,
    Company,
    Decision,
    RuleBook,
    accounts,
    load_rules,
    registry,
    screen,
)
from compliance.attempts import ABANDONED, record_intents
from compliance.tables import attempts, in_batch
from dialer.app import App
from dialer.carriers import BadCallback, Carrier, CarrierError, CarrierEvent

log = structlog.get_logger("dialer.engine")

LEASE = timedelta(minutes=10)
SETTLE_TIMEOUT = 30.0  # seconds of real time to wait for in-flight attempts to end
# Group commit: how long the first callback of a batch waits for others to join it. A
# transaction costs far more than a row, and carriers wait seconds for a webhook's answer.
CALLBACK_LINGER = 0.01
FLUSH_TRIES = 3


class Clock(Protocol):
    def now(self) -> datetime: ...


class WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(slots=True)
class SimClock:
    """Simulated time: it stands still while work is done and jumps over waits."""

    current: datetime

    def now(self) -> datetime:
        return self.current

    def advance_to(self, moment: datetime) -> None:
        self.current = max(self.current, moment)


def node_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(slots=True)
class Engine:
    app: App
    carrier: Carrier
    callback_base: str
    clock: Clock = field(default_factory=WallClock)
    rules: RuleBook = field(default_factory=load_rules)
    node: str = field(default_factory=node_name)
    busy: asyncio.Lock = field(default_factory=asyncio.Lock)  # held while a round runs
    settle_timeout: float = SETTLE_TIMEOUT
    _books: dict[int, StatusBook] = field(default_factory=dict)
    _recovered: set[int] = field(default_factory=set)
    _campaigns: dict[int, tuple[Company, Campaign]] = field(default_factory=dict)
    _open: set[int] = field(default_factory=set)  # attempts placed and not yet ended
    _idle: asyncio.Event = field(default_factory=asyncio.Event)
    _inbox: list[_Callback] = field(default_factory=list)  # callbacks awaiting their commit
    _flusher: asyncio.Task[None] | None = None

    # --- one tick of one campaign ---------------------------------------------------------

    async def tick(self, company: Company, campaign: Campaign) -> int:
        """Claim, screen and place one second's worth of attempts; returns leads claimed."""
        spec, now = campaign.spec, self.clock.now()
        async with self.app.transaction() as conn:
            self._books[company.id] = await campaign_store.status_book(conn, company)
            self._campaigns[campaign.id] = (company, campaign)
            states = await queue.counts(conn, campaign.id)
            room = spec.max_concurrent - states.get(queue.CLAIMED, 0)
            room -= states.get(queue.IN_FLIGHT, 0)
            await registry.lock_for_screening(conn, company)
            claimed = await queue.claim(
                conn, campaign.id, min(room, spec.attempts_per_second), now, self.node, now + LEASE
            )
            if not claimed:
                return 0
            limits = campaign.limits
            batch = [
                Attempt(
                    address=lead.phone,
                    channel=spec.channel,
                    lead_id=lead.lead_id,
                    lead_timezone=lead.timezone or None,
                    lead_state=lead.state or None,
                    campaign=limits,
                )
                for lead in claimed
            ]
            decisions = await screen(conn, company, batch, now, self.rules)
            pairs = list(zip(claimed, decisions, strict=True))
            await self._log_skips(conn, company, campaign, pairs, now)
            allowed = [lead for lead, decision in pairs if decision.allowed]
            intents = await self._commit_intents(conn, company, campaign, allowed, now)
        await self._dispatch(company, campaign, intents)
        return len(claimed)

    async def _log_skips(
        self,
        conn: AsyncConnection,
        company: Company,
        campaign: Campaign,
        pairs: Sequence[tuple[queue.QueuedLead, Decision]],
        now: datetime,
    ) -> None:
        """One skip-log row and one log event per refused attempt; requeue or finish each."""
        refused = [(lead, decision) for lead, decision in pairs if not decision.allowed]
        if not refused:
            return
        await conn.execute(
            insert(skips),
            [
                _skip_row(company, campaign, lead, decision, now, self.node)
                for lead, decision in refused
            ],
        )
        moves = []
        for lead, decision in refused:
            first = decision.reasons[0]
            log.info(
                "attempt.skipped",
                company=company.name,
                campaign=campaign.name,
                lead_id=lead.lead_id,
                number=decision.number or lead.phone,
                channel=campaign.spec.channel.value,
                reason=first.code.value,
                reasons=[r.code.value for r in decision.reasons],
                rule=first.rule,
                permanent=decision.permanent,
            )
            later = None if decision.permanent else decision.next_eligible_at
            moves.append(queue.Move(lead.lead_id, later, f"skipped:{first.code.value}"))
        await queue.move_leads(conn, campaign.id, moves)

    async def _commit_intents(
        self,
        conn: AsyncConnection,
        company: Company,
        campaign: Campaign,
        allowed: Sequence[queue.QueuedLead],
        now: datetime,
    ) -> list[tuple[int, queue.QueuedLead]]:
        if not allowed:
            return []
        ids = await record_intents(
            conn,
            company,
            [(lead.lead_id, lead.phone) for lead in allowed],
            campaign.spec.channel,
            now,
            campaign_id=campaign.id,
            node=self.node,
        )
        self._open.update(ids)
        self._idle.clear()
        await queue.mark_in_flight(
            conn, campaign.id, [lead.lead_id for lead in allowed], now + LEASE
        )
        return list(zip(ids, allowed, strict=True))

    # --- placing attempts -----------------------------------------------------------------

    async def _dispatch(
        self,
        company: Company,
        campaign: Campaign,
        intents: Sequence[tuple[int, queue.QueuedLead]],
    ) -> None:
        results = await asyncio.gather(
            *(self._place(campaign, attempt_id, lead) for attempt_id, lead in intents)
        )
        sids = [(attempt_id, sid) for (attempt_id, _), sid in zip(intents, results, strict=True)]
        placed = sorted((attempt_id, sid) for attempt_id, sid in sids if sid)  # lock order
        failed = [attempt_id for attempt_id, sid in sids if not sid]
        async with self.app.transaction() as conn:
            if placed:
                await conn.execute(
                    update(attempts)
                    .where(attempts.c.id == bindparam("attempt"))
                    .values(
                        carrier_sid=bindparam("sid"),
                        # A callback may have ended the attempt already: never regress it.
                        state=case(
                            (attempts.c.state == "intent", "placed"), else_=attempts.c.state
                        ),
                    ),
                    [{"attempt": attempt_id, "sid": sid} for attempt_id, sid in placed],
                )
            await outcomes.end_attempts(
                conn,
                company,
                campaign,
                self._books[company.id],
                [outcomes.Ending(attempt_id, "failed") for attempt_id in failed],
                self.clock.now(),
            )
        for attempt_id in failed:
            self._ended(attempt_id)

    async def _place(
        self, campaign: Campaign, attempt_id: int, lead: queue.QueuedLead
    ) -> str | None:
        spec = campaign.spec
        callback = f"{self.callback_base}/webhooks/status?attempt={attempt_id}"
        try:
            if spec.channel is Channel.SMS:
                body = render_sms(spec.sms_body or "", lead.fields())
                return await self.carrier.send_sms(lead.phone, spec.caller_id, body, callback)
            answer = f"{self.callback_base}/webhooks/answer?attempt={attempt_id}"
            return await self.carrier.place_call(lead.phone, spec.caller_id, callback, answer)
        except CarrierError as error:
            log.warning(
                "attempt.carrier_error",
                attempt_id=attempt_id,
                error=str(error),
                retryable=error.retryable,
            )
            return None

    # --- callbacks ------------------------------------------------------------------------

    async def on_callback(self, attempt_id: int, params: dict[str, str]) -> None:
        """Store a carrier callback once; a final one ends the attempt and fires its rules.

        Returns once the callback is committed. Callbacks arriving together are committed
        together (a group commit): one transaction per batch, not one per callback.
        """
        event = self.carrier.parse_callback(params)
        stored = asyncio.get_running_loop().create_future()
        self._inbox.append(_Callback(attempt_id, event, params, stored))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_callbacks())
        await stored
        if event.final:
            self._ended(attempt_id)

    async def _flush_callbacks(self) -> None:
        while self._inbox:
            await asyncio.sleep(CALLBACK_LINGER)  # let callbacks arriving together gather
            batch, self._inbox = self._inbox, []
            try:
                refused = await self._apply_callbacks_retrying(batch)
            except Exception as error:  # answered with an error; `settle` asks the carrier later
                log.exception("callbacks.failed", callbacks=len(batch))
                refused = dict.fromkeys((c.attempt_id for c in batch), error)
            for callback in batch:
                if callback.stored.done():  # its request was cancelled
                    continue
                if error := refused.get(callback.attempt_id):
                    callback.stored.set_exception(error)
                else:
                    callback.stored.set_result(None)

    async def _campaign_of(
        self, conn: AsyncConnection, company_id: int, campaign_id: int
    ) -> tuple[Company, Campaign]:
        """The company and campaign of an attempt: remembered from the tick that placed it
        (a definition never changes), read once after a restart."""
        if campaign_id not in self._campaigns:
            self._campaigns[campaign_id] = (
                await accounts.get_company(conn, company_id),
                await campaign_store.find_campaign_by_id(conn, campaign_id),
            )
        return self._campaigns[campaign_id]

    def _ended(self, attempt_id: int) -> None:
        self._open.discard(attempt_id)
        if not self._open:
            self._idle.set()

    async def _apply_callbacks_retrying(self, batch: Sequence[_Callback]) -> dict[int, Exception]:
        """`_apply_callbacks`, tried again when the database refuses the transaction (a
        deadlock, a dropped connection): it rolled back whole, so trying again is safe."""
        for _ in range(FLUSH_TRIES - 1):
            try:
                return await self._apply_callbacks(batch)
            except DBAPIError as error:
                log.warning("callbacks.retrying", callbacks=len(batch), error=str(error.orig))
        return await self._apply_callbacks(batch)

    async def _apply_callbacks(self, batch: Sequence[_Callback]) -> dict[int, Exception]:
        """Store a batch of callbacks and end the attempts their final statuses report, in
        one transaction; returns the refusal of each callback naming an unknown attempt."""
        now = self.clock.now()
        async with self.app.transaction() as conn:
            rows = await conn.execute(
                select(
                    attempts.c.id, attempts.c.company_id, attempts.c.campaign_id, attempts.c.state
                ).where(
                    in_batch(
                        attempts.c.id, sorted({c.attempt_id for c in batch}), conn.dialect.name
                    )
                )
            )
            known = {row.id: row for row in rows}
            refused: dict[int, Exception] = {
                c.attempt_id: BadCallback(f"no attempt {c.attempt_id}")
                for c in batch
                if c.attempt_id not in known
            }
            fresh = await _store_events(conn, [c for c in batch if c.attempt_id in known], now)
            endings: dict[int, list[outcomes.Ending]] = {}
            for c in fresh:
                if c.event.final and known[c.attempt_id].state != "ended":
                    ending = outcomes.Ending(
                        c.attempt_id, c.event.result or "failed", c.event.digits, c.event.status
                    )
                    endings.setdefault(known[c.attempt_id].campaign_id, []).append(ending)
            for campaign_id, ended in endings.items():
                company_id = known[ended[0].attempt_id].company_id
                company, campaign = await self._campaign_of(conn, company_id, campaign_id)
                book = self._books.get(company.id) or await campaign_store.status_book(
                    conn, company
                )
                await outcomes.end_attempts(conn, company, campaign, book, ended, now)
        return refused

    # --- after a crash ----------------------------------------------------------------------

    async def recover(self, company: Company, campaign: Campaign) -> int:
        """Take back the campaign's in-flight leads whose holder is gone; returns how many.

        An attempt the carrier never acknowledged (no carrier reference) was not placed as
        far as anyone can tell: the lead is re-queued and the attempt marked abandoned. One
        with a reference is reconciled from the carrier's own status.
        """
        now = self.clock.now()
        async with self.app.transaction() as conn:
            held = await queue.in_flight(conn, campaign.id)
            stale = [lead for lead in held if lease_lapsed(lead.lease_node, lead.lease_until, now)]
            pending = await _open_attempts(conn, campaign.id, [lead.lead_id for lead in stale])
        for lead in stale:
            attempt = pending.get(lead.lead_id)
            if attempt is None or attempt.carrier_sid is None:
                await self._abandon(campaign, lead.lead_id, attempt.id if attempt else None, now)
            else:
                await self._reconcile(company, campaign, attempt.id, attempt.carrier_sid)
        if stale:
            log.warning("engine.recovered", campaign=campaign.name, leads=len(stale))
        return len(stale)

    async def _abandon(
        self, campaign: Campaign, lead_id: int, attempt_id: int | None, now: datetime
    ) -> None:
        async with self.app.transaction() as conn:
            if attempt_id is not None:
                await conn.execute(
                    update(attempts)
                    .where(attempts.c.id == attempt_id)
                    .values(state="ended", status=ABANDONED, ended_at=now)
                )
            await queue.give_back(conn, campaign.id, lead_id, now)

    async def _reconcile(
        self, company: Company, campaign: Campaign, attempt_id: int, sid: str
    ) -> bool:
        """End an attempt as the carrier's own status says; False while it is not over."""
        kind = "sms" if campaign.spec.channel is Channel.SMS else "call"
        try:
            event = await self.carrier.fetch_status(sid, kind)
        except CarrierError as error:
            if error.retryable:
                log.warning("engine.reconcile_later", attempt_id=attempt_id, error=str(error))
                return False
            # The carrier denies knowing the attempt: it cannot have connected.
            log.warning("engine.reconcile_unknown", attempt_id=attempt_id, error=str(error))
            event = CarrierEvent.of(sid, kind, "failed")
        if not event.final:
            return False  # still ringing: its callback will end it
        ending = outcomes.Ending(attempt_id, event.result or "failed", event.digits, event.status)
        async with self.app.transaction() as conn:
            book = await campaign_store.status_book(conn, company)
            await outcomes.end_attempts(conn, company, campaign, book, [ending], self.clock.now())
        return True

    async def _reconcile_open(self) -> None:
        """Ask the carrier about the attempts still open here: their final callback is late,
        lost, or could not be stored."""
        async with self.app.transaction() as conn:
            rows = (
                await conn.execute(
                    select(
                        attempts.c.id,
                        attempts.c.company_id,
                        attempts.c.campaign_id,
                        attempts.c.carrier_sid,
                        attempts.c.state,
                    ).where(attempts.c.id.in_(sorted(self._open)))
                )
            ).all()
            owners = {
                row.id: await self._campaign_of(conn, row.company_id, row.campaign_id)
                for row in rows
            }
        for row in rows:
            if row.state == "ended" or (
                row.carrier_sid and await self._reconcile(*owners[row.id], row.id, row.carrier_sid)
            ):
                self._ended(row.id)

    # --- running a campaign to the end ----------------------------------------------------

    async def settle(self) -> None:
        """Wait until every attempt this engine placed has ended (its callbacks applied)."""
        if not self._open:
            return
        try:
            await asyncio.wait_for(self._idle.wait(), self.settle_timeout)
        except TimeoutError:
            log.warning("engine.settle_timeout", open_attempts=len(self._open))
            await self._reconcile_open()

    async def tick_all(self) -> None:
        """One round over every running campaign: what the scheduler calls each tick."""
        async with self.busy:
            async with self.app.transaction() as conn:
                running = await campaign_store.running_campaigns(conn)
            for company, campaign in running:
                if campaign.id not in self._recovered:
                    await self.recover(company, campaign)
                    self._recovered.add(campaign.id)
                await self.tick(company, campaign)
                await self._complete_if_done(company, campaign)

    async def _complete_if_done(self, company: Company, campaign: Campaign) -> bool:
        async with self.app.transaction() as conn:
            states = await queue.counts(conn, campaign.id)
            if any(states.get(s) for s in (queue.QUEUED, queue.CLAIMED, queue.IN_FLIGHT)):
                return False
            await campaign_store.change_state(
                conn, company, campaign.name, CampaignAction.COMPLETE, self.clock.now()
            )
        return True

    async def run_until_done(self, company: Company, name: str) -> Campaign:
        """Start the campaign if needed and dial until no lead can be attempted any more."""
        async with self.app.transaction() as conn:
            campaign = await campaign_store.find_campaign(conn, company, name)
            if campaign.state is CampaignState.DRAFT:
                campaign = await campaign_store.change_state(
                    conn, company, name, CampaignAction.START, self.clock.now()
                )
        await self.recover(company, campaign)
        while campaign.state is CampaignState.RUNNING:
            claimed = await self.tick(company, campaign)
            await self.settle()
            if await self._complete_if_done(company, campaign):
                async with self.app.transaction() as conn:
                    return await campaign_store.find_campaign(conn, company, name)
            async with self.app.transaction() as conn:
                due = await queue.next_due(conn, campaign.id)
                campaign = await campaign_store.find_campaign(conn, company, name)
            await self._wait(claimed, due)
        return campaign

    async def _wait(self, claimed: int, due: datetime | None) -> None:
        now = self.clock.now()
        if isinstance(self.clock, SimClock):
            # A second of dialing has passed; with nothing due, jump to the next due lead.
            step = now + timedelta(seconds=1)
            self.clock.advance_to(step if claimed or due is None else max(step, due))
        elif not claimed:
            delay = 1.0 if due is None else (due - now).total_seconds()
            await asyncio.sleep(min(max(delay, 0.0), 1.0))
        else:
            await asyncio.sleep(1.0)


def lease_lapsed(node: str | None, until: datetime | None, now: datetime) -> bool:
    """A lease is over when it expired, or when its holder was a process of this machine
    that is no longer running (a crash or kill -9 need not wait for the expiry)."""
    if until is None or until <= now:
        return True
    host, _, pid = (node or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass(frozen=True, slots=True)
class _OpenAttempt:
    id: int
    carrier_sid: str | None


async def _open_attempts(
    conn: AsyncConnection, campaign_id: int, lead_ids: Sequence[int]
) -> dict[int, _OpenAttempt]:
    """The unfinished attempt of each lead, if any; one query."""
    if not lead_ids:
        return {}
    rows = await conn.execute(
        select(attempts.c.id, attempts.c.lead_id, attempts.c.carrier_sid).where(
            attempts.c.campaign_id == campaign_id,
            attempts.c.lead_id.in_(lead_ids),
            attempts.c.state != "ended",
        )
    )
    return {row.lead_id: _OpenAttempt(row.id, row.carrier_sid) for row in rows}


def _skip_row(
    company: Company,
    campaign: Campaign,
    lead: queue.QueuedLead,
    decision: Decision,
    now: datetime,
    node: str,
) -> dict[str, object]:
    first = decision.reasons[0]
    return {
        "company_id": company.id,
        "campaign_id": campaign.id,
        "lead_id": lead.lead_id,
        "number": decision.number or lead.phone,
        "channel": campaign.spec.channel.value,
        "reason": first.code.value,
        "reasons": json.dumps([r.code.value for r in decision.reasons]),
        "rule": first.rule,
        "detail": json.dumps([r.as_dict() for r in decision.reasons]),
        "permanent": decision.permanent,
        "next_eligible_at": decision.next_eligible_at,
        "decided_at": now,
        "node": node,
    }


@dataclass(slots=True)
class _Callback:
    attempt_id: int
    event: CarrierEvent
    params: dict[str, str]
    stored: asyncio.Future[None]


async def _store_events(
    conn: AsyncConnection, batch: Sequence[_Callback], now: datetime
) -> list[_Callback]:
    """Keep each callback once per (sid, status); returns those that were not repeats."""
    if not batch:
        return []
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    # Many parameter sets with RETURNING: SQLAlchemy sends them as multi-row INSERTs of a
    # size each database accepts, compiled once and cached.
    result = await conn.execute(
        dialect.insert(call_events)
        .on_conflict_do_nothing(index_elements=["carrier_sid", "status"])
        .returning(call_events.c.carrier_sid, call_events.c.status),
        [
            {
                "attempt_id": c.attempt_id,
                "carrier_sid": c.event.sid,
                "status": c.event.status,
                "params": json.dumps(c.params, sort_keys=True),
                "received_at": now,
            }
            # In attempt order: each row takes a key-share lock on its attempt, which the
            # placing of a batch (it sets carrier_sid, a unique key) must not take in reverse.
            for c in sorted(batch, key=lambda c: c.attempt_id)
        ],
    )
    new = {(sid, status) for sid, status in result}
    fresh = []
    for c in batch:  # a repeat inside the batch is a repeat too
        key = (c.event.sid, c.event.status)
        if key in new:
            new.discard(key)
            fresh.append(c)
    return fresh
