"""What the engine did, read back for a company: the skip log, every interaction, and a
campaign's figures.

Read-only functions over an `AsyncConnection`. Every figure is aggregated by the database
(one query each, GROUP BY), never lead by lead in Python.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Row,
    Select,
    String,
    case,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns.outcomes import OPTED_OUT
from campaigns.queue import DONE
from campaigns.repository import find_campaign
from campaigns.tables import campaign_leads, campaigns, inbound_messages, skips
from compliance import Company, MessageClass, Source, from_key
from compliance.attempts import AttemptPhase
from compliance.tables import Page, attempts, dnc_events, leads, stream_last

# A lead counts as contacted once an attempt reached a person (call) or a handset (text).
CONTACT_RESULTS = ("answered", "delivered")

# Status rules write their DNC events with this reason: "status BUSY on attempt 42".
_STATUS_PREFIX = "status "
_ATTEMPT_MARK = " on attempt "
_DNC_ADDITIONS = ("add", "lead_channels")
# The ways an opt-out comes, as the report counts them; and the classifications of the
# incoming texts counted as each.
OPT_OUT_WAYS = ("ivr_keypress", "sms_keyword", "sms_presumed")
_OPT_OUT_TEXTS = {
    MessageClass.OPT_OUT.value: "sms_keyword",
    MessageClass.OPT_OUT_PRESUMED.value: "sms_presumed",
}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


@dataclass(frozen=True, slots=True)
class SkipRow:
    """One attempt the gate refused, with every failing rule."""

    campaign: str | None
    lead_id: int | None
    external_id: str | None
    number: str  # E.164, or the raw input when it was not a valid number
    channel: str
    reason: str  # the first failing code
    reasons: tuple[str, ...]  # every failing code, first first
    rule: str  # the first failing rule
    detail: Any  # every failing rule: [{"code", "rule", "detail"}, ...]
    decided_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "lead_id": self.lead_id,
            "external_id": self.external_id,
            "number": self.number,
            "channel": self.channel,
            "reason": self.reason,
            "reasons": list(self.reasons),
            "rule": self.rule,
            "detail": self.detail,
            "decided_at": _iso(self.decided_at),
        }


@dataclass(frozen=True, slots=True)
class InteractionRow:
    """One placed attempt and what came of it (result, keyed digits, call status)."""

    id: int
    campaign: str | None
    lead_id: int | None
    external_id: str | None
    number: str  # E.164
    channel: str
    result: str | None
    digits: str | None
    status: str | None
    placed_at: datetime
    ended_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "campaign": self.campaign,
            "lead_id": self.lead_id,
            "external_id": self.external_id,
            "number": self.number,
            "channel": self.channel,
            "result": self.result,
            "digits": self.digits,
            "status": self.status,
            "placed_at": _iso(self.placed_at),
            "ended_at": _iso(self.ended_at),
        }


@dataclass(frozen=True, slots=True)
class CampaignReport:
    """A campaign's figures, per lead and then per attempt.

    lead_list: the list it dials; leads_in_queue: the leads of that list the campaign
    took on, whatever became of them; leads_attempted: those with at least one call or
    text placed; leads_contacted: those with a call answered or a text delivered;
    leads_still_queued: those it may still attempt; not_contacted_by_last_reason: the
    leads it finished with and never contacted, by the skip code that ended them or else
    their last call status; leads_not_contacted: their total. attempts_by_status:
    attempts per call status. A skip is a wait when the lead was attempted after it
    (skips_later_attempted, per first reason code); otherwise it stopped the lead or still
    holds it (skips_not_attempted_after). dnc_added: DNC additions made by each status's
    rules on this campaign's attempts; attempts_per_hour: attempts per UTC hour
    ("2026-03-10T15:00Z") of placed_at.

    opt_outs, by the way they came (every key present, 0 when none):
    - ivr_keypress: this campaign's attempts with keyed digits whose status rules added a
      DNC entry (to a company list or a lead channel);
    - sms_keyword: the distinct senders of opt-out texts (STOP and the like) attributed
      to this campaign, plus its texts the carrier refused because their recipients had
      opted out there (carrier status `outcomes.OPTED_OUT`);
    - sms_presumed: the distinct senders of texts presumed to revoke consent (`please
      stop texting me`) attributed to this campaign.
    An incoming text is attributed by last touch: to the campaign of the company's latest
    attempt placed to its sender at or before it was received.
    """

    campaign: str
    lead_list: str
    leads_in_queue: int
    leads_attempted: int
    leads_contacted: int
    leads_still_queued: int
    leads_not_contacted: int
    not_contacted_by_last_reason: dict[str, int] = field(default_factory=dict)
    attempts_by_status: dict[str, int] = field(default_factory=dict)
    skips_later_attempted: dict[str, int] = field(default_factory=dict)
    skips_not_attempted_after: dict[str, int] = field(default_factory=dict)
    dnc_added: dict[str, int] = field(default_factory=dict)
    attempts_per_hour: dict[str, int] = field(default_factory=dict)
    opt_outs: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OPT_OUT_WAYS, 0))

    def as_dict(self) -> dict[str, Any]:
        return {
            name: dict(value) if isinstance(value, dict) else value
            for name, value in ((f.name, getattr(self, f.name)) for f in fields(self))
        }


async def skip_log(
    conn: AsyncConnection,
    company: Company,
    *,
    campaign: str | None,
    reason: str | None,
    since: datetime | None,
    until: datetime | None,
    lead_id: int | None = None,
    limit: int | None = None,
) -> Page[SkipRow]:
    """The company's skipped attempts, streamed oldest first (only the newest `limit`
    when given).

    `campaign` keeps one campaign's (UnknownCampaign if the company has none of that name);
    `lead_id` one lead's;
    `reason` keeps the skips whose first failing code it is (as `skipped` counts them);
    `since` is inclusive and `until` exclusive.
    """
    query = await _skip_query(conn, company, campaign, reason, since, until, lead_id)
    page = await stream_last(conn, query, (skips.c.decided_at, skips.c.id), limit)
    return Page(rows=(_skip_row(row) async for row in page.rows), more=page.more)


async def skip_page(
    conn: AsyncConnection,
    company: Company,
    *,
    campaign: str | None,
    reason: str | None,
    since: datetime | None,
    until: datetime | None,
    lead_id: int | None = None,
    after: int | None,
    limit: int,
) -> list[tuple[int, SkipRow]]:
    """A page of the skip log in the order skips were logged: at most `limit` skips after
    the skip id `after` (None: from the first), each with its id; filters as `skip_log`."""
    query = await _skip_query(conn, company, campaign, reason, since, until, lead_id)
    if after is not None:
        query = query.where(skips.c.id > after)
    rows = await conn.execute(query.order_by(skips.c.id).limit(limit))
    return [(row.id, _skip_row(row)) for row in rows]


async def _skip_query(
    conn: AsyncConnection,
    company: Company,
    campaign: str | None,
    reason: str | None,
    since: datetime | None,
    until: datetime | None,
    lead_id: int | None,
) -> Select:
    query = (
        select(
            skips.c.id,
            campaigns.c.name.label("campaign"),
            skips.c.lead_id,
            leads.c.external_id,
            skips.c.number,
            skips.c.channel,
            skips.c.reason,
            skips.c.reasons,
            skips.c.rule,
            skips.c.detail,
            skips.c.decided_at,
        )
        .select_from(
            skips.outerjoin(campaigns, campaigns.c.id == skips.c.campaign_id).outerjoin(
                leads, leads.c.id == skips.c.lead_id
            )
        )
        .where(skips.c.company_id == company.id)
    )
    if campaign is not None:
        chosen = await find_campaign(conn, company, campaign)
        query = query.where(skips.c.campaign_id == chosen.id)
    if lead_id is not None:
        query = query.where(skips.c.lead_id == lead_id)
    if reason is not None:
        query = query.where(skips.c.reason == reason)
    if since is not None:
        query = query.where(skips.c.decided_at >= since)
    if until is not None:
        query = query.where(skips.c.decided_at < until)
    return query


def _skip_row(row: Row) -> SkipRow:
    return SkipRow(
        campaign=row.campaign,
        lead_id=row.lead_id,
        external_id=row.external_id,
        number=row.number,
        channel=row.channel,
        reason=row.reason,
        reasons=tuple(json.loads(row.reasons)),
        rule=row.rule,
        detail=json.loads(row.detail),
        decided_at=row.decided_at,
    )


async def interactions(
    conn: AsyncConnection,
    company: Company,
    *,
    campaign: str | None,
    lead_id: int | None = None,
    limit: int | None = None,
) -> Page[InteractionRow]:
    """The company's attempts (optionally one campaign's, one lead's), streamed in the order
    they were placed (only the newest `limit` when given)."""
    query = await _interaction_query(conn, company, campaign, lead_id)
    page = await stream_last(conn, query, (attempts.c.placed_at, attempts.c.id), limit)
    return Page(rows=(_interaction_row(row) async for row in page.rows), more=page.more)


async def interaction_page(
    conn: AsyncConnection,
    company: Company,
    *,
    campaign: str | None,
    lead_id: int | None = None,
    after: int | None,
    limit: int,
) -> list[InteractionRow]:
    """A page of the attempts in id order: at most `limit` after the attempt id `after`
    (None: from the first); filters as `interactions`."""
    query = await _interaction_query(conn, company, campaign, lead_id)
    if after is not None:
        query = query.where(attempts.c.id > after)
    rows = await conn.execute(query.order_by(attempts.c.id).limit(limit))
    return [_interaction_row(row) for row in rows]


async def _interaction_query(
    conn: AsyncConnection, company: Company, campaign: str | None, lead_id: int | None
) -> Select:
    query = (
        select(
            attempts.c.id,
            campaigns.c.name.label("campaign"),
            attempts.c.lead_id,
            leads.c.external_id,
            attempts.c.number,
            attempts.c.channel,
            attempts.c.result,
            attempts.c.digits,
            attempts.c.status,
            attempts.c.placed_at,
            attempts.c.ended_at,
        )
        .select_from(
            attempts.outerjoin(campaigns, campaigns.c.id == attempts.c.campaign_id).outerjoin(
                leads, leads.c.id == attempts.c.lead_id
            )
        )
        .where(attempts.c.company_id == company.id)
    )
    if campaign is not None:
        chosen = await find_campaign(conn, company, campaign)
        query = query.where(attempts.c.campaign_id == chosen.id)
    if lead_id is not None:
        query = query.where(attempts.c.lead_id == lead_id)
    return query


def _interaction_row(row: Row) -> InteractionRow:
    return InteractionRow(
        id=row.id,
        campaign=row.campaign,
        lead_id=row.lead_id,
        external_id=row.external_id,
        number=from_key(row.number),
        channel=row.channel,
        result=row.result,
        digits=row.digits,
        status=row.status,
        placed_at=row.placed_at,
        ended_at=row.ended_at,
    )


async def campaign_report(
    conn: AsyncConnection, company: Company, campaign_name: str
) -> CampaignReport:
    """The figures of one of the company's campaigns; UnknownCampaign if it has none."""
    chosen = await find_campaign(conn, company, campaign_name)
    own = (
        attempts.c.company_id == company.id,
        attempts.c.campaign_id == chosen.id,
        attempts.c.state != AttemptPhase.NOT_PLACED.value,  # never dialed: no attempt
    )
    dialect = conn.dialect.name

    contact = case((attempts.c.result.in_(CONTACT_RESULTS), 1), else_=0)
    per_lead = (
        select(attempts.c.lead_id, func.max(contact).label("contacted"))
        .where(*own)
        .group_by(attempts.c.lead_id)
        .subquery()
    )
    queue = campaign_leads.outerjoin(per_lead, per_lead.c.lead_id == campaign_leads.c.lead_id)
    mine = campaign_leads.c.campaign_id == chosen.id
    unfinished = campaign_leads.c.state != DONE
    never_contacted = func.coalesce(per_lead.c.contacted, 0) == 0
    in_queue, attempted, contacted, still_queued = (
        await conn.execute(
            select(
                func.count(),
                func.count(per_lead.c.lead_id),
                func.coalesce(func.sum(per_lead.c.contacted), 0),
                func.count(case((unfinished, 1))),
            )
            .select_from(queue)
            .where(mine)
        )
    ).one()
    # A lead the gate ended has the outcome "skipped:CODE"; any other, its last status.
    last_reason = func.replace(
        func.coalesce(campaign_leads.c.outcome, campaign_leads.c.last_status, ""), "skipped:", ""
    )
    not_contacted = await _counts(
        conn,
        select(last_reason.label("key"))
        .select_from(queue)
        .where(mine, campaign_leads.c.state == DONE, never_contacted),
    )
    statuses = await _counts(
        conn,
        select(attempts.c.status.label("key")).where(*own, attempts.c.status.is_not(None)),
    )
    attempted_after = (
        select(attempts.c.id)
        .where(
            *own,
            attempts.c.lead_id == skips.c.lead_id,
            attempts.c.placed_at >= skips.c.decided_at,
        )
        .exists()
    )
    campaign_skips = (skips.c.company_id == company.id, skips.c.campaign_id == chosen.id)
    waits = await _counts(
        conn, select(skips.c.reason.label("key")).where(*campaign_skips, attempted_after)
    )
    refusals = await _counts(
        conn, select(skips.c.reason.label("key")).where(*campaign_skips, ~attempted_after)
    )
    status, attempt_id, check = _status_rule_reason(dialect)
    rule_additions = (
        select(status.label("key"), attempts.c.id.label("attempt_id"), attempts.c.digits)
        .select_from(dnc_events.join(attempts, attempts.c.id == attempt_id))
        .where(
            dnc_events.c.company_id == company.id,
            # Inline, so that the planner sees the partial index's own condition.
            dnc_events.c.source == literal(Source.STATUS_RULE.value, literal_execute=True),
            dnc_events.c.action.in_(_DNC_ADDITIONS),
            dnc_events.c.reason.like(f"{_STATUS_PREFIX}%{_ATTEMPT_MARK}%"),
            *check,
            *own,
        )
        .subquery()
    )
    dnc_added = await _counts(conn, select(rule_additions.c.key))
    keyed = await conn.scalar(
        select(func.count(func.distinct(rule_additions.c.attempt_id))).where(
            rule_additions.c.digits.is_not(None)
        )
    )
    per_hour = await _counts(
        conn, select(_utc_hour(attempts.c.placed_at, dialect).label("key")).where(*own)
    )
    texts = await _counts(conn, _opt_out_senders(company, chosen.id))
    carrier_refused = await conn.scalar(
        select(func.count()).where(*own, attempts.c.carrier_status == OPTED_OUT)
    )
    opt_outs = {
        "ivr_keypress": keyed,
        "sms_keyword": texts.get("sms_keyword", 0) + carrier_refused,
        "sms_presumed": texts.get("sms_presumed", 0),
    }
    return CampaignReport(
        campaign=chosen.name,
        lead_list=chosen.spec.leads,
        leads_in_queue=in_queue,
        leads_attempted=attempted,
        leads_contacted=contacted,
        leads_still_queued=still_queued,
        leads_not_contacted=sum(not_contacted.values()),
        not_contacted_by_last_reason=not_contacted,
        attempts_by_status=statuses,
        skips_later_attempted=waits,
        skips_not_attempted_after=refusals,
        dnc_added=dnc_added,
        attempts_per_hour=per_hour,
        opt_outs=opt_outs,
    )


