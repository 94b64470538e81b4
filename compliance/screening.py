"""The compliance gate: one decision right before every contact attempt.

`decide` is pure: an attempt, the facts storage knows about it, an instant and the rule
book in; allowed or skipped out, with every failing rule. `decide_batch`, pure too, decides
a batch in order, counting each allowed attempt against the attempts after it: storage
knows nothing yet of the batch's own attempts. `screen` gathers the facts for a whole batch
(one query per kind of fact, never one per attempt) and decides it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from compliance import accounts, leads, registry
from compliance import attempts as history
from compliance.accounts import Company
from compliance.blackouts import Blackout, blackouts_after
from compliance.dnc import LEAD_CHANNEL_OF, LISTS_BLOCKING, Channel, DncEntry, LeadChannel
from compliance.hours import LATEST, CampaignWindow, RuleBook, check_hours, state_caps
from compliance.phone import InvalidNumber, normalize, region_of
from compliance.reasons import Code, Reason
from compliance.tables import DEFAULT_COUNTRIES
from compliance.zones import area_code_state, candidate_zones

# The longest rolling cap window any rule may use; history older than this never counts.
HISTORY_WINDOW = timedelta(days=7)
# Rules can chain (a cap lifts at night, the window opens in the morning); a few rounds
# always settle, the bound only guards against bad rule data.
SETTLE_ROUNDS = 8

# A batch is screened at one instant, and its numbers share few zone and state sets: the
# verdicts repeat, so they are computed once per distinct question.
_hours = lru_cache(maxsize=4096)(check_hours)
_caps = lru_cache(maxsize=1024)(state_caps)


@dataclass(frozen=True, slots=True)
class CampaignLimits:
    """What a campaign adds to the law: a lifetime attempt limit and a narrower window."""

    id: int | None
    name: str
    max_attempts: int | None = None
    window: CampaignWindow | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    """A contact about to be made. `address` is the number as given (or the email)."""

    address: str
    channel: Channel
    lead_id: int | None = None
    lead_timezone: str | None = None
    lead_state: str | None = None
    campaign: CampaignLimits | None = None


@dataclass(frozen=True, slots=True)
class Facts:
    """What storage knows about one attempt when it is screened."""

    listings: tuple[DncEntry, ...] = ()
    lead_channels: frozenset[LeadChannel] = frozenset()
    recent: tuple[tuple[datetime, Channel], ...] = ()
    campaign_attempts: int = 0
    blackouts: tuple[Blackout, ...] = ()  # the company's, not yet over
    countries: frozenset[str] = frozenset(DEFAULT_COUNTRIES)  # the company's


@dataclass(frozen=True, slots=True)
class Decision:
    """Allowed, or skipped with every failing rule (first failing first)."""

    number: str | None
    allowed: bool
    permanent: bool
    reasons: tuple[Reason, ...]
    zones: tuple[str, ...] = ()
    local_times: dict[str, str] = field(default_factory=dict)
    next_eligible_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "allowed": self.allowed,
            "permanent": self.permanent,
            "reasons": [reason.as_dict() for reason in self.reasons],
            "zones": list(self.zones),
            "local_times": self.local_times,
            "next_eligible_at": (
                self.next_eligible_at.isoformat() if self.next_eligible_at else None
            ),
        }


def explain(decision: Decision) -> str:
    """A sentence a campaign manager understands."""
    if decision.allowed:
        zones = ", ".join(f"{t[11:16]} in {z}" for z, t in decision.local_times.items())
        return (
            f"Allowed: {decision.number} may be contacted now ({zones})."
            if zones
            else (f"Allowed: {decision.number or 'the lead'} may be contacted now.")
        )
    parts = "; ".join(_phrase(reason) for reason in decision.reasons)
    if decision.permanent:
        return f"Blocked: {parts}. Waiting will not help."
    when = decision.next_eligible_at
    later = f"next possible at {when.isoformat()}" if when else "no possible time in sight"
    return f"Blocked: {parts}; {later}."


def _phrase(reason: Reason) -> str:
    detail, rule = reason.detail, reason.rule
    who = "federal law" if rule == "federal" else rule.replace("state:", "state ")
    match reason.code:
        case Code.OUTSIDE_CALLING_HOURS:
            return (
                f"it is {detail['local_time'][11:16]} in {detail['zone']}, "
                f"{who} allows {detail['window']}"
            )
        case Code.RESTRICTED_DAY:
            day = detail["local_time"][:10]
            return f"{day} in {detail['zone']} is closed by {who} ({detail['window']})"
        case Code.COMPANY_DNC | Code.COMPANY_DNT:
            return (
                f"{detail['number']} is on the company {rule[5:]} list "
                f"(added by {detail['added_by']}: {detail['reason'] or 'no reason given'})"
            )
        case Code.LEAD_DNC_PHONE | Code.LEAD_DNC_SMS | Code.LEAD_DNC_EMAIL:
            return f"lead {detail['lead_id']} blocks {', '.join(detail['channels'])}"
        case Code.ATTEMPT_CAP:
            return (
                f"{detail['count']} attempts in the last {detail['window_hours']:g} h reach "
                f"the {who} cap of {detail['limit']}"
            )
        case Code.MAX_ATTEMPTS:
            return f"the campaign's limit of {detail['max_attempts']} attempts is reached"
        case Code.TZ_UNKNOWN:
            return "no time zone is known for this number or lead"
        case Code.COUNTRY_NOT_ALLOWED:
            where = f"in {detail['country']}" if detail["country"] else "of no country"
            return (
                f"{detail['number']} is a number {where}, and the company contacts numbers "
                f"in {', '.join(detail['countries'])} only"
            )
        case Code.STATE_EMERGENCY_BLACKOUT:
            return (
                f"state {detail['state']} is under an emergency blackout until "
                f"{detail['until']} ({detail['reason'] or detail['source']})"
            )
        case _:
            return f"{detail.get('input')!r} is not a valid number: {detail.get('error')}"


def decide(attempt: Attempt, facts: Facts, at: datetime, rules: RuleBook) -> Decision:
    """Screen one attempt at instant `at`."""
    if attempt.channel is Channel.EMAIL:
        return _finish(None, _lead_reasons(attempt, facts), (), {}, None)
    try:
        number = normalize(attempt.address).e164
    except InvalidNumber as error:
        invalid = Reason(
            Code.INVALID_NUMBER, "number", {"input": error.value, "error": error.reason}
        )
        return _finish(None, [invalid], (), {}, None)
    reasons = _lead_reasons(attempt, facts) + _list_reasons(attempt.channel, facts, number)
    country = region_of(number)
    if country not in facts.countries:
        # Not a number the company may contact: its hours, zones and caps do not matter.
        detail = {"number": number, "country": country, "countries": sorted(facts.countries)}
        outside = Reason(Code.COUNTRY_NOT_ALLOWED, "company", detail)
        return _finish(number, [outside, *reasons], (), {}, None)
    zones = candidate_zones(number, attempt.lead_timezone, attempt.lead_state)
    if not zones:
        detail = {"timezone": attempt.lead_timezone, "state": attempt.lead_state}
        return _finish(number, [*reasons, Reason(Code.TZ_UNKNOWN, "zones", detail)], (), {}, None)
    states = _states(number, attempt.lead_state)
    window = attempt.campaign.window if attempt.campaign else None
    verdict = _hours(at, zones, states, attempt.channel.value, rules, window)
    reasons += verdict.reasons
    reasons += _blackout_reasons(states, facts, at)
    reasons += _cap_reasons(attempt.channel, states, facts, at, rules)
    reasons += _campaign_reasons(attempt.campaign, facts)
    eligible = None
    if reasons and not any(reason.permanent for reason in reasons):
        eligible = _next_eligible(attempt, facts, zones, states, at, rules)
    return _finish(number, reasons, zones, verdict.local_times, eligible)


def _finish(
    number: str | None,
    reasons: list[Reason],
    zones: tuple[str, ...],
    local_times: dict[str, str],
    next_eligible_at: datetime | None,
) -> Decision:
    return Decision(
        number=number,
        allowed=not reasons,
        permanent=any(reason.permanent for reason in reasons),
        reasons=tuple(reasons),
        zones=zones,
        local_times=local_times,
        next_eligible_at=next_eligible_at,
    )


_LEAD_CODES = {
    LeadChannel.PHONE: Code.LEAD_DNC_PHONE,
    LeadChannel.SMS: Code.LEAD_DNC_SMS,
    LeadChannel.EMAIL: Code.LEAD_DNC_EMAIL,
}
_LIST_CODES = {"dnc": Code.COMPANY_DNC, "dnt": Code.COMPANY_DNT}


def _lead_reasons(attempt: Attempt, facts: Facts) -> list[Reason]:
    channel = LEAD_CHANNEL_OF[attempt.channel]
    if channel not in facts.lead_channels:
        return []
    blocked = sorted(c.value for c in facts.lead_channels)
    return [Reason(_LEAD_CODES[channel], "lead", {"lead_id": attempt.lead_id, "channels": blocked})]


def _list_reasons(channel: Channel, facts: Facts, number: str) -> list[Reason]:
    return [
        Reason(
            _LIST_CODES[entry.list_name.value],
            f"list:{entry.list_name.value}",
            {
                "number": number,
                "source": entry.source.value,
                "reason": entry.reason,
                "added_by": entry.added_by,
                "added_at": entry.added_at.isoformat(),
            },
        )
        for entry in facts.listings
        if entry.list_name in LISTS_BLOCKING[channel]
    ]


def _states(number: str, lead_state: str | None) -> tuple[str, ...]:
    """The area code's state and the lead's address state: both states' rules apply."""
    states = {area_code_state(number), (lead_state or "").strip().upper() or None}
    return tuple(sorted(state for state in states if state))


