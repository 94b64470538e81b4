"""The `dialer` command line: what a campaign manager or an operator types.

Exit codes: 0 success, 1 refused or failed (nothing was changed), 2 usage error.
Every command takes --company NAME (default: the `default_company` setting).
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from campaigns import (
    Campaign,
    CampaignAction,
    InvalidDefinition,
    repository,
)
from compliance import (
    Attempt,
    Blackout,
    Channel,
    Company,
    Decision,
    DncList,
    InvalidNumber,
    LeadChannel,
    Role,
    Source,
    accounts,
    blackouts,
    explain,
    leads,
    load_rules,
    normalize,
    parse_lead_channels,
    registry,
    screen,
    sheets,
)
from dialer import reporting
from dialer.app import App, utcnow
from dialer.carriers.simulator import Scenario
from dialer.cli_support import (
    company_of,
    company_option,
    emit_json,
    json_option,
    parse_instant,
    parse_optional_instant,
    print_table,
    progress,
    run,
)
from dialer.clock import SimClock
from dialer.database import upgrade_schema
from dialer.runner import configured_dispatcher
from dialer.runner import serve as serve_forever


def normalize_all(values: Sequence[str], region: str) -> list[str]:
    """E.164 for every input, or a refusal naming every bad one (then nothing is done)."""
    numbers, errors = [], []
    for value in values:
        try:
            numbers.append(normalize(value, region).e164)
        except InvalidNumber as error:
            errors.append(str(error))
    if errors:
        raise click.ClickException(f"invalid number: {'; '.join(errors)}. Nothing was changed.")
    return numbers


list_option = click.option(
    "--list",
    "list_name",
    type=click.Choice([name.value for name in DncList]),
    default=DncList.DNC.value,
    show_default=True,
    help="dnc blocks calls and texts; dnt (Do-Not-Text) blocks texts only.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dialer")
def main() -> None:
    """Dialer: campaign engine that screens every contact against DNC lists and the law.

    Settings come from config/dialer.toml and DIALER_* environment variables
    (DIALER_DATABASE_URL selects the database; SQLite by default).
    """


for command in (reporting.skips, reporting.interactions, reporting.report):
    main.add_command(command)


@main.command()
@company_option
def init(company: str | None) -> None:
    """Create or upgrade the database schema and create the company."""

    async def body(app: App) -> None:
        await upgrade_schema(app.engine)
        name = company or app.settings.default_company
        async with app.transaction() as conn:
            revision = (
                await conn.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar()
            owner, created = await accounts.ensure_company(
                conn, name, utcnow(), app.settings.default_region
            )
            seeded = await repository.seed_status_book(conn, owner, utcnow())
        state = "created" if created else "exists"
        statuses = "; default call statuses seeded" if seeded else ""
        click.echo(f"Schema at revision {revision}; company {name!r} {state}{statuses}.")

    run(body)


# --- the gate, dry run ------------------------------------------------------------------


@main.command()
@click.argument("number")
@click.option(
    "--channel",
    type=click.Choice([Channel.VOICE.value, Channel.SMS.value]),
    default=Channel.VOICE.value,
    show_default=True,
)
@click.option(
    "--at",
    "at",
    callback=parse_instant,
    metavar="ISO-8601",
    help="The instant to judge, with its UTC offset (default: now).",
)
@click.option("--state", help="The lead's address state (e.g. CO); its rules apply too.")
@click.option("--timezone", "timezone", help="The lead's IANA time zone, e.g. America/Denver.")
@click.option("--lead", help="A lead (id or external id): its state, zone, own DNC, history.")
@click.option("--campaign", help="A campaign: its window, its attempt limit and its channel.")
@company_option
@json_option
def check(
    number: str,
    channel: str,
    at: datetime,
    state: str | None,
    timezone: str | None,
    lead: str | None,
    campaign: str | None,
    company: str | None,
    as_json: bool,
) -> None:
    """Dry run of the gate: may NUMBER be called or texted at --at, and if not, why.

    Screens exactly as the engine does before each attempt: lead and company DNC lists,
    calling hours in every candidate time zone (federal and state rules), rolling caps.
    """

    async def body(app: App) -> Decision:
        async with app.transaction() as conn:
            owner = await company_of(app, conn, company)
            found = await _lead_or_fail(conn, owner, lead) if lead else None
            chosen = await repository.find_campaign(conn, owner, campaign) if campaign else None
            attempt = Attempt(
                address=number,
                channel=chosen.spec.channel if chosen else Channel(channel),
                lead_id=found.id if found else None,
                lead_timezone=timezone or (found.timezone if found else None),
                lead_state=state or (found.state if found else None),
                campaign=chosen.limits if chosen else None,
            )
            return (await screen(conn, owner, [attempt], at, load_rules()))[0]

    decision = run(body)
    if as_json:
        emit_json(decision.as_dict())
        return
    click.echo(explain(decision))


# --- campaigns and call statuses ---------------------------------------------------------


@main.group("campaign")
def campaign_group() -> None:
    """Campaigns: draft -> running <-> paused -> completed | stopped."""


@campaign_group.command("create")
@click.option(
    "--from",
    "source",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The campaign's TOML definition.",
)
@company_option
@json_option
def campaign_create(source: Path, company: str | None, as_json: bool) -> None:
    """Create a draft campaign from a TOML definition (checked field by field)."""
    definition = source.read_text(encoding="utf-8")

    async def body(app: App) -> Campaign:
        async with app.transaction() as conn:
            owner = await company_of(app, conn, company)
            try:
                return await repository.create_campaign(conn, owner, definition, utcnow())
            except InvalidDefinition as error:
                raise InvalidDefinition(f"{source.name}: {error}") from None

    created = run(body)
    if as_json:
        emit_json(_campaign_view(created))
        return
    click.echo(f"Campaign {created.name!r} created as a draft ({created.spec.channel} campaign).")


def _campaign_view(campaign: Campaign) -> dict[str, Any]:
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
        "created_at": _iso(campaign.created_at),
        "updated_at": _iso(campaign.updated_at),
    }


@campaign_group.command("list")
@company_option
@json_option
def campaign_list(company: str | None, as_json: bool) -> None:
    """List the company's campaigns."""

    async def body(app: App) -> list[Campaign]:
        async with app.transaction() as conn:
            return await repository.list_campaigns(conn, await company_of(app, conn, company))

    views = [_campaign_view(campaign) for campaign in run(body)]
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

    async def body(app: App) -> Campaign:
        async with app.transaction() as conn:
            return await repository.find_campaign(conn, await company_of(app, conn, company), name)

    found = run(body)
    view = {**_campaign_view(found), "definition": found.definition}
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
    help="Run on a simulated clock from this instant, jumping over waits (a forecast).",
)
@click.option(
    "--scenario",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Outcomes for the simulated carrier (TOML).",
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
    is placed. With the simulated carrier (the default: a local server speaking the Twilio
    API), --sim-clock makes it a forecast; with carrier = "twilio" the calls are real, on
    the wall clock, and --sim-clock is refused.
    """
    outcomes = Scenario.from_toml(scenario) if scenario else None
    clock = SimClock(sim_clock) if sim_clock else None

    async def body(app: App) -> Campaign:
        async with app.transaction() as conn:
            owner = await company_of(app, conn, company)
        async with configured_dispatcher(app, outcomes, clock) as dispatcher:
            return await dispatcher.run_until_done(owner, name)

    finished = run(body)
    if as_json:
        emit_json(_campaign_view(finished))
        return
    click.echo(f"Campaign {finished.name!r} is {finished.state.value}.")


def _lifecycle_command(action: CampaignAction, summary: str) -> None:
    @campaign_group.command(action.value, help=summary)
    @click.argument("name")
    @company_option
    def command(name: str, company: str | None) -> None:
        async def body(app: App) -> Campaign:
            async with app.transaction() as conn:
                owner = await company_of(app, conn, company)
                return await repository.change_state(conn, owner, name, action, utcnow())

        changed = run(body)
        click.echo(f"Campaign {changed.name!r} is {changed.state.value}.")


_lifecycle_command(CampaignAction.START, "Start a draft campaign (checks it against the statuses).")
_lifecycle_command(CampaignAction.PAUSE, "Pause a running campaign.")
_lifecycle_command(CampaignAction.RESUME, "Resume a paused campaign.")
_lifecycle_command(CampaignAction.STOP, "Stop a running or paused campaign for good.")


@main.group("statuses")
def statuses_group() -> None:
    """Call statuses and the rules they fire.

    A status does nothing by its name: a status called "DNC" adds nothing to any list
    unless its actions say so (company_dnc, company_dnt, lead_dnc:CHANNEL,
    lead_status:VALUE). Only configured actions count.
    """


@statuses_group.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--by", "by", default="cli", show_default=True, help="Who loads them.")
@company_option
def statuses_load(file: Path, by: str, company: str | None) -> None:
    """Replace the company's call statuses and outcome map with FILE (TOML)."""
    definition = file.read_text(encoding="utf-8")

    async def body(app: App) -> int:
        async with app.transaction() as conn:
            owner = await company_of(app, conn, company)
            try:
                book = await repository.save_status_book(conn, owner, definition, by, utcnow())
            except InvalidDefinition as error:
                raise InvalidDefinition(f"{file.name}: {error}") from None
            return len(book.statuses)

    click.echo(f"Loaded {run(body)} call statuses from {file.name}.")


@statuses_group.command("list")
@company_option
@json_option
def statuses_list(company: str | None, as_json: bool) -> None:
    """List the company's call statuses, their actions, and the outcome map."""

    async def body(app: App) -> Any:
        async with app.transaction() as conn:
            return await repository.status_book(conn, await company_of(app, conn, company))

    book = run(body)
    statuses = [
        {
            "code": status.code,
            "label": status.label,
            "final": status.final,
            "actions": [str(action) for action in status.actions],
        }
        for status in book.statuses.values()
    ]
    rules = [
        {"result": rule.result.value, "digits": rule.digits, "status": rule.status}
        for rule in book.rules
    ]
    if as_json:
        emit_json({"statuses": statuses, "map": rules})
        return
    print_table(
        ("code", "label", "final", "actions"),
        ((s["code"], s["label"], s["final"], ", ".join(s["actions"]) or "-") for s in statuses),
    )
    print_table(
        ("result", "digits", "status"), ((r["result"], r["digits"], r["status"]) for r in rules)
    )


@main.group("blackouts")
def blackouts_group() -> None:
    """State emergency blackouts: no call or text to a state while one lasts.

    Louisiana bans telephonic solicitation while a governor-declared state of emergency
    lasts. The gate reads blackouts on every batch, so one added while campaigns run
    applies to their next attempt; a lead whose number or address is in the state waits
    until the blackout ends.
    """


@blackouts_group.command("add")
@click.option("--state", required=True, help="The state's postal code, e.g. LA.")
@click.option(
    "--from", "starts_at", metavar="ISO", callback=parse_instant, help="Start (default: now)."
)
@click.option("--until", "ends_at", metavar="ISO", required=True, callback=parse_optional_instant)
@click.option("--source", required=True, help="The declaration: a URL or an order number.")
@click.option("--reason", default="", help="What it is, e.g. the storm's name.")
@click.option("--by", "by", default="cli", show_default=True, help="Who enters it.")
@company_option
def blackouts_add(
    state: str,
    starts_at: datetime,
    ends_at: datetime,
    source: str,
    reason: str,
    by: str,
    company: str | None,
) -> None:
    """Add a blackout from --from until --until (exclusive)."""

    async def body(app: App) -> Blackout:
        async with app.transaction() as conn:
            owner = await company_of(app, conn, company)
            return await blackouts.add_blackout(
                conn,
                owner,
                state,
                starts_at,
                ends_at,
                reason=reason,
                source=source,
                by=by,
                now=utcnow(),
            )

    added = run(body)
    click.echo(
        f"No calls or texts to {added.state} from {_iso(added.starts_at)} "
        f"until {_iso(added.ends_at)}."
    )


@blackouts_group.command("list")
@click.option("--all", "everything", is_flag=True, help="Past blackouts too.")
@company_option
@json_option
def blackouts_list(everything: bool, company: str | None, as_json: bool) -> None:
    """The blackouts not over yet (with --all, every one)."""

    async def body(app: App) -> tuple[Blackout, ...]:
        async with app.transaction() as conn:
            owner = await company_of(app, conn, company)
            since = datetime.min.replace(tzinfo=UTC) if everything else utcnow()
            return await blackouts.blackouts_after(conn, owner, since)

    found = run(body)
    if as_json:
        emit_json([asdict(blackout) for blackout in found])
        return
    print_table(
        ("state", "from", "until", "reason", "source"),
        [(b.state, _iso(b.starts_at), _iso(b.ends_at), b.reason, b.source) for b in found],
    )


@main.command()
def serve() -> None:
    """Run every running campaign unattended: the dispatch loop and the carrier webhooks.

    Stops cleanly on SIGTERM or Ctrl-C: the requests under way finish and are recorded
    first. Every node registers with a heartbeat; several may share one PostgreSQL
    database, and each takes back what a stopped node held. The carrier,
    webhook address and tick come from the settings (carrier, webhook_host, webhook_port,
    public_url, tick_seconds; see config/dialer.toml).
    """
    run(serve_forever)
    click.echo("Stopped.")


# --- users ----------------------------------------------------------------------------


@main.group()
def users() -> None:
    """Manage the people who act on a company's lists."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--can-remove-dnc", is_flag=True, help="May take numbers off company lists.")
@company_option
def users_add(name: str, role: str, can_remove_dnc: bool, company: str | None) -> None:
    """Add a user NAME with a role. Admins may always remove DNC entries."""

    async def body(app: App) -> None:
        async with app.transaction() as conn:
            owner = await company_of(app, conn, company)
            try:
                await accounts.add_user(conn, owner, name, Role(role), can_remove_dnc, utcnow())
            except IntegrityError as error:
                raise click.ClickException(f"a user named {name!r} already exists") from error
        click.echo(f"User {name!r} added as {role}.")

    run(body)


# --- company DNC lists ------------------------------------------------------------------


@main.group()
def dnc() -> None:
    """The company Do-Not-Call (dnc) and Do-Not-Text (dnt) lists."""


@dnc.command("add")
@click.argument("numbers", nargs=-1, required=True)
@list_option
@click.option("--reason", default="", help="Why the numbers are blocked.")
@click.option("--by", "by", default="cli", show_default=True, help="Who adds them.")
@company_option
@json_option
def dnc_add(
    numbers: tuple[str, ...],
    list_name: str,
    reason: str,
    by: str,
    company: str | None,
    as_json: bool,
) -> None:
    """Add NUMBERS (any format) to a company list. Invalid input changes nothing."""

    async def body(app: App) -> None:
        async with app.transaction() as conn:
            owner = await company_of(app, conn, company)
            wanted = normalize_all(numbers, owner.default_region)
            added = await registry.add_numbers(
                conn,
                owner,
                wanted,
                DncList(list_name),
                source=Source.MANUAL,
                reason=reason,
                actor=by,
                now=utcnow(),
            )
        already = sorted(set(wanted) - set(added))
        if as_json:
            emit_json({"added": added, "already_listed": already})
            return
        click.echo(f"Added {len(added)} to {list_name}; {len(already)} already listed.")

    run(body)


@dnc.command("remove")
@click.argument("numbers", nargs=-1, required=True)
@list_option
@click.option("--reason", required=True, help="Why the numbers may be contacted again.")
@click.option("--by", "by", required=True, help="User removing them (needs can_remove_dnc).")
@company_option
@json_option
def dnc_remove(
    numbers: tuple[str, ...],
    list_name: str,
    reason: str,
    by: str,
    company: str | None,
    as_json: bool,
) -> None:
    """Remove NUMBERS from a company list: needs a permitted user and a reason."""

    async def body(app: App) -> None:
        async with app.transaction() as conn:
            owner = await company_of(app, conn, company)
            wanted = normalize_all(numbers, owner.default_region)
            user = await accounts.find_user(conn, owner, by)
            removed = await registry.remove_numbers(
                conn,
                owner,
                wanted,
                DncList(list_name),
                reason=reason,
                user=user,
                by=by,
                now=utcnow(),
            )
        missing = sorted(set(wanted) - set(removed))
        if as_json:
            emit_json({"removed": removed, "not_listed": missing})
            return
        click.echo(f"Removed {len(removed)} from {list_name}; {len(missing)} were not listed.")

    run(body)


@dnc.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@list_option
@click.option("--reason", default="", help="Reason recorded on every added entry.")
@click.option("--by", "by", default="cli", show_default=True, help="Who uploads the file.")
@company_option
@json_option
def dnc_import(
    file: Path, list_name: str, reason: str, by: str, company: str | None, as_json: bool
) -> None:
    """Upload a CSV or XLSX list: only the first column of the first sheet is read.

    A header row and blank rows are skipped; invalid rows are reported and skipped;
    numbers already listed or repeated in the file are counted. A file that cannot be
    read changes nothing.
    """

    async def body(app: App) -> None:
        with progress(f"Importing {file.name}:") as bar:
            task = bar.add_task("import")
            async with app.transaction() as conn:
                owner = await company_of(app, conn, company)
                summary = await registry.import_numbers(
                    conn,
                    owner,
                    sheets.iter_first_column(file),
                    DncList(list_name),
                    reason=reason or f"upload of {file.name}",
                    actor=by,
                    now=utcnow(),
                    on_progress=lambda count: bar.advance(task, count),
                )
        report = asdict(summary)
        if as_json:
            emit_json(report)
            return
        click.echo(
            f"Read {summary.read:,} rows: {summary.added:,} added to {list_name}, "
            f"{summary.already_listed:,} already listed, "
            f"{summary.duplicates_in_file:,} duplicates in the file, "
            f"{summary.invalid_count:,} invalid."
        )
        if summary.invalid:
            print_table(
                ("row", "value", "error"), ((r.row, r.value, r.error) for r in summary.invalid)
            )

    run(body)


@dnc.command("check")
@click.argument("numbers", nargs=-1, required=True)
@click.option(
    "--channel",
    type=click.Choice([Channel.VOICE.value, Channel.SMS.value]),
    default="voice",
    show_default=True,
)
@company_option
@json_option
def dnc_check(numbers: tuple[str, ...], channel: str, company: str | None, as_json: bool) -> None:
    """Tell whether NUMBERS are blocked on a channel by the company lists."""

    async def body(app: App) -> list[dict[str, Any]]:
        async with app.transaction() as conn:
            owner = await company_of(app, conn, company)
            results = []
            for value in numbers:
                try:
                    number: str | None = normalize(value, owner.default_region).e164
                    error = None
                except InvalidNumber as invalid:
                    number, error = None, invalid.reason
                results.append({"input": value, "number": number, "error": error})
            valid = [r["number"] for r in results if r["number"]]
            found = await registry.blocked(conn, owner, valid, Channel(channel), utcnow())
        return [
            {
                "input": r["input"],
                "number": r["number"],
                "valid": r["number"] is not None,
                "blocked": r["number"] in found,
                "lists": [name.value for name in found.get(r["number"], [])],
                **({"error": r["error"]} if r["error"] else {}),
            }
            for r in results
        ]

    results = run(body)
    if as_json:
        emit_json(results)
        return
    print_table(
        ("input", "number", "verdict"),
        (
            (
                r["input"],
                r["number"],
                f"invalid: {r['error']}"
                if not r["valid"]
                else f"blocked by {', '.join(r['lists'])}"
                if r["blocked"]
                else "not listed",
            )
            for r in results
        ),
    )


EXPORT_COLUMNS = ("number", "list", "source", "reason", "added_by", "added_at", "expires_at")


@dnc.command("export")
@click.option(
    "--list",
    "list_name",
    type=click.Choice([name.value for name in DncList]),
    help="One list only (default: both).",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to FILE instead of standard output.",
)
@company_option
def dnc_export(list_name: str | None, output: Path | None, company: str | None) -> None:
    """Export the company lists as CSV (one row per live entry)."""

    async def body(app: App) -> int:
        count = 0
        with (
            output.open("w", newline="", encoding="utf-8") if output else nullcontext(sys.stdout)
        ) as stream:
            writer = csv.writer(stream)
            writer.writerow(EXPORT_COLUMNS)
            async with app.transaction() as conn:
                owner = await company_of(app, conn, company)
                chosen = DncList(list_name) if list_name else None
                async for entry in registry.entries(conn, owner, chosen, utcnow()):
                    writer.writerow(
                        (
                            entry.number,
                            entry.list_name,
                            entry.source,
                            entry.reason,
                            entry.added_by,
                            _iso(entry.added_at),
                            _iso(entry.expires_at),
                        )
                    )
                    count += 1
        return count

    count = run(body)
    if output:
        click.echo(f"Exported {count:,} entries to {output}.")


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


@dnc.command("log")
@click.option("--number", help="Only events for this number (any format).")
@click.option("--limit", type=click.IntRange(min=1), help="Only the newest N events.")
@company_option
@json_option
def dnc_log(number: str | None, limit: int | None, company: str | None, as_json: bool) -> None:
    """Show the audit trail: every add, removal and lead channel change."""

    async def body(app: App) -> list[dict[str, Any]]:
        async with app.transaction() as conn:
            owner = await company_of(app, conn, company)
            wanted = normalize(number, owner.default_region).e164 if number else None
            events = await registry.audit_events(conn, owner, number=wanted, limit=limit)
        return [asdict(event) for event in events]

    events = run(body)
    if as_json:
        emit_json(events)
        return
    print_table(
        ("at", "action", "list", "number", "lead", "channels", "source", "actor", "reason"),
        (
            (
                _iso(e["at"]),
                e["action"],
                e["list_name"],
                e["number"],
                e["lead_id"],
                e["channels"],
                e["source"],
                e["actor"],
                e["reason"],
            )
            for e in events
        ),
    )


# --- leads ------------------------------------------------------------------------------


@main.group("leads")
def leads_group() -> None:
    """Leads and each lead's own channel DNC (phone, SMS, email)."""


@leads_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--list", "lead_list", default="default", show_default=True, help="Lead list.")
@company_option
@json_option
def leads_import(file: Path, lead_list: str, company: str | None, as_json: bool) -> None:
    """Import leads from a CSV or XLSX with a header row.

    Columns: phone, first_name, last_name, email, state, postal_code, timezone,
    external_id (phone is required). A lead whose external_id exists is left unchanged.
    """

    async def body(app: App) -> None:
        records = sheets.iter_records(file, leads.LEAD_COLUMNS)
        with progress(f"Importing {file.name}:") as bar:
            task = bar.add_task("import")
            async with app.transaction() as conn:
                owner = await company_of(app, conn, company)
                summary = await leads.import_leads(
                    conn,
                    owner,
                    records,
                    lead_list,
                    utcnow(),
                    on_progress=lambda count: bar.advance(task, count),
                )
        if as_json:
            emit_json(asdict(summary))
            return
        click.echo(
            f"Read {summary.read:,} rows: {summary.added:,} leads added to {lead_list!r}, "
            f"{summary.already_present:,} already present, {summary.invalid_count:,} invalid."
        )
        if summary.invalid:
            print_table(
                ("row", "phone", "error"), ((r.row, r.value, r.error) for r in summary.invalid)
            )

    run(body)


@leads_group.command("dnc")
@click.argument("lead")
@click.option(
    "--channels",
    required=True,
    help='Blocked channels, e.g. "phone,sms"; "" clears them all. Others: email.',
)
@click.option("--reason", default="", help="Why.")
@click.option("--by", "by", default="cli", show_default=True, help="Who changes it.")
@company_option
def leads_dnc(lead: str, channels: str, reason: str, by: str, company: str | None) -> None:
    """Set which channels LEAD (id or external id) must not be contacted on.

    This is the lead's own DNC record; its status is not changed.
    """
    try:
        wanted = parse_lead_channels(channels)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--channels") from error

    async def body(app: App) -> None:
        async with app.transaction() as conn:
            owner = await company_of(app, conn, company)
            found = await _lead_or_fail(conn, owner, lead)
            await leads.set_lead_channels(
                conn, owner, found, wanted, reason=reason, by=by, now=utcnow()
            )
        shown = ", ".join(c.value for c in LeadChannel if c in wanted) or "none"
        click.echo(f"Lead {found.id}: blocked channels {shown}.")

    run(body)


async def _lead_or_fail(conn: Any, company: Company, ref: str) -> leads.Lead:
    found = await leads.find_lead(conn, company, ref)
    if found is None:
        raise click.ClickException(f"no lead with id or external id {ref!r}")
    return found


@leads_group.command("show")
@click.argument("lead")
@company_option
@json_option
def leads_show(lead: str, company: str | None, as_json: bool) -> None:
    """Show LEAD (id or external id; external id wins when both match)."""

    async def body(app: App) -> leads.Lead:
        async with app.transaction() as conn:
            owner = await company_of(app, conn, company)
            return await _lead_or_fail(conn, owner, lead)

    found = run(body)
    view = asdict(found)
    view["is_dnc"] = found.is_dnc
    if found.dnc is not None:
        view["dnc"]["channels"] = [c.value for c in LeadChannel if c in found.dnc.channels]
    if as_json:
        emit_json(view)
        return
    dnc_view = view.pop("dnc")
    print_table(("field", "value"), view.items())
    if dnc_view:
        click.echo(
            f"DNC: {', '.join(dnc_view['channels']) or 'no channel'} "
            f"(reason {dnc_view['reason']!r}, by {dnc_view['updated_by']}, "
            f"updated {_iso(dnc_view['updated_at'])})"
        )
