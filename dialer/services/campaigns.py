"""Campaigns: creating one, reading them, moving one through its lifecycle, running it and
forecasting it, whoever asks (CLI, API, pages)."""

from __future__ import annotations

import tomllib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from campaigns import Campaign, CampaignAction, InvalidDefinition, queue, repository
from compliance import Decision, Permission, decide, gather_facts, load_rules
from dialer import tomltext
from dialer.app import App, utcnow
from dialer.clock import SimClock
from dialer.files import read_text
from dialer.forecast import Forecast, forecast
from dialer.runner import chosen_scenario, configured_dispatcher
from dialer.services import Caller, acting

__all__ = [
    "MAX_FORECAST_DAYS",
    "Eligibility",
    "campaign_detail",
    "campaign_page",
    "campaign_view",
    "change_state",
    "create_campaign",
    "create_from_text",
    "eligibility",
    "find_campaign",
    "forecast_campaign",
    "list_campaigns",
    "run_campaign",
    "update_campaign",
]

# A forecast's horizon: durations are at most a year.
MAX_FORECAST_DAYS = 365


async def create_campaign(app: App, caller: Caller, path: Path) -> Campaign:
    """Create a draft campaign from the TOML definition in `path`, registering its
    caller_id as a sending number; InvalidDefinition names the file and the field."""
    definition = read_text(path)
    try:
        return await create_from_text(app, caller, definition)
    except InvalidDefinition as error:
        raise InvalidDefinition(f"{path.name}: {error}") from None


async def create_from_text(app: App, caller: Caller, definition: str) -> Campaign:
    """Create a draft campaign from its TOML definition, as `create_campaign` does."""
    async with app.transaction() as conn:
        who = await acting(app, conn, caller, Permission.CHANGE)
        return await repository.create_campaign(conn, who.company, definition, utcnow())


async def update_campaign(
    app: App,
    caller: Caller,
    name: str,
    *,
    changes: Mapping[str, Any] | None = None,
    definition: str | None = None,
) -> Campaign:
    """Change the draft or paused campaign `name` (InvalidTransition for any other state):
    replace its TOML `definition`, or merge `changes` into it (a field set to None is
    removed, as in a JSON merge patch); checked as a creation checks it."""

    def edit(current: str) -> str:
        if definition is not None:
            return definition
        fields = {**tomllib.loads(current), **(changes or {})}
        return tomltext.dumps(fields)

    async with app.transaction() as conn:
        who = await acting(app, conn, caller, Permission.CHANGE)
        return await repository.update_campaign(conn, who.company, name, edit, utcnow())


async def list_campaigns(app: App, caller: Caller) -> list[Campaign]:
    """The company's campaigns."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        return await repository.list_campaigns(conn, who.company)


async def campaign_page(
    app: App, caller: Caller, *, after: int | None = None, limit: int
) -> list[Campaign]:
    """At most `limit` of the company's campaigns in creation order, after the id `after`."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        return await repository.campaign_page(conn, who.company, after=after, limit=limit)


async def find_campaign(app: App, caller: Caller, name: str) -> Campaign:
    """The company's campaign `name` (UnknownCampaign if none)."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        return await repository.find_campaign(conn, who.company, name)


async def change_state(app: App, caller: Caller, name: str, action: CampaignAction) -> Campaign:
    """Start, pause, resume or stop the campaign `name` (InvalidTransition when its state
    does not allow it); a start checks it against the statuses and queues its list."""
    async with app.transaction() as conn:
        who = await acting(app, conn, caller, Permission.CHANGE)
        return await repository.change_state(conn, who.company, name, action, utcnow())


async def run_campaign(
    app: App,
    caller: Caller,
    name: str,
    *,
    sim_clock: datetime | None = None,
    scenario: Path | None = None,
) -> Campaign:
    """Start `name` if needed and dial through the configured carrier until no lead can
    be attempted any more; everything it does is stored. With the simulated carrier,
    `sim_clock` runs it on a simulated clock from that instant and `scenario` (a TOML file,
    default: the scenario setting) gives the outcomes; a real carrier refuses `sim_clock`
    (SettingsConflict)."""
    outcomes = chosen_scenario(app.settings, scenario)
    # The run opens its own transactions: this one only resolves the caller.
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller, Permission.CHANGE)
    clock = SimClock(sim_clock) if sim_clock else None
    async with configured_dispatcher(app, outcomes, clock) as dispatcher:
        return await dispatcher.run_until_done(who.company, name)


async def forecast_campaign(
    app: App,
    caller: Caller,
    name: str,
    *,
    start: datetime,
    days: int = 7,
    scenario: Path | None = None,
) -> Forecast:
    """What `name` would do from `start` for at most `days` days (1 to MAX_FORECAST_DAYS),
    run on a simulated clock through the simulated carrier against a throwaway copy of the
    company's data: nothing in the database changes."""
    outcomes = chosen_scenario(app.settings, scenario)
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
    return await forecast(app, who.company, name, start, days, outcomes)