def _blackout_reasons(states: tuple[str, ...], facts: Facts, at: datetime) -> list[Reason]:
    return [
        Reason(
            Code.STATE_EMERGENCY_BLACKOUT,
            f"emergency:{blackout.state}",
            {
                "state": blackout.state,
                "from": blackout.starts_at.isoformat(),
                "until": blackout.until.isoformat(),
                "reason": blackout.reason,
                "source": blackout.source,
            },
        )
        for blackout in facts.blackouts
        if blackout.covers(states, at)
    ]


def _blackouts_lift_at(states: tuple[str, ...], facts: Facts, at: datetime) -> datetime:
    """The first instant from `at` on that no blackout covers (they may follow each other)."""
    moment = at
    for blackout in facts.blackouts:  # earliest first
        if blackout.covers(states, moment):
            moment = blackout.until
    return moment


def _cap_reasons(
    channel: Channel, states: Sequence[str], facts: Facts, at: datetime, rules: RuleBook
) -> list[Reason]:
    reasons = []
    for cap in _caps(states, channel.value, at.date(), rules):
        count = len(_counted(cap.channels, cap.window, facts, at))
        if count >= cap.limit:
            detail = {
                "limit": cap.limit,
                "window_hours": cap.window.total_seconds() / 3600,
                "count": count,
                "channels": sorted(cap.channels),
            }
            reasons.append(Reason(Code.ATTEMPT_CAP, cap.rule, detail))
    return reasons


