"""`dialer campaign`: define, start, pause, stop and run campaigns."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from campaigns import CampaignAction
from dialer.cli.reports import print_report
from dialer.cli.support import (
    FORMATS_GUIDE,
    caller_of,
    company_option,
    emit_json,
    iso,
    json_option,
    parse_instant,
    parse_optional_instant,
    print_table,
    run,
)
from dialer.services import campaigns as service
from dialer.services.campaigns import MAX_FORECAST_DAYS, campaign_view


@click.group("campaign")
def campaign_group() -> None:
    """Campaigns: draft -> running <-> paused -> completed | stopped."""


@campaign_group.command("create")
@click.option(
    "--from",
    "source",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=f"The campaign's TOML definition (every field: {FORMATS_GUIDE}).",
)
@company_option
@json_option
def campaign_create(source: Path, company: str | None, as_json: bool) -> None:
    """Create a draft campaign from a TOML definition (checked field by field).

    Every field, its type, default and meaning, with example files, is described in
    config/examples/README.md.
    """
    created = run(lambda app: service.create_campaign(app, caller_of(company), source))
    if as_json:
        emit_json(campaign_view(created))
        return
    click.echo(f"Campaign {created.name!r} created as a draft ({created.spec.channel} campaign).")


@campaign_group.command("list")
@company_option
@json_option
def campaign_list(company: str | None, as_json: bool) -> None:
    """List the company's campaigns."""
    found = run(lambda app: service.list_campaigns(app, caller_of(company)))
    views = [campaign_view(campaign) for campaign in found]
    if as_json:
        emit_json(views)
        return
    print_table(
        ("name", "state", "channel", "leads", "max attempts"),
        ((v["name"], v["state"], v["channel"], v["leads"], v["max_attempts"]) for v in views),
    )


@campaign_group.command("show")
@click.argument("name")
@company_option
@json_option
def campaign_show(name: str, company: str | None, as_json: bool) -> None:
    """Show a campaign and its definition."""
    found = run(lambda app: service.find_campaign(app, caller_of(company), name))
    view = service.campaign_detail(found)
    if as_json:
        emit_json(view)
        return
    print_table(("field", "value"), ((k, v) for k, v in view.items() if k != "definition"))
    click.echo(found.definition.rstrip())


@campaign_group.command("run")
@click.argument("name")
@click.option("--until-done", is_flag=True, required=True, help="Return when it completes.")
@click.option(
    "--sim-clock",
    "sim_clock",
    callback=parse_optional_instant,
    metavar="ISO-8601",
    help="Run on a simulated clock from this instant, jumping over waits; its outcomes are "
    "stored (for demos and tests: `campaign forecast` changes nothing).",
)
@click.option(
    "--scenario",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=f"Outcomes for the simulated carrier (TOML, see {FORMATS_GUIDE}).",
)
@company_option
@json_option
def campaign_run(
    name: str,
    until_done: bool,
    sim_clock: datetime | None,
    scenario: Path | None,
    company: str | None,
    as_json: bool,
) -> None:
    """Start NAME if needed and dial until no lead can be attempted any more.

    Attempts go through the configured carrier, each screened by the gate right before it
    is placed, and everything is stored: attempts, skips, opt-outs added to the DNC lists,
    the campaign's state. With the simulated carrier (the default: a local server speaking
    the Twilio API), --sim-clock runs it on a simulated clock, for demos and tests; with
    carrier = "twilio" the calls are real, on the wall clock, and --sim-clock is refused.
    To see what a campaign would do without changing anything, use `campaign forecast`.
    """
    finished = run(
        lambda app: service.run_campaign(
            app, caller_of(company), name, sim_clock=sim_clock, scenario=scenario
        )
    )
    if as_json:
        emit_json(campaign_view(finished))
        return
    click.echo(f"Campaign {finished.name!r} is {finished.state.value}.")


@campaign_group.command("forecast")
@click.argument("name")
@click.option(
    "--from",
    "start",
    callback=parse_instant,
    metavar="ISO-8601",
    help="When the simulated clock starts (default: now).",
)
@click.option(
    "--days",
    type=click.IntRange(1, MAX_FORECAST_DAYS),
    default=7,
    show_default=True,
    help="Simulate at most this many days.",
)
@click.option(
    "--scenario",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Outcomes for the simulated carrier (TOML, default: the scenario setting; see "
    f"{FORMATS_GUIDE}).",
)
@company_option
@json_option
def campaign_forecast(
    name: str,
    start: datetime,
    days: int,
    scenario: Path | None,
    company: str | None,
    as_json: bool,
) -> None:
    """Forecast NAME: what it would do, and nothing in the database changes.

    The campaign runs on a simulated clock from --from, for at most --days days or until it
    completes, through the simulated carrier (whatever carrier is configured), against a
    throwaway copy of the company's data: its statuses, blackouts, the campaign as it
    stands, the leads of its list with their DNC records, attempt history and list entries.
    A draft is started and a paused campaign resumed, in the copy only. Prints the report
    that the copy ends with (as `dialer report` does).
    """
    result = run(
        lambda app: service.forecast_campaign(
            app, caller_of(company), name, start=start, days=days, scenario=scenario
        )
    )
    if as_json:
        emit_json(result.as_dict())
        return
    click.echo(
        f"Forecast from {iso(result.start)} until {iso(result.horizon)} "
        "(simulated: nothing was stored)."
    )
    click.echo(f"At {iso(result.stopped_at)} the campaign would be {result.state.value}.\n")
    print_report(result.report.as_dict())


def _lifecycle_command(action: CampaignAction, summary: str) -> None:
    @campaign_group.command(action.value, help=summary)
    @click.argument("name")
    @company_option
    def command(name: str, company: str | None) -> None:
        changed = run(lambda app: service.change_state(app, caller_of(company), name, action))
        click.echo(f"Campaign {changed.name!r} is {changed.state.value}.")


_lifecycle_command(CampaignAction.START, "Start a draft campaign (checks it against the statuses).")
_lifecycle_command(CampaignAction.PAUSE, "Pause a running campaign.")
_lifecycle_command(CampaignAction.RESUME, "Resume a paused campaign.")
_lifecycle_command(CampaignAction.STOP, "Stop a running or paused campaign for good.")