def campaign_view(campaign: Campaign) -> dict[str, Any]:
    """A campaign's state and the limits of its definition."""
    spec = campaign.spec
    return {
        "name": campaign.name,
        "state": campaign.state.value,
        "channel": spec.channel.value,
        "leads": spec.leads,
        "caller_id": spec.caller_id,
        "max_attempts": spec.max_attempts,
        "max_concurrent": spec.max_concurrent,
        "attempts_per_second": spec.attempts_per_second,
        "created_at": campaign.created_at.isoformat(),
        "updated_at": campaign.updated_at.isoformat(),
    }


def campaign_detail(campaign: Campaign) -> dict[str, Any]:
    """A campaign's view and its TOML definition as given."""
    return {**campaign_view(campaign), "definition": campaign.definition}


# Leads screened per batch: one query per kind of fact each.
ELIGIBILITY_BATCH = 1_000


@dataclass(slots=True)
class Eligibility:
    """The gate run over a campaign's queue at one instant, logging and changing nothing.

    due: queued leads due now, each screened; callable: those the gate allows now;
    skipped: the others, by their first failing code; permanent: those of them that
    waiting never helps; next_eligible_at: the earliest instant a waiting lead may be
    tried, overall and per first failing code (None: none in sight); not_due: queued
    leads waiting for a retry delay, next_due_at the first of them; in_flight: leads
    claimed or in an attempt now.
    """

    campaign: str
    state: str
    at: datetime
    due: int = 0
    callable: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    permanent: int = 0
    next_eligible_at: datetime | None = None
    next_eligible_by_reason: dict[str, datetime | None] = field(default_factory=dict)
    not_due: int = 0
    next_due_at: datetime | None = None
    in_flight: int = 0

    def count(self, decision: Decision) -> None:
        self.due += 1
        if decision.allowed:
            self.callable += 1
            return
        code = decision.reasons[0].code.value
        self.skipped[code] += 1
        if decision.permanent:
            self.permanent += 1
            self.next_eligible_by_reason.setdefault(code, None)
            return
        self.next_eligible_at = _earliest(self.next_eligible_at, decision.next_eligible_at)
        earlier = self.next_eligible_by_reason.get(code)
        self.next_eligible_by_reason[code] = _earliest(earlier, decision.next_eligible_at)

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "state": self.state,
            "at": self.at.isoformat(),
            "due": self.due,
            "callable": self.callable,
            "skipped": dict(sorted(self.skipped.items())),
            "permanent": self.permanent,
            "next_eligible_at": _iso(self.next_eligible_at),
            "next_eligible_by_reason": {
                code: _iso(moment) for code, moment in sorted(self.next_eligible_by_reason.items())
            },
            "not_due": self.not_due,
            "next_due_at": _iso(self.next_due_at),
            "in_flight": self.in_flight,
        }


def _earliest(first: datetime | None, second: datetime | None) -> datetime | None:
    return min((moment for moment in (first, second) if moment), default=None)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


async def eligibility(
    app: App, caller: Caller, name: str, *, at: datetime | None = None
) -> Eligibility:
    """Why is `name` dialling, or not: each queued lead due at `at` (default: now)
    screened as the engine would screen it, in batches, nothing claimed, logged or changed."""
    at = at or utcnow()
    rules = load_rules()
    # A transaction, not a snapshot: the gate reads the company's countries under a share
    # lock, as the engine's screening does. It writes nothing.
    async with app.transaction() as conn:
        who = await acting(app, conn, caller)
        campaign = await repository.find_campaign(conn, who.company, name)
        found = Eligibility(campaign.name, campaign.state.value, at)
        after = None
        while batch := await queue.due_batch(conn, campaign.id, at, after, ELIGIBILITY_BATCH):
            attempts = [campaign.attempt(lead) for lead in batch]
            facts = await gather_facts(conn, who.company, attempts, at)
            for attempt, known in zip(attempts, facts, strict=True):
                found.count(decide(attempt, known, at, rules))
            after = batch[-1].lead_id
        found.not_due, found.next_due_at = await queue.not_due(conn, campaign.id, at)
        states = await queue.counts(conn, campaign.id)
        found.in_flight = states.get(queue.CLAIMED, 0) + states.get(queue.IN_FLIGHT, 0)
    return found
