"""What happens after an attempt ends: its call status, the status's actions, the lead's next step.

A status acts only through its configured actions; they are applied idempotently and
recorded with source `status_rule` and the status and attempt as the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns import queue
from campaigns import repository as campaign_store
from campaigns.definitions import CampaignSpec
from campaigns.statuses import ActionKind, CallStatus, StatusBook
from compliance import Company, DncList, LeadChannel, Source, from_key, leads, registry
from compliance.tables import attempts
from compliance.tables import leads as leads_table

log = structlog.get_logger("campaigns.outcomes")


@dataclass(frozen=True, slots=True)
class NextStep:
    """Retry at `due_at`, or finish with `outcome`."""

    due_at: datetime | None = None
    outcome: str | None = None


def next_step(
    status: CallStatus, spec: CampaignSpec, attempts_made: int, now: datetime
) -> NextStep:
    """A final status, or a lead out of attempts, finishes; anything else is retried."""
    if status.final:
        return NextStep(outcome=status.code)
    if attempts_made >= spec.max_attempts:
        return NextStep(outcome=status.code)
    delay = spec.retry.get(status.code, timedelta(0))
    return NextStep(due_at=now + delay)


async def end_attempt(
    conn: AsyncConnection,
    company: Company,
    spec: CampaignSpec,
    book: StatusBook,
    attempt_id: int,
    result: str,
    digits: str | None,
    now: datetime,
    carrier_status: str | None = None,
) -> CallStatus | None:
    """Record how an attempt ended, fire its status's actions, and move its lead on.

    Returns None when the attempt had already ended (a repeated callback).
    """
    row = (await conn.execute(select(attempts).where(attempts.c.id == attempt_id))).first()
    if row is None or row.state == "ended":
        return None
    status = book.status_for(result, digits)
    await conn.execute(
        update(attempts)
        .where(attempts.c.id == attempt_id)
        .values(
            state="ended",
            result=result,
            digits=digits,
            status=status.code,
            ended_at=now,
            carrier_status=carrier_status,
        )
    )
    await apply_actions(conn, company, status, attempt_id, row.lead_id, from_key(row.number), now)
    await _move_lead(conn, spec, row.campaign_id, row.lead_id, status, now)
    log.info(
        "attempt.ended",
        company=company.name,
        attempt_id=attempt_id,
        lead_id=row.lead_id,
        result=result,
        digits=digits,
        status=status.code,
    )
    return status


async def _move_lead(
    conn: AsyncConnection,
    spec: CampaignSpec,
    campaign_id: int,
    lead_id: int,
    status: CallStatus,
    now: datetime,
) -> None:
    made = (
        await conn.execute(
            select(queue.campaign_leads.c.attempts).where(
                queue.campaign_leads.c.campaign_id == campaign_id,
                queue.campaign_leads.c.lead_id == lead_id,
            )
        )
    ).scalar_one()
    step = next_step(status, spec, made, now)
    if step.outcome is not None:
        await queue.finish(conn, campaign_id, lead_id, step.outcome, status.code)
    else:
        await queue.requeue(conn, campaign_id, lead_id, step.due_at, status.code)


async def apply_actions(
    conn: AsyncConnection,
    company: Company,
    status: CallStatus,
    attempt_id: int | None,
    lead_id: int,
    number: str,
    now: datetime,
    by: str = "engine",
) -> None:
    """Apply a status's configured actions; applying them twice changes nothing more."""
    reason = f"status {status.code} on attempt {attempt_id}"
    for action in status.actions:
        match action.kind:
            case ActionKind.COMPANY_DNC | ActionKind.COMPANY_DNT:
                listed = DncList.DNC if action.kind is ActionKind.COMPANY_DNC else DncList.DNT
                await registry.add_numbers(
                    conn,
                    company,
                    [number],
                    listed,
                    source=Source.STATUS_RULE,
                    reason=reason,
                    actor=by,
                    now=now,
                )
            case ActionKind.LEAD_DNC:
                await _block_lead_channel(conn, company, lead_id, action.argument, reason, by, now)
            case ActionKind.LEAD_STATUS:
                await conn.execute(
                    update(leads_table)
                    .where(leads_table.c.id == lead_id)
                    .values(status=action.argument)
                )


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


class UnknownAttempt(LookupError):
    """No attempt with that id in the company."""


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
        raise UnknownAttempt(f"no call status {code!r}; the company's statuses: {known}")
    status = book.statuses[code]
    await conn.execute(update(attempts).where(attempts.c.id == attempt_id).values(status=code))
    await apply_actions(
        conn, company, status, attempt_id, row.lead_id, from_key(row.number), now, by
    )
    if status.final and row.campaign_id is not None:
        await queue.finish(conn, row.campaign_id, row.lead_id, code, code)
    log.info("attempt.disposition", company=company.name, attempt_id=attempt_id, status=code, by=by)
    return status