def _counted(
    channels: frozenset[str], window: timedelta, facts: Facts, at: datetime
) -> list[datetime]:
    """When the attempts a cap counts were placed, oldest first."""
    since = at - window
    return sorted(t for t, channel in facts.recent if channel.value in channels and t > since)


def _cap_lifts_at(
    channel: Channel, states: Sequence[str], facts: Facts, at: datetime, rules: RuleBook
) -> datetime:
    """The first instant at which every cap that is full at `at` has room again."""
    lifts = at
    for cap in _caps(states, channel.value, at.date(), rules):
        placed = _counted(cap.channels, cap.window, facts, at)
        if len(placed) >= cap.limit:
            # The oldest attempts must age out until one slot is free.
            lifts = max(lifts, placed[len(placed) - cap.limit] + cap.window)
    return lifts


def _campaign_reasons(campaign: CampaignLimits | None, facts: Facts) -> list[Reason]:
    if campaign is None or campaign.max_attempts is None:
        return []
    if facts.campaign_attempts < campaign.max_attempts:
        return []
    detail = {"max_attempts": campaign.max_attempts, "attempts": facts.campaign_attempts}
    return [Reason(Code.MAX_ATTEMPTS, "campaign", detail)]


def _next_eligible(
    attempt: Attempt,
    facts: Facts,
    zones: tuple[str, ...],
    states: tuple[str, ...],
    at: datetime,
    rules: RuleBook,
) -> datetime | None:
    """The earliest instant at which every temporary block (blackouts, caps, hours) has
    lifted."""
    window = attempt.campaign.window if attempt.campaign else None
    moment = at
    for _ in range(SETTLE_ROUNDS):
        moment = _cap_lifts_at(attempt.channel, states, facts, moment, rules)
        lifted = _blackouts_lift_at(states, facts, moment)
        if lifted > LATEST:  # an end stored before ends were bounded: no time to name
            return None
        if lifted > moment:  # a blackout still runs then: try again from its end
            moment = lifted
            continue
        verdict = _hours(moment, zones, states, attempt.channel.value, rules, window)
        if not verdict.reasons:
            return moment
        if verdict.next_eligible_at is None:
            return None
        moment = verdict.next_eligible_at
    return None


