"""Campaigns and call statuses through the API: a definition sent as JSON fields or as the
TOML text `campaign create` reads, the lifecycle, a campaign's report, and its eligibility
now ("why isn't it dialling?"); the statuses book read and replaced whole."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field, field_validator

from campaigns import CampaignAction
from compliance import InvalidNumber, normalize
from dialer import tomltext
from dialer.api import paging
from dialer.api.reports import InstantParameter, keyed_page
from dialer.api.routing import Routes, respond
from dialer.api.schemas import Instant, PageQuery, Request, Text
from dialer.api.state import APP, CALLER
from dialer.services import campaigns as service
from dialer.services import reports
from dialer.services import statuses as status_service

ROUTES = Routes()
TOML = "application/toml"
FieldText = Annotated[Text, Field(max_length=500)]


# --- the shapes ------------------------------------------------------------------------


class Campaign(BaseModel):
    """A campaign's state and the limits of its definition (as `campaign list --json`)."""

    name: str
    state: Literal["draft", "running", "paused", "completed", "stopped"]
    channel: Literal["voice", "sms"]
    leads: str
    caller_id: str
    max_attempts: int
    max_concurrent: int
    attempts_per_second: int
    created_at: Instant
    updated_at: Instant


class CampaignDetail(Campaign):
    """A campaign and its TOML definition (as `campaign show --json`)."""

    definition: str


class CampaignPage(BaseModel):
    data: list[Campaign]
    next_cursor: str | None
    next_url: str | None


