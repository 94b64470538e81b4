"""The dispatch loop, split along the lead's path: `tick` (claim, screen, skip log, dial
intents), `placing` (the carrier's answer), `callbacks` (what the carrier reports after),
`recovery` (attempts whose word is overdue) and `runs` (a campaign run to its end).

`Dispatcher` composes them; it writes no SQL of its own.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar
from xml.sax.saxutils import escape

import structlog

from campaigns import Campaign, attempts, inbound, logkeys
from campaigns import repository as campaign_store
from campaigns.keywords import KeywordAction, load_keyword_actions
from compliance import Channel, Company, MessageClass, RuleBook, Source, load_rules
from compliance.keywords import OPT_OUTS
from dialer.app import App, patiently
from dialer.carriers import BadCallback, Carrier
from dialer.clock import Clock, WallClock
from dialer.dispatch import runs
from dialer.dispatch.cache import CampaignCache, OpenAttempts
from dialer.dispatch.callbacks import CallbackInbox
from dialer.dispatch.observer import NO_OBSERVER, Observer
from dialer.dispatch.placing import Placer
from dialer.dispatch.recovery import Recovery
from dialer.dispatch.tick import Intent, commit_intents, room
from dialer.scheduling import leases, nodes

__all__ = ["Dispatcher"]

log = structlog.get_logger("dialer.dispatch")
SETTLE_TIMEOUT = 30.0  # seconds of real time to wait for attempts under way to end
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
T = TypeVar("T")


def _as_its_node(method: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """An entry point whose events, and those of the tasks it starts, carry the node id
    the dispatcher has when it is called (`logkeys`)."""

    @functools.wraps(method)
    async def bound(self: Dispatcher, *args: Any, **kwargs: Any) -> T:
        with logkeys.as_node(self.node):
            return await method(self, *args, **kwargs)

    return bound


@dataclass(slots=True)
class Dispatcher:
    app: App
    carrier: Carrier
    clock: Clock = field(default_factory=WallClock)
    rules: RuleBook = field(default_factory=load_rules)
    keyword_actions: Mapping[MessageClass, KeywordAction] = field(
        default_factory=load_keyword_actions
    )
    node: str = field(default_factory=nodes.new_node_id)
    cache: CampaignCache = field(default_factory=CampaignCache)
    open: OpenAttempts = field(default_factory=OpenAttempts)
    observer: Observer = NO_OBSERVER
    placer: Placer = field(init=False)
    inbox: CallbackInbox = field(init=False)
    recovery: Recovery = field(init=False)
    settle_timeout: float = SETTLE_TIMEOUT
    interval: timedelta = timedelta(seconds=1)  # between two ticks of a campaign
    _placing: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        parts = (self.clock, self.cache, self.open, self.observer)
        self.placer = Placer(self.app, self.carrier, *parts)
        self.inbox = CallbackInbox(self.app, *parts)
        self.recovery = Recovery(self.app, self.carrier, *parts)

    def become(self, node: str) -> None:
        """Go on under a new node id: the old one was declared dead (its heartbeat came too
        late), and survivors may be taking back what it held."""
        self.node = node

    @property
    def callback_base(self) -> str:
        return self.placer.callback_base

    @callback_base.setter
    def callback_base(self, url: str) -> None:
        """The public base URL of our webhooks, which the carrier calls back."""
        self.placer.callback_base = url
        self.inbox.callback_base = url

    @_as_its_node
    async def tick(self, company: Company, campaign: Campaign) -> int:
        """Claim, screen and place one second's worth of attempts; returns leads claimed.
        The requests have all gone out and been answered when it returns."""
        claimed, intents = await self._commit(company, campaign)
        await self._place(company, campaign, intents)
        return claimed

    @_as_its_node
    async def tick_all(self) -> None:
        """One round over every running campaign: what the scheduler calls each tick.

        One node ticks a campaign per interval (a lease in the database), so its rate and
        concurrency hold in total across nodes. Each campaign's requests go out in a task
        of their own: a slow carrier answer holds up no other campaign."""
        async with self.app.transaction() as conn:
            running = await campaign_store.running_campaigns(conn)
        for company, campaign in running:
            _, intents = await self._commit(company, campaign, lease=True)
            if intents:
                start = self.clock.now()
                async with self.app.transaction() as conn:
                    await leases.hold_tick(conn, campaign.id, self.node, start + self.interval)
                task = asyncio.create_task(self._place(company, campaign, intents, start))
                self._placing.add(task)
                task.add_done_callback(self._placing.discard)
            await runs.complete_if_done(self, company, campaign)

    async def drain(self) -> None:
        """Wait for the requests under way: a clean stop lets them finish and be recorded."""
        while self._placing:
            await asyncio.gather(*self._placing, return_exceptions=True)

    @_as_its_node
    async def recover(self) -> int:
        """Settle what is overdue and take back what a gone node held; returns how many."""
        return await self.recovery.run(self.node)

    @_as_its_node
    async def settle(self) -> None:
        """Wait until every attempt this dispatcher placed has ended; past the timeout, ask
        the carrier about those still open."""
        if not self.open.ids:
            return
        try:
            await asyncio.wait_for(self.open.wait_idle(), self.settle_timeout)
        except TimeoutError:
            log.warning("dispatch.settle_timeout", open_attempts=len(self.open.ids))
            async with self.app.transaction() as conn:
                pending = await attempts.open_attempts(conn, ids=sorted(self.open.ids))
            await self.recovery.settle(pending)

    @_as_its_node
    async def run_until_done(
        self, company: Company, name: str, deadline: datetime | None = None
    ) -> Campaign:
        """Start the campaign if needed and dial until no lead can be attempted any more, or
        until the clock reaches `deadline`."""
        return await runs.run_until_done(self, company, name, deadline)

    @_as_its_node
    async def on_callback(self, attempt_id: int, params: Mapping[str, str]) -> None:
        """A verified status callback; returns once it is committed."""
        event = self.carrier.parse_callback(params)
        await self.inbox.status(attempt_id, event, params)

    @_as_its_node
    async def on_answer(self, attempt_id: int, params: Mapping[str, str]) -> str:
        """A verified answer request: the call's TwiML."""
        return await self.inbox.answer(attempt_id, _call_sid(params))

    @_as_its_node
    async def on_keypress(self, attempt_id: int, params: Mapping[str, str]) -> str:
        """A verified Gather request: the keys pressed, committed; the TwiML that follows."""
        return await self.inbox.keypress(attempt_id, _call_sid(params), params)

    @_as_its_node
    async def on_inbound(self, text: inbound.InboundText) -> str:
        """A verified incoming text: stored and acted on; the TwiML that answers it."""
        received = await patiently(
            self.app,
            lambda conn: inbound.receive(conn, text, self.clock.now(), self.keyword_actions),
        )
        self._observe_inbound(received)
        if received.reply is None:
            return EMPTY_TWIML
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f"<Response><Message>{escape(received.reply)}</Message></Response>"
        )

    async def _commit(
        self, company: Company, campaign: Campaign, *, lease: bool = False
    ) -> tuple[int, list[Intent]]:
        """Claim, screen and commit the tick's intents: (leads claimed, intents). With
        `lease`, only if this node wins the campaign's tick lease; the lease is the
        transaction's first statement, so the room counted after it is exact (`leases`)."""
        now, started = self.clock.now(), time.perf_counter()
        async with self.app.transaction() as conn:
            if lease and not await leases.acquire_tick(
                conn, campaign.id, self.node, now, self.interval
            ):
                return 0, []  # refused: end the transaction at once
            self.cache.remember(company, campaign)
            await self.cache.refresh_book(conn, company)
            budget = self.placer.breaker.allowance(now, await room(conn, campaign))
            claimed, intents, skipped = await commit_intents(
                conn, company, campaign, budget, now, self.node, self.rules, self.observer
            )
        self.observer.tick_seconds(company, campaign, time.perf_counter() - started)
        if skipped:
            self.observer.skipped(company, campaign, skipped)
        ids = [intent.attempt_id for intent in intents]
        self.open.opened(ids)
        self.open.placing.update(ids)
        return claimed, intents

    def _observe_inbound(self, received: inbound.Received) -> None:
        if received.company is None:
            return
        if received.listed:
            listed = {(dnc_list, Source.SMS_KEYWORD): 1 for dnc_list in received.listed}
            self.observer.listed(received.company, listed)
        if not received.duplicate and received.classification.kind in OPT_OUTS:
            self.observer.opted_out(received.company, Channel.SMS, 1)

    async def _place(
        self,
        company: Company,
        campaign: Campaign,
        intents: list[Intent],
        start: datetime | None = None,
    ) -> None:
        try:
            await self.placer.place(company, campaign, intents, start or self.clock.now())
        finally:
            self.open.placing.difference_update(i.attempt_id for i in intents)


def _call_sid(params: Mapping[str, str]) -> str:
    sid = params.get("CallSid")
    if not sid:
        raise BadCallback("request has no CallSid")
    return sid
