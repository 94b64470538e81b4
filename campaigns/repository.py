"""Campaigns and call-status books in storage, for one company at a time."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import ColumnElement, Row, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns import queue
from campaigns.definitions import CampaignSpec, check_optout_digit, check_retry_statuses
from campaigns.definitions import parse_campaign as _parse_campaign
from campaigns.lifecycle import CampaignAction, CampaignState, InvalidTransition, transition
from campaigns.statuses import DEFAULT_STATUSES_PATH, InvalidDefinition, StatusBook
from campaigns.statuses import parse_statuses as _parse_statuses
from campaigns.tables import campaign_leads, campaigns, status_books
from compliance import Attempt, CampaignLimits, Company, leads, numbers
from compliance.tables import companies, in_batch

_UNDER_WAY = (CampaignState.RUNNING, CampaignState.PAUSED)
log = structlog.get_logger("campaigns")


class UnknownCampaign(LookupError):
    """No campaign of that name in the company."""


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    name: str
    state: CampaignState
    spec: CampaignSpec
    definition: str
    created_at: datetime
    updated_at: datetime

    @property
    def limits(self) -> CampaignLimits:
        """What the compliance gate needs to know of this campaign."""
        return CampaignLimits(
            id=self.id,
            name=self.name,
            max_attempts=self.spec.max_attempts,
            window=self.spec.window,
        )

    def attempt(self, lead: queue.QueuedLead) -> Attempt:
        """The attempt this campaign makes to a lead of its queue, as the gate screens it."""
        return Attempt(
            address=lead.phone,
            channel=self.spec.channel,
            lead_id=lead.lead_id,
            lead_timezone=lead.timezone or None,
            lead_state=lead.state or None,
            campaign=self.limits,
        )


def parse_campaign_text(definition: str) -> CampaignSpec:
    """A campaign definition from its TOML text."""
    try:
        return _parse_campaign(tomllib.loads(definition))
    except tomllib.TOMLDecodeError as error:
        raise InvalidDefinition(f"not valid TOML: {error}") from None


def parse_status_text(definition: str) -> StatusBook:
    """A status book from its TOML text."""
    try:
        return _parse_statuses(tomllib.loads(definition))
    except tomllib.TOMLDecodeError as error:
        raise InvalidDefinition(f"not valid TOML: {error}") from None


def check_against_statuses(spec: CampaignSpec, book: StatusBook) -> None:
    """What a campaign needs of the company's statuses to run: a retry delay for each status
    it retries, and an opt-out key whose status blocks the number."""
    check_retry_statuses(spec, book)
    check_optout_digit(spec, book)


async def create_campaign(
    conn: AsyncConnection, company: Company, definition: str, now: datetime
) -> Campaign:
    """Store a checked definition as a draft campaign, registering its caller_id as one of
    the company's sending numbers; a taken name, a lead list the company does not have or a
    caller_id another company owns is refused."""
    spec = parse_campaign_text(definition)
    check_retry_statuses(spec, await status_book(conn, company))
    await _require_list(conn, company, spec.leads)
    try:
        await numbers.add_sending_numbers(conn, company, [spec.caller_id], now)
    except numbers.NumberOwnedElsewhere as error:
        raise InvalidDefinition(f"caller_id: {error}") from None
    try:
        campaign_id = (
            await conn.execute(
                insert(campaigns)
                .values(
                    company_id=company.id,
                    name=spec.name,
                    state=CampaignState.DRAFT.value,
                    definition=definition,
                    created_at=now,
                    updated_at=now,
                )
                .returning(campaigns.c.id)
            )
        ).scalar_one()
    except IntegrityError as error:
        raise InvalidDefinition(f"a campaign named {spec.name!r} already exists") from error
    log.info("campaign.created", company=company.name, campaign=spec.name, id=campaign_id)
    return await find_campaign(conn, company, spec.name)


async def _lock_campaigns(conn: AsyncConnection, *where: ColumnElement[bool]) -> None:
    """Hold the matching campaign rows until the transaction ends (PostgreSQL; SQLite has
    one writer): a change of state and the queue rows it counts, or adds, then agree."""
    await conn.execute(select(campaigns.c.id).where(*where).with_for_update())


async def _lock_status_book(conn: AsyncConnection, company: Company) -> None:
    """Hold the company's statuses until the transaction ends, so that a campaign start
    and a statuses load each check against what the other committed."""
    await conn.execute(
        select(status_books.c.company_id)
        .where(status_books.c.company_id == company.id)
        .with_for_update()
    )


async def find_campaign(conn: AsyncConnection, company: Company, name: str) -> Campaign:
    row = (
        await conn.execute(
            select(campaigns).where(campaigns.c.company_id == company.id, campaigns.c.name == name)
        )
    ).first()
    if row is None:
        raise UnknownCampaign(f"no campaign named {name!r}")
    return _campaign(row)


async def find_campaign_by_id(conn: AsyncConnection, campaign_id: int) -> Campaign:
    row = (await conn.execute(select(campaigns).where(campaigns.c.id == campaign_id))).one()
    return _campaign(row)


async def running_campaigns(conn: AsyncConnection) -> list[tuple[Company, Campaign]]:
    """Every running campaign of every company, for the scheduler."""
    rows = await conn.execute(
        select(campaigns, companies.c.name.label("company_name"), companies.c.default_region)
        .join(companies, companies.c.id == campaigns.c.company_id)
        .where(campaigns.c.state == CampaignState.RUNNING.value)
        .order_by(campaigns.c.id)
    )
    return [(_company(row), _campaign(row)) for row in rows]


async def campaigns_by_id(
    conn: AsyncConnection, campaign_ids: Sequence[int]
) -> dict[int, tuple[Company, Campaign]]:
    """The campaigns with these ids, with their companies; one query."""
    if not campaign_ids:
        return {}
    rows = await conn.execute(
        select(campaigns, companies.c.name.label("company_name"), companies.c.default_region)
        .join(companies, companies.c.id == campaigns.c.company_id)
        .where(in_batch(campaigns.c.id, sorted(set(campaign_ids)), conn.dialect.name))
    )
    return {row.id: (_company(row), _campaign(row)) for row in rows}


async def campaigns_in_flight(conn: AsyncConnection) -> list[tuple[Company, Campaign]]:
    """Every campaign, whatever its state, with leads claimed or in flight."""
    busy = select(campaign_leads.c.campaign_id).where(
        campaign_leads.c.state.in_([queue.CLAIMED, queue.IN_FLIGHT])
    )
    rows = await conn.execute(
        select(campaigns, companies.c.name.label("company_name"), companies.c.default_region)
        .join(companies, companies.c.id == campaigns.c.company_id)
        .where(campaigns.c.id.in_(busy))
        .order_by(campaigns.c.id)
    )
    return [(_company(row), _campaign(row)) for row in rows]


async def list_campaigns(conn: AsyncConnection, company: Company) -> list[Campaign]:
    rows = await conn.execute(
        select(campaigns).where(campaigns.c.company_id == company.id).order_by(campaigns.c.name)
    )
    return [_campaign(row) for row in rows]


async def campaign_page(
    conn: AsyncConnection, company: Company, *, after: int | None, limit: int
) -> list[Campaign]:
    """At most `limit` of the company's campaigns in id (creation) order, after the id
    `after` (None: from the first)."""
    query = select(campaigns).where(campaigns.c.company_id == company.id)
    if after is not None:
        query = query.where(campaigns.c.id > after)
    rows = await conn.execute(query.order_by(campaigns.c.id).limit(limit))
    return [_campaign(row) for row in rows]


# What may be changed: a draft anything but its name; a paused campaign neither the list
# nor the channel its queue was built from.
_EDITABLE = (CampaignState.DRAFT, CampaignState.PAUSED)


async def update_campaign(
    conn: AsyncConnection,
    company: Company,
    name: str,
    edit: Callable[[str], str],
    now: datetime,
) -> Campaign:
    """Replace the definition of a draft or paused campaign (InvalidTransition for any
    other) with `edit` of it, checked as a creation checks it, and a paused one's also as
    a start does."""
    await _lock_campaigns(conn, campaigns.c.company_id == company.id, campaigns.c.name == name)
    campaign = await find_campaign(conn, company, name)
    if campaign.state not in _EDITABLE:
        raise InvalidTransition(
            f"cannot change a {campaign.state} campaign; only a draft or paused one changes"
        )
    definition = edit(campaign.definition)
    spec = parse_campaign_text(definition)
    if spec.name != campaign.name:
        raise InvalidDefinition(f"name: a campaign keeps its name ({campaign.name!r})")
    if campaign.state is CampaignState.PAUSED:
        for kept in ("leads", "channel"):
            if getattr(spec, kept) != getattr(campaign.spec, kept):
                raise InvalidDefinition(
                    f"{kept}: a paused campaign keeps its {kept} (its queue holds them)"
                )
        await _lock_status_book(conn, company)
        check_against_statuses(spec, await status_book(conn, company))
    else:
        check_retry_statuses(spec, await status_book(conn, company))
        await _require_list(conn, company, spec.leads)
    try:
        await numbers.add_sending_numbers(conn, company, [spec.caller_id], now)
    except numbers.NumberOwnedElsewhere as error:
        raise InvalidDefinition(f"caller_id: {error}") from None
    await conn.execute(
        update(campaigns)
        .where(campaigns.c.id == campaign.id)
        .values(definition=definition, updated_at=now)
    )
    log.info("campaign.changed", company=company.name, campaign=name)
    return await find_campaign(conn, company, name)


async def _require_list(conn: AsyncConnection, company: Company, lead_list: str) -> None:
    if not await leads.list_exists(conn, company, lead_list):
        raise InvalidDefinition(
            f"leads: the company has no lead list {lead_list!r}; "
            f"import its leads first with `dialer leads import FILE --list {lead_list}`"
        )


def _company(row: Row) -> Company:
    return Company(row.company_id, row.company_name, row.default_region)


def _campaign(row: Row) -> Campaign:
    return Campaign(
        id=row.id,
        name=row.name,
        state=CampaignState(row.state),
        spec=parse_campaign_text(row.definition),
        definition=row.definition,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def change_state(
    conn: AsyncConnection,
    company: Company,
    name: str,
    action: CampaignAction,
    now: datetime,
) -> Campaign:
    """Apply a lifecycle action; a start checks the definition against today's statuses."""
    await _lock_campaigns(conn, campaigns.c.company_id == company.id, campaigns.c.name == name)
    campaign = await find_campaign(conn, company, name)
    new_state = transition(campaign.state, action)
    if action is CampaignAction.START:
        await _lock_status_book(conn, company)
        check_against_statuses(campaign.spec, await status_book(conn, company))
        await queue.enqueue_list(conn, company.id, campaign.id, campaign.spec.leads, now)
    await conn.execute(
        update(campaigns)
        .where(campaigns.c.id == campaign.id)
        .values(state=new_state.value, updated_at=now)
    )
    log.info(
        "campaign.state_changed",
        company=company.name,
        campaign=name,
        action=action.value,
        state=new_state.value,
    )
    return await find_campaign(conn, company, name)


