"""The skip log's write side: one row and one structured log event per refused attempt.
`campaigns.reports` reads it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import structlog
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns.queue import QueuedLead
from campaigns.repository import Campaign
from campaigns.tables import skips
from compliance import Company, Decision

log = structlog.get_logger("campaigns.skiplog")


async def log_skips(
    conn: AsyncConnection,
    company: Company,
    campaign: Campaign,
    refused: Sequence[tuple[QueuedLead, Decision]],
    now: datetime,
    node: str,
) -> None:
    """Record every refused attempt with its machine-readable reasons; one statement."""
    if not refused:
        return
    await conn.execute(
        insert(skips),
        [_row(company, campaign, lead, decision, now, node) for lead, decision in refused],
    )
    for lead, decision in refused:
        first = decision.reasons[0]
        log.info(
            "attempt.skipped",
            node=node,
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


def _row(
    company: Company,
    campaign: Campaign,
    lead: QueuedLead,
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
