"""What the carrier tells us about a call or a text: status callbacks (group-committed),
the answer of a call (its TwiML), and the keys pressed on it.

A callback names its attempt (`attempt` in the URL we signed) and its call (`CallSid`). The
first signed request naming an attempt without a carrier reference binds its sid (the
create request's answer was lost); after that, a request naming another call is refused.

Carriers do not retry a webhook answered with an error, so a database that refuses a
transaction (a deadlock, a restart) is tried again for as long as the carrier waits for an
answer, and one bad callback in a batch does not fail the others.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns import Campaign, attempts, callbacks, logkeys, outcomes
from compliance import Channel, Company, DncList, Source, registry
from dialer.app import App, patiently
from dialer.carriers import BadCallback, CarrierEvent
from dialer.clock import Clock
from dialer.dispatch.cache import CampaignCache, OpenAttempts
from dialer.dispatch.observer import NO_OBSERVER, Observer

log = structlog.get_logger("dialer.dispatch")

# Group commit: how long the first callback of a batch waits for others to join it. A
# transaction costs far more than a row, and carriers wait seconds for a webhook's answer.
CALLBACK_LINGER = 0.01
HANGUP = '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>'
OPTED_OUT = "You will not receive these calls again. Goodbye."


@dataclass(slots=True)
class _Callback:
    attempt_id: int
    event: CarrierEvent
    params: Mapping[str, str]
    stored: asyncio.Future[None]


@dataclass(slots=True)
class _Applied:
    """What a batch of callbacks did, for the observer once it committed."""

    refused: dict[int, Exception] = field(default_factory=dict)
    stored: int = 0
    ended: list[tuple[Company, Campaign, outcomes.Endings]] = field(default_factory=list)
    opted_out: dict[Company, int] = field(default_factory=dict)


@dataclass(slots=True)
class CallbackInbox:
    app: App
    clock: Clock
    cache: CampaignCache
    open: OpenAttempts
    observer: Observer = NO_OBSERVER
    callback_base: str = ""
    _waiting: list[_Callback] = field(default_factory=list)
    _flusher: asyncio.Task[None] | None = None

    async def status(self, attempt_id: int, event: CarrierEvent, params: Mapping[str, str]) -> None:
        """Store a status callback once; a final one ends the attempt and fires its rules.
        Returns once it is committed, together with the callbacks that arrived with it."""
        stored = asyncio.get_running_loop().create_future()
        self._waiting.append(_Callback(attempt_id, event, params, stored))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await stored
        if event.final:
            self.open.ended([attempt_id])

    async def answer(self, attempt_id: int, sid: str) -> str:
        """The TwiML of an answered call: the campaign's opt-out prompt in a Gather whose
        keys come back to `/webhooks/gather`. A call this process placed is known in memory;
        another is looked up, and bound to its attempt if it has no reference yet."""
        campaign_id, placed_sid = self.open.calls.get(attempt_id, (None, None))
        campaign = self.cache.known(campaign_id) if placed_sid == sid else None
        if campaign is None:

            async def lookup(conn: AsyncConnection) -> Campaign:
                attempt = await self._attempt_of_call(conn, attempt_id, sid)
                _, found = await self.cache.campaign(conn, attempt.company_id, attempt.campaign_id)
                return found

            campaign = await patiently(self.app, lookup)
        action = f"{self.callback_base}/webhooks/gather?attempt={attempt_id}"
        return (
            '<?xml version="1.0" encoding="UTF-8"?><Response>'
            f'<Gather numDigits="1" timeout="5" method="POST" action={quoteattr(action)}>'
            f"<Say>{escape(campaign.spec.spoken_prompt())}</Say></Gather></Response>"
        )

    async def keypress(self, attempt_id: int, sid: str, params: Mapping[str, str]) -> str:
        """Keys pressed in answer to the prompt: committed, with the actions of the status they
        give, before the caller hears the confirmation."""
        digits = params.get("Digits", "")

        async def record(conn: AsyncConnection) -> tuple[Company, bool, bool, list[DncList]]:
            """(the company, whether the keys opt out, whether first heard, lists added)"""
            attempt = await self._attempt_of_call(conn, attempt_id, sid)
            received = callbacks.Received(attempt_id, sid, callbacks.KEYPRESS, params)
            fresh = await callbacks.store_once(conn, [received], self.clock.now())
            company, campaign = await self.cache.campaign(
                conn, attempt.company_id, attempt.campaign_id
            )
            listed = []
            if fresh and digits:
                book = await self.cache.book(conn, company)
                with logkeys.about_attempt(
                    company.name, campaign.name, attempt.id, attempt.lead_id
                ):
                    listed = await outcomes.apply_keypress(
                        conn, company, book, attempt, digits, self.clock.now()
                    )
            return company, digits == campaign.spec.ivr_optout_digit, bool(fresh), listed

        company, opting_out, fresh, listed = await patiently(self.app, record)
        self.observer.callbacks_stored(int(fresh))
        if listed:
            self.observer.listed(company, Counter((d, Source.STATUS_RULE) for d in listed))
        if not opting_out:
            return HANGUP
        if fresh:
            self.observer.opted_out(company, Channel.VOICE, 1)
        return (
            '<?xml version="1.0" encoding="UTF-8"?><Response>'
            f"<Say>{escape(OPTED_OUT)}</Say><Hangup/></Response>"
        )

    async def _attempt_of_call(
        self, conn: AsyncConnection, attempt_id: int, sid: str
    ) -> attempts.AttemptRow:
        """The attempt a request names, once its call is known to be this one."""
        found = (await attempts.find(conn, [attempt_id])).get(attempt_id)
        return await self._checked(conn, attempt_id, found, sid)

    async def _checked(
        self, conn: AsyncConnection, attempt_id: int, found: attempts.AttemptRow | None, sid: str
    ) -> attempts.AttemptRow:
        """The attempt a request names, or BadCallback: no attempt of a campaign has that
        id, or the attempt is another call."""
        if found is None or found.campaign_id is None:
            raise BadCallback(f"no attempt {attempt_id}")
        if not await self._bound(conn, found, sid):
            raise BadCallback(f"attempt {attempt_id} is call {found.carrier_sid}, not {sid}")
        return found

    async def _bound(self, conn: AsyncConnection, attempt: attempts.AttemptRow, sid: str) -> bool:
        """Whether `sid` is the attempt's call: recorded, answered by the carrier to this
        process and about to be recorded, or bound now (the attempt had no reference)."""
        known = (attempt.carrier_sid, self.open.calls.get(attempt.id, (None, None))[1])
        return sid in known or await attempts.bind_sid(conn, attempt.id, sid)

    async def _flush(self) -> None:
        while self._waiting:
            await asyncio.sleep(CALLBACK_LINGER)  # let callbacks arriving together gather
            batch, self._waiting = self._waiting, []
            await self._commit_isolating(batch)

    async def _commit_isolating(self, batch: Sequence[_Callback]) -> None:
        """Commit the batch; if it fails, each callback alone, so that only the bad one is
        answered with an error."""
        try:
            applied = await patiently(self.app, lambda conn: self._apply(conn, batch))
        except Exception as error:
            if len(batch) > 1:
                for callback in batch:
                    await self._commit_isolating([callback])
                return
            log.exception("callbacks.failed", attempt_id=batch[0].attempt_id)
            applied = _Applied({batch[0].attempt_id: error})
        else:
            self._observe(batch, applied)
        refused = applied.refused
        for callback in batch:
            if callback.stored.done():  # its request was cancelled
                continue
            if error := refused.get(callback.attempt_id):
                callback.stored.set_exception(error)
            else:
                callback.stored.set_result(None)

    def _observe(self, batch: Sequence[_Callback], applied: _Applied) -> None:
        """Report a committed batch: what it stored and ended, and each callback's lag from
        the event its carrier dates."""
        observer, now = self.observer, self.clock.now()
        observer.callbacks_stored(applied.stored)
        for company, campaign, ended in applied.ended:
            if ended:
                observer.attempts_ended(company, campaign, ended.values())
            if ended.listed:
                observer.listed(company, ended.listed)
        for company, count in applied.opted_out.items():
            observer.opted_out(company, Channel.SMS, count)
        dated = [c.event.occurred_at for c in batch if c.attempt_id not in applied.refused]
        observer.callback_lag([(now - at).total_seconds() for at in dated if at is not None])

    async def _apply(self, conn: AsyncConnection, batch: Sequence[_Callback]) -> _Applied:
        """Store a batch of callbacks and end the attempts their final statuses report, in
        one transaction (a text that failed because its recipient opted out at the carrier
        as one refused on create: `outcomes.opted_out`); returns what it did, with the
        refusal of each callback that names no attempt of ours or another call than its
        attempt's."""
        now = self.clock.now()
        known = await attempts.find(conn, [c.attempt_id for c in batch])
        await self._lock_for_opt_outs(conn, batch, known)
        applied = _Applied()
        refused = applied.refused
        for c in sorted(batch, key=lambda c: c.attempt_id):  # bind_sid locks in id order
            try:
                await self._checked(conn, c.attempt_id, known.get(c.attempt_id), c.event.sid)
            except BadCallback as error:
                refused[c.attempt_id] = error
        received = {
            callbacks.Received(c.attempt_id, c.event.sid, c.event.status, c.params): c
            for c in batch
            if c.attempt_id not in refused
        }
        final: dict[int, list[_Callback]] = {}
        stored = await callbacks.store_once(conn, list(received), now)
        applied.stored = len(stored)
        for fresh in stored:
            c = received[fresh]
            if c.event.final:
                final.setdefault(known[c.attempt_id].campaign_id, []).append(c)
        for campaign_id, ended in final.items():
            company_id = known[ended[0].attempt_id].company_id
            company, campaign = await self.cache.campaign(conn, company_id, campaign_id)
            book = await self.cache.book(conn, company)
            refusals = [
                outcomes.OptedOut(c.attempt_id, known[c.attempt_id].number, c.event.error_code)
                for c in ended
                if c.event.opted_out
            ]
            endings = [
                outcomes.Ending(
                    c.attempt_id, c.event.result or "failed", c.event.digits, c.event.status
                )
                for c in ended
                if not c.event.opted_out
            ]
            opted = await outcomes.opted_out(conn, company, campaign, book, refusals, now)
            ended = await outcomes.end_attempts(conn, company, campaign, book, endings, now)
            applied.ended += [(company, campaign, opted), (company, campaign, ended)]
            if opted:
                applied.opted_out[company] = applied.opted_out.get(company, 0) + len(opted)
        return applied

    async def _lock_for_opt_outs(
        self,
        conn: AsyncConnection,
        batch: Sequence[_Callback],
        known: Mapping[int, attempts.AttemptRow],
    ) -> None:
        """Take the screening lock of each company whose text a final callback reports
        opted out (in company order): its list change must take it before any row is
        locked here, as placing does."""
        opting_out = {
            attempt.company_id: attempt.campaign_id
            for c in batch
            if c.event.final
            and c.event.opted_out
            and (attempt := known.get(c.attempt_id)) is not None
            and attempt.campaign_id is not None
        }
        for company_id in sorted(opting_out):
            company, _ = await self.cache.campaign(conn, company_id, opting_out[company_id])
            await registry.lock_for_change(conn, company)
