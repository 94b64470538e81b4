"""Placing committed intents with the carrier, and recording what its answer says.

- the carrier took the request: `placed`, with its reference;
- it refused before placing (429, 503, no connection): `not_placed`, the lead back in the
  queue after a short backoff, nothing counted;
- the request may have reached it (a timeout or dropped connection after the request went
  out, a 502/504 from something in between): `unknown`, the lead held until the carrier's
  callbacks or its own records say (see `recovery`);
- it refused the number itself (an invalid To): the attempt ends `failed`, the carrier's
  answer about that call;
- it refused a text because the recipient opted out at the carrier (replied STOP to the
  sender): the number goes on the company's Do-Not-Text list and the attempt ends
  `failed`, its lead finished, never retried;
- it refused the account (401, 403): `not_placed`, and placing pauses.

Requests are paced: the create requests of one tick go out `1 / attempts_per_second`
apart, so in any one second the carrier sees at most `attempts_per_second` of them.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns import Campaign, attempts, logkeys, outcomes
from campaigns.definitions import render_sms
from compliance import Channel, Company
from dialer.app import App, patiently
from dialer.carriers import Carrier, CarrierError, Placement
from dialer.clock import Clock
from dialer.dispatch.cache import CampaignCache, OpenAttempts
from dialer.dispatch.observer import NO_OBSERVER, Observer
from dialer.dispatch.tick import Intent

log = structlog.get_logger("dialer.dispatch")

# A run of refusals this long pauses placing; so does one account-level refusal.
REFUSALS_TO_PAUSE = 5
# The longest pause between probes, and the longest a refused lead waits: the carrier's
# recovery is noticed within this.
MAX_BACKOFF = timedelta(seconds=30)


@dataclass(slots=True)
class Breaker:
    """Pauses placing while the carrier keeps refusing, and probes it with one request at a
    time until it takes one."""

    paused_until: datetime | None = None
    refusals: int = 0
    reason: str = ""

    def allowance(self, now: datetime, budget: int) -> int:
        """How many requests may go out now: all when closed, one probe when a pause is over."""
        if self.paused_until is None:
            return budget
        return 0 if now < self.paused_until else min(budget, 1)

    def backoff(self) -> timedelta:
        """How long a refused lead waits: doubling with each refusal in a row, at most 30 s."""
        return min(MAX_BACKOFF, timedelta(seconds=2 ** min(self.refusals, 5)))

    def refused(self, error: CarrierError, now: datetime) -> None:
        self.refusals += 1
        account = error.placement is Placement.ACCOUNT
        if account or self.refusals >= REFUSALS_TO_PAUSE:
            first = self.paused_until is None
            self.paused_until = now + (MAX_BACKOFF if account else self.backoff())
            self.reason = str(error)
            event = log.error if account else log.warning
            if first:
                event("carrier.paused", reason=self.reason, refusals=self.refusals)

    def took(self) -> None:
        if self.paused_until is not None:
            log.info("carrier.resumed", after_refusals=self.refusals)
        self.paused_until, self.refusals, self.reason = None, 0, ""


@dataclass(frozen=True, slots=True)
class _Answer:
    intent: Intent
    sid: str | None = None
    error: CarrierError | None = None


@dataclass(slots=True)
class Placer:
    app: App
    carrier: Carrier
    clock: Clock
    cache: CampaignCache
    open: OpenAttempts
    observer: Observer = NO_OBSERVER
    breaker: Breaker = field(default_factory=Breaker)
    callback_base: str = ""

    async def place(
        self, company: Company, campaign: Campaign, intents: Sequence[Intent], start: datetime
    ) -> None:
        """Ask the carrier for each intent, the n-th `n / attempts_per_second` after `start`
        (never sooner), and record what each answer says."""
        if not intents:
            return
        gap = timedelta(seconds=1) / campaign.spec.attempts_per_second
        answers = await asyncio.gather(
            *(
                self._ask(company, campaign, intent, start + n * gap)
                for n, intent in enumerate(intents)
            )
        )
        await self._record(company, campaign, answers)

    async def _ask(
        self, company: Company, campaign: Campaign, intent: Intent, at: datetime
    ) -> _Answer:
        """One request, in a task of its own (gather): its events carry its attempt's keys."""
        lead = intent.lead
        with logkeys.about_attempt(company.name, campaign.name, intent.attempt_id, lead.lead_id):
            await self.clock.sleep((at - self.clock.now()).total_seconds())
            return await self._request(campaign, intent)

    async def _request(self, campaign: Campaign, intent: Intent) -> _Answer:
        spec, lead, attempt_id = campaign.spec, intent.lead, intent.attempt_id
        callback = f"{self.callback_base}/webhooks/status?attempt={attempt_id}"
        try:
            if spec.channel is Channel.SMS:
                body = render_sms(spec.sms_body or "", lead.fields())
                sid = await self.carrier.send_sms(lead.phone, spec.caller_id, body, callback)
            else:
                answer = f"{self.callback_base}/webhooks/answer?attempt={attempt_id}"
                sid = await self.carrier.place_call(lead.phone, spec.caller_id, callback, answer)
        except CarrierError as error:
            log.warning("attempt.carrier_error", error=str(error), placement=error.placement.value)
            return _Answer(intent, error=error)
        log.info("attempt.placed", channel=spec.channel.value, number=lead.phone, sid=sid)
        self.open.calls[attempt_id] = (campaign.id, sid)
        return _Answer(intent, sid=sid)

    async def _record(
        self, company: Company, campaign: Campaign, answers: Sequence[_Answer]
    ) -> None:
        now = self.clock.now()
        placed = [(a.intent.attempt_id, a.sid) for a in answers if a.sid]
        unknown = [a.intent.attempt_id for a in answers if _is(a, Placement.UNKNOWN)]
        refused = [a for a in answers if _is(a, Placement.NOT_PLACED, Placement.ACCOUNT)]
        rejected = [a.intent.attempt_id for a in answers if _is(a, Placement.REJECTED)]
        opted_out = [
            outcomes.OptedOut(a.intent.attempt_id, a.intent.lead.phone, a.error.code)
            for a in answers
            if a.error is not None and a.error.placement is Placement.OPTED_OUT
        ]
        answering = (Placement.UNKNOWN, Placement.REJECTED, Placement.OPTED_OUT)
        for answer in answers:
            if answer.sid or _is(answer, *answering):
                self.breaker.took()  # the carrier is there and answering
            elif answer.error is not None:
                self.breaker.refused(answer.error, now)

        async def record(
            conn: AsyncConnection,
        ) -> tuple[outcomes.Endings, list[int], outcomes.Endings]:
            book = await self.cache.book(conn, company)
            # First: its list change takes the screening lock before any row is locked here.
            opted = await outcomes.opted_out(conn, company, campaign, book, opted_out, now)
            await attempts.mark_placed(conn, placed)
            await attempts.mark_unknown(conn, unknown)
            given_back = await outcomes.not_placed(
                conn,
                campaign.id,
                {a.intent.attempt_id: a.intent.lead.lead_id for a in refused},
                now + self.breaker.backoff(),
                now,
            )
            ended = await outcomes.end_attempts(
                conn,
                company,
                campaign,
                book,
                [outcomes.Ending(attempt_id, "failed") for attempt_id in rejected],
                now,
            )
            return opted, given_back, ended

        # What the carrier said is recorded even through a short database outage; past it,
        # recovery finds the calls in the carrier's records.
        opted, given_back, ended = await patiently(self.app, record)
        self.open.ended([*opted, *given_back, *ended])
        self._observe(company, campaign, answers, len(placed), [opted, ended])
        for answer in answers:
            if _is(answer, Placement.UNKNOWN):
                intent = answer.intent
                with logkeys.about_attempt(
                    company.name, campaign.name, intent.attempt_id, intent.lead.lead_id
                ):
                    log.warning("attempt.unknown")

    def _observe(
        self,
        company: Company,
        campaign: Campaign,
        answers: Sequence[_Answer],
        placed: int,
        endings: Sequence[outcomes.Endings],
    ) -> None:
        observer = self.observer
        if placed:
            observer.attempts_placed(company, campaign, placed)
        errors = Counter(a.error.placement.value for a in answers if a.error is not None)
        if errors:
            observer.carrier_errors(company, campaign, errors)
        if opted_out := errors.get(Placement.OPTED_OUT.value):
            observer.opted_out(company, Channel.SMS, opted_out)
        for ended in endings:
            if ended:
                observer.attempts_ended(company, campaign, ended.values())
            if ended.listed:
                observer.listed(company, ended.listed)


def _is(answer: _Answer, *placements: Placement) -> bool:
    return answer.error is not None and answer.error.placement in placements