async def complete_if_done(
    conn: AsyncConnection, company: Company, campaign: Campaign, now: datetime
) -> bool:
    """Complete the campaign once none of its leads is queued or under way; leads an
    import is adding meanwhile are waited for, and then keep it running."""
    await _lock_campaigns(conn, campaigns.c.id == campaign.id)
    states = await queue.counts(conn, campaign.id)
    if any(states.get(s) for s in (queue.QUEUED, queue.CLAIMED, queue.IN_FLIGHT)):
        return False
    await change_state(conn, company, campaign.name, CampaignAction.COMPLETE, now)
    return True


async def enroll_new_leads(
    conn: AsyncConnection, company: Company, lead_list: str, now: datetime
) -> dict[str, int]:
    """Queue, due now, the leads of `lead_list` that its running or paused campaigns do not
    have yet (imported after their start); returns how many each campaign took."""
    await _lock_campaigns(
        conn, campaigns.c.company_id == company.id, campaigns.c.state.in_(_UNDER_WAY)
    )
    enrolled = {}
    for campaign in await list_campaigns(conn, company):
        if campaign.state in _UNDER_WAY and campaign.spec.leads == lead_list:
            enrolled[campaign.name] = await queue.enqueue_list(
                conn, company.id, campaign.id, lead_list, now
            )
    return enrolled


