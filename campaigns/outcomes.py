"""What happens after an attempt ends: its call status, the status's actions, the lead's next step.

A status acts only through its configured actions; they are applied idempotently and
recorded with source `status_rule` and the status and attempt as the reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns import attempts as attempt_store
from campaigns import logkeys, queue
from campaigns import repository as campaign_store
from campaigns.definitions import CampaignSpec
from campaigns.repository import Campaign
from campaigns.statuses import ActionKind, CallStatus, StatusBook
from campaigns.tables import campaign_leads
from compliance import Company, DncList, LeadChannel, Source, from_key, leads, registry
from compliance.hours import LATEST
from compliance.tables import attempts, in_batch
from compliance.tables import leads as leads_table

log = structlog.get_logger("campaigns.outcomes")

# The carrier status of an attempt whose text the carrier refused because its recipient
# opted out there (what `opted_out` records; the campaign report counts them by it).
OPTED_OUT = "opted-out"


@dataclass(frozen=True, slots=True)
class NextStep:
    """Retry at `due_at`, or finish with `outcome`."""

    due_at: datetime | None = None
    outcome: str | None = None


def next_step(
    status: CallStatus, spec: CampaignSpec, attempts_made: int, now: datetime
) -> NextStep:
    """A final status, or a lead out of attempts, finishes; anything else is retried, unless
    its retry would fall past LATEST."""
    if status.final:
        return NextStep(outcome=status.code)
    if attempts_made >= spec.max_attempts:
        return NextStep(outcome=status.code)
    delay = spec.retry.get(status.code, timedelta(0))
    if delay > LATEST - now:  # a retry past the last instant accepted is never due
        return NextStep(outcome=status.code)
    return NextStep(due_at=now + delay)


@dataclass(frozen=True, slots=True)
class Ending:
    """How the carrier says an attempt ended; `final` finishes the lead whatever its status
    says (the carrier will take no other attempt to it)."""

    attempt_id: int
    result: str
    digits: str | None = None
    carrier_status: str | None = None
    final: bool = False


class Endings(dict[int, CallStatus]):
    """The status of each attempt ended, and the company-list entries their actions added,
    by (list, source): what the dispatcher counts once the transaction commits."""

    def __init__(self, statuses: Mapping[int, CallStatus] | None = None) -> None:
        super().__init__(statuses or {})
        self.listed: Counter[tuple[DncList, Source]] = Counter()


@dataclass(frozen=True, slots=True)
class OptedOut:
    """A text the carrier refused because its recipient opted out there, when it was created
    or after it accepted it; `code` is the carrier's error."""

    attempt_id: int
    number: str
    code: int | None


async def end_attempts(
    conn: AsyncConnection,
    company: Company,
    campaign: Campaign,
    book: StatusBook,
    endings: Sequence[Ending],
    now: datetime,
) -> Endings:
    """Record how a campaign's attempts ended, fire their statuses' actions, and move their
    leads on: a few statements per batch, plus one per configured action.

    Returns the status of each attempt ended here; one that had already ended (a repeated
    callback) is left alone and left out.
    """
    open_rows = {
        row.id: row
        for row in (await attempt_store.find(conn, [e.attempt_id for e in endings])).values()
        if row.campaign_id == campaign.id and row.phase in attempt_store.OPEN_PHASES
    }
    # A keypress is recorded when it happens; an ending that reports none (a status fetch,
    # a callback without Digits) keeps it.
    ending_now = {
        e.attempt_id: replace(e, digits=e.digits or open_rows[e.attempt_id].digits)
        for e in endings
        if e.attempt_id in open_rows
    }
    if not ending_now:
        return Endings()
    statuses = Endings({i: book.status_for(e.result, e.digits) for i, e in ending_now.items()})
    await attempt_store.end(
        conn,
        [
            attempt_store.Ended(i, e.result, e.digits, statuses[i].code, e.carrier_status)
            for i, e in ending_now.items()
        ],
        now,
    )
    for i, status in statuses.items():
        row, e = open_rows[i], ending_now[i]
        with logkeys.about_attempt(company.name, campaign.name, i, row.lead_id):
            listed = await apply_actions(conn, company, status, i, row.lead_id, row.number, now)
            statuses.listed.update((dnc_list, Source.STATUS_RULE) for dnc_list in listed)
            log.info(
                "attempt.ended",
                result=e.result,
                digits=e.digits,
                status=status.code,
                carrier_status=e.carrier_status,
            )
    ended = [(open_rows[i].lead_id, status, ending_now[i].final) for i, status in statuses.items()]
    await _move_leads(conn, campaign, ended, now)
    return statuses


