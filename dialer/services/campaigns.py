"""Campaigns: creating one, reading them, moving one through its lifecycle, running it and
forecasting it, whoever asks (CLI, API, pages)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from campaigns import Campaign, CampaignAction, InvalidDefinition, repository
from compliance import Permission
from dialer.app import App, utcnow
from dialer.clock import SimClock
from dialer.files import read_text
from dialer.forecast import Forecast, forecast
from dialer.runner import chosen_scenario, configured_dispatcher
from dialer.services import Caller, acting

__all__ = [
    "MAX_FORECAST_DAYS",
    "campaign_detail",
    "campaign_view",
    "change_state",
    "create_campaign",
    "find_campaign",
    "forecast_campaign",
    "list_campaigns",
    "run_campaign",
]

# A forecast's horizon: durations are at most a year.
MAX_FORECAST_DAYS = 365


async def create_campaign(app: App, caller: Caller, path: Path) -> Campaign:
    """Create a draft campaign from the TOML definition in `path`, registering its
    caller_id as a sending number; InvalidDefinition names the file and the field."""
    definition = read_text(path)
    async with app.transaction() as conn:
        who = await acting(app, conn, caller, Permission.CHANGE)
        try:
            return await repository.create_campaign(conn, who.company, definition, utcnow())
        except InvalidDefinition as error:
            raise InvalidDefinition(f"{path.name}: {error}") from None


async def list_campaigns(app: App, caller: Caller) -> list[Campaign]:
    """The company's campaigns."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        return await repository.list_campaigns(conn, who.company)


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