class NoStatuses(LookupError):
    """The company has no call statuses yet."""


async def status_book(conn: AsyncConnection, company: Company) -> StatusBook:
    """The company's call statuses and outcome map."""
    definition = (
        await conn.execute(
            select(status_books.c.definition).where(status_books.c.company_id == company.id)
        )
    ).scalar()
    if definition is None:
        raise NoStatuses(
            f"company {company.name!r} has no call statuses: run `dialer init` "
            "or `dialer statuses load FILE`"
        )
    return parse_status_text(definition)


async def seed_status_book(
    conn: AsyncConnection, company: Company, now: datetime
) -> StatusBook | None:
    """Give a company the shipped default statuses unless it has its own already."""
    try:
        await status_book(conn, company)
    except NoStatuses:
        default = DEFAULT_STATUSES_PATH.read_text(encoding="utf-8")
        return await save_status_book(conn, company, default, "dialer init", now)
    return None


async def save_status_book(
    conn: AsyncConnection, company: Company, definition: str, by: str, now: datetime
) -> StatusBook:
    """Check and store a company's statuses, replacing the previous book; a book that a
    running or paused campaign could not run with is refused, naming the campaign."""
    book = parse_status_text(definition)
    await _lock_status_book(conn, company)
    for campaign in await list_campaigns(conn, company):
        if campaign.state in _UNDER_WAY:
            try:
                check_against_statuses(campaign.spec, book)
            except InvalidDefinition as error:
                raise InvalidDefinition(
                    f"campaign {campaign.name!r} is {campaign.state} and needs: {error}"
                ) from None
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    values = {"definition": definition, "loaded_by": by, "loaded_at": now}
    statement = dialect.insert(status_books).values(company_id=company.id, **values)
    await conn.execute(statement.on_conflict_do_update(index_elements=["company_id"], set_=values))
    log.info("statuses.loaded", company=company.name, statuses=len(book.statuses), by=by)
    return book