async def opted_out(
    conn: AsyncConnection,
    company: Company,
    campaign: Campaign,
    book: StatusBook,
    refusals: Sequence[OptedOut],
    now: datetime,
) -> Endings:
    """Texts the carrier refused because their recipients opted out there: each number goes
    on the company's Do-Not-Text list as an SMS opt-out (which an opt-in by text may
    lift), and each attempt ends `failed` (carrier status OPTED_OUT) with its lead
    finished, as the carrier would refuse every retry. Returns the status of each attempt
    ended here."""
    lead_of = {
        row.id: row.lead_id
        for row in (await attempt_store.find(conn, [r.attempt_id for r in refusals])).values()
    }
    added = 0
    for refusal in refusals:
        with logkeys.about_attempt(
            company.name, campaign.name, refusal.attempt_id, lead_of.get(refusal.attempt_id)
        ):
            added += len(
                await registry.add_numbers(
                    conn,
                    company,
                    [refusal.number],
                    DncList.DNT,
                    source=Source.SMS_KEYWORD,
                    reason=_opt_out_reason(refusal.code),
                    actor="engine",
                    now=now,
                )
            )
    endings = [
        Ending(refusal.attempt_id, "failed", carrier_status=OPTED_OUT, final=True)
        for refusal in refusals
    ]
    ended = await end_attempts(conn, company, campaign, book, endings, now)
    if added:
        ended.listed[DncList.DNT, Source.SMS_KEYWORD] += added
    return ended


def _opt_out_reason(code: int | None) -> str:
    return f"carrier error {code}: the recipient opted out at the carrier (replied STOP)"


async def not_placed(
    conn: AsyncConnection,
    campaign_id: int,
    leads_of: Mapping[int, int],
    due_at: datetime,
    now: datetime,
) -> list[int]:
    """The carrier did not place these attempts (attempt id -> lead id): they end not
    placed, and their leads go back in the queue at `due_at`, charged nothing. Returns the
    attempts that were still waiting for the carrier's word."""
    marked = await attempt_store.mark_not_placed(conn, list(leads_of), now)
    await queue.give_back(conn, campaign_id, [leads_of[i] for i in marked], due_at)
    return marked


async def _move_leads(
    conn: AsyncConnection,
    campaign: Campaign,
    ended: Sequence[tuple[int, CallStatus, bool]],
    now: datetime,
) -> None:
    """Retry or finish the lead of each ended attempt (lead id, status, whether final)."""
    made = dict(
        (
            await conn.execute(
                select(campaign_leads.c.lead_id, campaign_leads.c.attempts).where(
                    campaign_leads.c.campaign_id == campaign.id,
                    in_batch(
                        campaign_leads.c.lead_id, [lead for lead, _, _ in ended], conn.dialect.name
                    ),
                )
            )
        ).all()
    )
    moves = []
    for lead_id, status, final in ended:
        step = (
            NextStep(outcome=status.code)
            if final
            else next_step(status, campaign.spec, made[lead_id], now)
        )
        moves.append(queue.Move(lead_id, step.due_at, step.outcome, status.code))
    await queue.move_leads(conn, campaign.id, moves)