def decide_batch(
    batch: Sequence[Attempt], facts: Sequence[Facts], at: datetime, rules: RuleBook
) -> list[Decision]:
    """Screen a batch in order at instant `at`, `facts[i]` being what storage knows of
    `batch[i]`. An allowed attempt counts, for the attempts after it, as placed at `at`:
    against its number's rolling caps and its lead's campaign attempt limit."""
    placed: dict[str, list[tuple[datetime, Channel]]] = {}
    per_lead: Counter[tuple[int, int]] = Counter()
    decisions = []
    for attempt, known in zip(batch, facts, strict=True):
        number, lead = _e164_or_none(attempt), _campaign_lead(attempt)
        earlier = tuple(placed.get(number, ())) if number else ()
        with_batch = replace(
            known,
            recent=known.recent + earlier,
            campaign_attempts=known.campaign_attempts + (per_lead[lead] if lead else 0),
        )
        decision = decide(attempt, with_batch, at, rules)
        if decision.allowed:
            if number:
                placed.setdefault(number, []).append((at, attempt.channel))
            if lead:
                per_lead[lead] += 1
        decisions.append(decision)
    return decisions


# --- the batch data path ---------------------------------------------------------------


async def gather_facts(
    conn: AsyncConnection, company: Company, batch: Sequence[Attempt], at: datetime
) -> list[Facts]:
    """The facts of every attempt in `batch`: one query per kind, whatever the batch size."""
    numbers = {attempt.address: _e164_or_none(attempt) for attempt in batch}
    valid = sorted({number for number in numbers.values() if number})
    listed = await registry.listings(conn, company, valid, at)
    recent = await history.recent_attempts(conn, company, valid, at - HISTORY_WINDOW)
    lead_ids = [attempt.lead_id for attempt in batch if attempt.lead_id is not None]
    channels = await leads.blocked_channels(conn, lead_ids)
    pairs = [pair for pair in map(_campaign_lead, batch) if pair]
    counts = await history.campaign_attempt_counts(conn, pairs)
    ahead = await blackouts_after(conn, company, at)
    countries = await accounts.company_countries(conn, company)
    facts = []
    for attempt in batch:
        number = numbers[attempt.address]
        pair = _campaign_lead(attempt)
        facts.append(
            Facts(
                listings=tuple(listed.get(number, ())) if number else (),
                lead_channels=channels.get(attempt.lead_id, frozenset()),
                recent=tuple(recent.get(number, ())) if number else (),
                campaign_attempts=counts.get(pair, 0) if pair else 0,
                blackouts=ahead,
                countries=countries,
            )
        )
    return facts


def _campaign_lead(attempt: Attempt) -> tuple[int, int] | None:
    """The (campaign id, lead id) whose attempts the campaign's limit counts."""
    campaign = attempt.campaign
    if campaign is None or campaign.id is None or attempt.lead_id is None:
        return None
    return campaign.id, attempt.lead_id


def _e164_or_none(attempt: Attempt) -> str | None:
    if attempt.channel is Channel.EMAIL:
        return None
    try:
        return normalize(attempt.address).e164
    except InvalidNumber:
        return None


async def screen(
    conn: AsyncConnection,
    company: Company,
    batch: Sequence[Attempt],
    at: datetime,
    rules: RuleBook,
) -> list[Decision]:
    """Decide every attempt of `batch` at instant `at`, from what storage knows now and
    from the batch's own attempts allowed before each."""
    return decide_batch(batch, await gather_facts(conn, company, batch, at), at, rules)