class CampaignPath(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class ActionPath(CampaignPath):
    action: Literal["start", "pause", "resume", "stop"]


class Window(Request):
    start: str = Field(description="Local time HH:MM.", examples=["09:00"])
    end: str = Field(description="Local time HH:MM, after start.", examples=["20:00"])
    days: list[str] | None = Field(None, description="mon ... sun (default: every day).")


class CampaignFields(Request):
    """A campaign's definition as JSON: the fields of its TOML (config/examples/README.md),
    each checked as `campaign create` checks the file. With `Content-Type:
    application/toml`, the body is that TOML text instead."""

    name: FieldText | None = None
    channel: str | None = Field(None, examples=["voice", "sms"])
    leads: FieldText | None = Field(None, description="The lead list it dials.")
    caller_id: FieldText | None = Field(None, description="The number it calls from, any format.")
    max_attempts: int | None = None
    max_concurrent: int | None = None
    attempts_per_second: int | None = None
    window: Window | None = None
    retry: dict[str, str] | None = Field(None, examples=[{"BUSY": "30m"}])
    sms_body: Annotated[Text, Field(max_length=2000)] | None = None
    ivr_optout_digit: FieldText | None = None
    ivr_prompt: FieldText | None = None

    @field_validator("caller_id")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return normalize(value).e164
        except InvalidNumber:
            return value  # the definition's own check names what is wrong


class CampaignChange(CampaignFields):
    """The fields to change, merged into the definition (null removes an optional one);
    with `Content-Type: application/toml`, the whole new definition."""


class Eligibility(BaseModel):
    """The gate run over the campaign's queue now: nothing logged, nothing changed."""

    campaign: str
    state: str
    at: Instant
    due: int = Field(description="Queued leads due now, each screened.")
    callable: int = Field(description="Those the gate allows now.")
    skipped: dict[str, int] = Field(description="The others, by first failing code.")
    permanent: int = Field(description="Skipped leads that waiting never helps.")
    next_eligible_at: Instant | None = Field(
        description="The earliest instant a waiting lead may be tried."
    )
    next_eligible_by_reason: dict[str, Instant | None] = Field(
        description="The same per first failing code (null: waiting does not help)."
    )
    not_due: int = Field(description="Queued leads waiting for a retry delay.")
    next_due_at: Instant | None
    in_flight: int = Field(description="Leads claimed or in an attempt now.")


class Report(BaseModel):
    """A campaign's figures (as `dialer report --format json`)."""

    campaign: str
    lead_list: str
    leads_in_queue: int
    leads_attempted: int
    leads_contacted: int
    leads_still_queued: int
    leads_not_contacted: int
    not_contacted_by_last_reason: dict[str, int]
    attempts_by_status: dict[str, int]
    skips_later_attempted: dict[str, int]
    skips_not_attempted_after: dict[str, int]
    dnc_added: dict[str, int]
    attempts_per_hour: dict[str, int]
    opt_outs: dict[str, int]


class StatusEntry(BaseModel):
    code: str = Field(max_length=50)
    label: FieldText | None = None
    final: bool | None = None
    actions: list[Annotated[Text, Field(max_length=100)]] | None = Field(
        None, examples=[["company_dnc", "lead_status:do_not_contact"]]
    )


class MapEntry(BaseModel):
    result: str = Field(max_length=50)
    digits: Annotated[Text, Field(max_length=20)] | None = None
    status: str = Field(max_length=50)


class StatusBookBody(Request):
    """The whole book, as `GET /statuses` shows it, checked as `dialer statuses load`
    checks a file. With `Content-Type: application/toml`, the body is that TOML text."""

    statuses: list[StatusEntry] = Field(max_length=200)
    map: list[MapEntry] = Field(max_length=200)


class Status(BaseModel):
    code: str
    label: str
    final: bool
    actions: list[str]


class Rule(BaseModel):
    result: str
    digits: str | None
    status: str


class StatusBook(BaseModel):
    """The call statuses and the outcome map (as `dialer statuses list --json`)."""

    statuses: list[Status]
    map: list[Rule]


# --- campaigns -------------------------------------------------------------------------


@ROUTES.route(
    "GET",
    "/campaigns",
    "The company's campaigns, in the order they were created",
    response=CampaignPage,
    query=PageQuery,
)
async def list_campaigns(request: web.Request, query: PageQuery) -> web.Response:
    found = await service.campaign_page(
        request.app[APP], request[CALLER], after=paging.after(query), limit=query.limit + 1
    )
    views = [(campaign.id, service.campaign_view(campaign)) for campaign in found]
    return respond(CampaignPage, keyed_page(request, views, query.limit))


@ROUTES.route(
    "POST",
    "/campaigns",
    "Create a draft campaign from its definition (as `campaign create`)",
    status=201,
    response=Campaign,
    body=CampaignFields,
    text_body=TOML,
    idempotent=True,
    errors=(403,),
)
async def create_campaign(
    request: web.Request, body: CampaignFields | None = None, text: str | None = None
) -> web.Response:
    definition = text if text is not None else tomltext.dumps(body.model_dump(exclude_none=True))
    created = await service.create_from_text(request.app[APP], request[CALLER], definition)
    return respond(Campaign, service.campaign_view(created), 201)


@ROUTES.route(
    "GET",
    "/campaigns/{name}",
    "A campaign and its definition (as `campaign show --json`)",
    response=CampaignDetail,
    path_model=CampaignPath,
)
async def show_campaign(request: web.Request, path: CampaignPath) -> web.Response:
    found = await service.find_campaign(request.app[APP], request[CALLER], path.name)
    return respond(CampaignDetail, service.campaign_detail(found))


@ROUTES.route(
    "PATCH",
    "/campaigns/{name}",
    "Change a draft or paused campaign's definition (409 in any other state)",
    response=CampaignDetail,
    path_model=CampaignPath,
    body=CampaignChange,
    text_body=TOML,
    errors=(403, 409),
)
async def update_campaign(
    request: web.Request,
    path: CampaignPath,
    body: CampaignChange | None = None,
    text: str | None = None,
) -> web.Response:
    changes: dict[str, Any] | None = None
    if body is not None:
        changes = body.model_dump(exclude_unset=True)
    changed = await service.update_campaign(
        request.app[APP], request[CALLER], path.name, changes=changes, definition=text
    )
    return respond(CampaignDetail, service.campaign_detail(changed))


@ROUTES.route(
    "POST",
    "/campaigns/{name}/{action}",
    "Start (checked against the statuses), pause, resume or stop a campaign",
    response=Campaign,
    path_model=ActionPath,
    errors=(403, 409),
)
async def change_state(request: web.Request, path: ActionPath) -> web.Response:
    changed = await service.change_state(
        request.app[APP], request[CALLER], path.name, CampaignAction(path.action)
    )
    return respond(Campaign, service.campaign_view(changed))


@ROUTES.route(
    "GET",
    "/campaigns/{name}/report",
    "A campaign's figures (as `dialer report --format json`)",
    response=Report,
    path_model=CampaignPath,
)
async def campaign_report(request: web.Request, path: CampaignPath) -> web.Response:
    found = await reports.campaign_report(request.app[APP], request[CALLER], path.name)
    return respond(Report, found.as_dict())


class EligibilityQuery(BaseModel):
    at: InstantParameter | None = Field(
        None, description="Screen as at this instant (default: now): the leads due then."
    )


@ROUTES.route(
    "GET",
    "/campaigns/{name}/eligibility",
    "Why is it dialling, or not: its queue screened by the gate now, changing nothing",
    response=Eligibility,
    path_model=CampaignPath,
    query=EligibilityQuery,
)
async def eligibility(
    request: web.Request, path: CampaignPath, query: EligibilityQuery
) -> web.Response:
    found = await service.eligibility(request.app[APP], request[CALLER], path.name, at=query.at)
    return respond(Eligibility, found.as_dict())


# --- call statuses ---------------------------------------------------------------------


@ROUTES.route(
    "GET",
    "/statuses",
    "The call statuses and the outcome map (as `dialer statuses list --json`)",
    response=StatusBook,
    errors=(409,),
)
async def show_statuses(request: web.Request) -> web.Response:
    book = await status_service.status_book(request.app[APP], request[CALLER])
    return respond(StatusBook, status_service.book_view(book))


@ROUTES.route(
    "PUT",
    "/statuses",
    "Replace the whole book (as `dialer statuses load`): one a running or paused campaign "
    "could not run with is refused",
    response=StatusBook,
    body=StatusBookBody,
    text_body=TOML,
    errors=(403,),
)
async def load_statuses(
    request: web.Request, body: StatusBookBody | None = None, text: str | None = None
) -> web.Response:
    if text is None:
        shown = body.model_dump(exclude_none=True)
        text = tomltext.dumps({"status": shown["statuses"], "map": shown["map"]})
    book = await status_service.load_from_text(request.app[APP], request[CALLER], text)
    return respond(StatusBook, status_service.book_view(book))