async def apply_actions(
    conn: AsyncConnection,
    company: Company,
    status: CallStatus,
    attempt_id: int | None,
    lead_id: int,
    number: str,
    now: datetime,
    by: str = "engine",
) -> list[DncList]:
    """Apply a status's configured actions; applying them twice changes nothing more.
    Returns the company lists the number was newly put on."""
    reason = f"status {status.code} on attempt {attempt_id}"
    listed = []
    for action in status.actions:
        match action.kind:
            case ActionKind.COMPANY_DNC | ActionKind.COMPANY_DNT:
                dnc_list = DncList.DNC if action.kind is ActionKind.COMPANY_DNC else DncList.DNT
                if await registry.add_numbers(
                    conn,
                    company,
                    [number],
                    dnc_list,
                    source=Source.STATUS_RULE,
                    reason=reason,
                    actor=by,
                    now=now,
                ):
                    listed.append(dnc_list)
            case ActionKind.LEAD_DNC:
                await _block_lead_channel(conn, company, lead_id, action.argument, reason, by, now)
            case ActionKind.LEAD_STATUS:
                await conn.execute(
                    update(leads_table)
                    .where(leads_table.c.id == lead_id)
                    .values(status=action.argument)
                )
    return listed


async def _block_lead_channel(
    conn: AsyncConnection,
    company: Company,
    lead_id: int,
    channel: LeadChannel,
    reason: str,
    by: str,
    now: datetime,
) -> None:
    current = (await leads.blocked_channels(conn, [lead_id])).get(lead_id, frozenset())
    if channel in current:
        return
    lead = await leads.get_lead(conn, company, lead_id)
    await leads.set_lead_channels(
        conn,
        company,
        lead,
        current | {channel},
        reason=reason,
        by=by,
        now=now,
        source=Source.STATUS_RULE,
    )


async def apply_keypress(
    conn: AsyncConnection,
    company: Company,
    book: StatusBook,
    attempt: attempt_store.AttemptRow,
    digits: str,
    now: datetime,
) -> list[DncList]:
    """Keys pressed on an answered call: recorded, and the actions of the status they give
    fired at once (an opt-out is on the lists before the call ends). The attempt's final
    callback applies the same status again, which changes nothing more. Returns the
    company lists the number was newly put on."""
    await attempt_store.record_keypress(conn, attempt.id, digits)
    status = book.status_for("answered", digits)
    listed = []
    if attempt.lead_id is not None:
        listed = await apply_actions(
            conn, company, status, attempt.id, attempt.lead_id, attempt.number, now
        )
    log.info(
        "attempt.keypress",
        company=company.name,
        attempt_id=attempt.id,
        digits=digits,
        status=status.code,
    )
    return listed


class UnknownAttempt(LookupError):
    """No attempt with that id in the company."""


class UnknownStatus(UnknownAttempt):
    """No call status of that code in the company's book; nothing was changed."""


async def set_disposition(
    conn: AsyncConnection, company: Company, attempt_id: int, code: str, by: str, now: datetime
) -> CallStatus:
    """A status set by a person after the attempt: its actions fire, and a final status
    finishes the lead in its campaign."""
    row = (
        await conn.execute(
            select(attempts).where(attempts.c.id == attempt_id, attempts.c.company_id == company.id)
        )
    ).first()
    if row is None:
        raise UnknownAttempt(f"no attempt {attempt_id}")
    book = await campaign_store.status_book(conn, company)
    if code not in book.statuses:
        known = ", ".join(sorted(book.statuses))
        raise UnknownStatus(f"no call status {code!r}; the company's statuses: {known}")
    status = book.statuses[code]
    await attempt_store.set_status(conn, attempt_id, code)
    await apply_actions(
        conn, company, status, attempt_id, row.lead_id, from_key(row.number), now, by
    )
    if status.final and row.campaign_id is not None:
        await queue.move_leads(conn, row.campaign_id, [queue.Move(row.lead_id, None, code, code)])
    log.info("attempt.disposition", company=company.name, attempt_id=attempt_id, status=code, by=by)
    return status