def _opt_out_senders(company: Company, campaign_id: int) -> Select:
    """Each (way, sender) of the company's opt-out texts attributed to the campaign, once:
    its sender's latest attempt placed at or before the text was received is the
    campaign's (a correlated subquery down the attempts index on company, number,
    placed_at)."""
    last_touch = (
        select(attempts.c.campaign_id)
        .where(
            attempts.c.company_id == inbound_messages.c.company_id,
            attempts.c.number == inbound_messages.c.from_number,
            attempts.c.placed_at <= inbound_messages.c.received_at,
            attempts.c.state != AttemptPhase.NOT_PLACED.value,
        )
        .order_by(attempts.c.placed_at.desc(), attempts.c.id.desc())
        .limit(1)
        .correlate(inbound_messages)
        .scalar_subquery()
    )
    way = case(_OPT_OUT_TEXTS, value=inbound_messages.c.classification)
    return (
        select(way.label("key"), inbound_messages.c.from_number)
        .distinct()
        .where(
            inbound_messages.c.company_id == company.id,
            inbound_messages.c.classification.in_(_OPT_OUT_TEXTS),
            last_touch == campaign_id,
        )
    )


async def _counts(conn: AsyncConnection, keys: Select) -> dict[str, int]:
    """{key: rows} of a query whose one column is labelled `key`, in key order.

    Grouped over a subquery, so that an expression with bound parameters is written once
    (PostgreSQL would not match the SELECT's and the GROUP BY's parameters).
    """
    inner = keys.subquery()
    rows = await conn.execute(
        select(inner.c.key, func.count()).group_by(inner.c.key).order_by(inner.c.key)
    )
    return {key: count for key, count in rows}


def _status_rule_reason(
    dialect: str,
) -> tuple[ColumnElement[str], ColumnElement[int], tuple[ColumnElement[bool], ...]]:
    """From a status rule's reason, "status BUSY on attempt 42": the status, the attempt
    id (joined with attempts.id), and the conditions that the reason is exactly that."""
    reason = dnc_events.c.reason
    if dialect == "postgresql":
        attempt_id = cast(
            func.substring(reason, r"^status .* on attempt ([0-9]{1,18})$"), BigInteger
        )
        status = func.substring(reason, r"^status (.*) on attempt [0-9]+$", type_=String)
        return status, attempt_id, ()
    mark = func.instr(reason, _ATTEMPT_MARK)
    tail = func.substr(reason, mark + len(_ATTEMPT_MARK))
    status = func.substr(reason, len(_STATUS_PREFIX) + 1, mark - len(_STATUS_PREFIX) - 1)
    # SQLite casts "12abc" to 12: the tail must also read back as the id, digit for digit.
    return status, cast(tail, Integer), (tail == cast(attempts.c.id, String),)


def _utc_hour(column: ColumnElement[datetime], dialect: str) -> ColumnElement[str]:
    """The UTC hour of an instant as text, "2026-03-10T15:00Z"."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24":00Z"', type_=String)
    # SQLite holds UtcDateTime as naive UTC text.
    return func.strftime("%Y-%m-%dT%H:00Z", column, type_=String)
