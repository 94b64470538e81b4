"""Leads through the API: listed by number, external id and list, pushed in batches as an
import, read as `dialer leads show` shows them, edited, their own channel DNC set, their
attempts and skips."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field, model_validator

from compliance import LeadChannel
from dialer.api import paging
from dialer.api.reports import Interaction, InteractionPage, Skip, SkipPage, keyed_page
from dialer.api.routing import Routes, respond
from dialer.api.schemas import Instant, PageQuery, Request, Text
from dialer.api.state import APP, CALLER
from dialer.api.uploads import Upload
from dialer.services import leads as service

ROUTES = Routes()
# A JSON batch stays under the JSON body limit; bigger pushes are uploads.
MAX_BATCH = 1_000

ShortText = Annotated[Text, Field(max_length=200)]
ListName = Annotated[Text, Field(min_length=1, max_length=200)]


# --- the shapes ------------------------------------------------------------------------


class LeadDnc(BaseModel):
    """The lead's own DNC record: the channels it blocks."""

    channels: list[Literal["phone", "sms", "email"]]
    reason: str
    updated_by: str
    created_at: Instant
    updated_at: Instant


class Lead(BaseModel):
    """A lead (as `dialer leads show --json` shows its fields)."""

    id: int
    external_id: str | None
    lead_list: str
    first_name: str
    last_name: str
    phone_raw: str = Field(description="The number as imported.")
    phone: str = Field(description="E.164.")
    email: str
    state: str
    postal_code: str
    timezone: str
    status: str
    dnc: LeadDnc | None
    duplicate_of: int | None
    is_dnc: bool = Field(description="Its own DNC record blocks a channel.")


class ListBlock(BaseModel):
    """A company list holding the lead's number now, and the channels it blocks."""

    list: Literal["dnc", "dnt"]
    blocks: list[str]
    source: str
    reason: str
    added_by: str
    added_at: Instant
    expires_at: Instant | None


class LeadDetail(Lead):
    """A lead's page: its fields, the company lists holding its number, and its newest 20
    attempts and skips, newest first."""

    company_lists: list[ListBlock]
    attempts: list[Interaction]
    skips: list[Skip]


class LeadPage(BaseModel):
    data: list[Lead]
    next_cursor: str | None
    next_url: str | None


class LeadQuery(PageQuery):
    number: str | None = Field(None, min_length=1, max_length=100, description="Any format.")
    external_id: ShortText | None = None
    lead_list: ListName | None = Field(None, alias="list", description="One lead list's.")


class LeadPath(BaseModel):
    id: int = Field(ge=1, le=2**31 - 1)


class LeadRecord(Request):
    """A lead row, as an import file's columns."""

    phone: str = Field(min_length=1, max_length=100, description="Any format.")
    first_name: ShortText = ""
    last_name: ShortText = ""
    email: Annotated[Text, Field(max_length=320)] = ""
    state: Annotated[Text, Field(max_length=60)] = ""
    postal_code: Annotated[Text, Field(max_length=20)] = ""
    timezone: Annotated[Text, Field(max_length=64)] = ""
    external_id: ShortText = Field("", description="A known lead's: that lead is updated.")


class LeadBatch(Request):
    """Leads to import into a list, as `dialer leads import` imports a file's rows (row n
    is the n-th lead, from 1)."""

    lead_list: ListName = Field("default", alias="list")
    leads: list[LeadRecord] = Field(min_length=1, max_length=MAX_BATCH)


class RowReport(BaseModel):
    row: int
    value: str
    error: str


class LeadsImported(BaseModel):
    """What an import did (as `dialer leads import --json`)."""

    read: int
    invalid: list[RowReport] = Field(description="The first invalid rows.")
    invalid_count: int
    added: int
    updated: int
    unchanged: int
    duplicates: list[RowReport] = Field(description="The first rows of a number the list has.")
    duplicate_count: int
    enrolled: dict[str, int] = Field(description="New leads queued, by campaign.")


class LeadChange(Request):
    """The fields to change; each is checked as an import checks it."""

    first_name: ShortText | None = None
    last_name: ShortText | None = None
    email: Annotated[Text, Field(max_length=320)] | None = None
    state: Annotated[Text, Field(max_length=60)] | None = None
    postal_code: Annotated[Text, Field(max_length=20)] | None = None
    timezone: Annotated[Text, Field(max_length=64)] | None = None
    status: Annotated[Text, Field(min_length=1, max_length=50)] | None = None
    phone: Annotated[Text, Field(min_length=1, max_length=100)] | None = Field(
        None, description="Any format; a number the lead's list has already is refused."
    )

    @model_validator(mode="after")
    def _something(self) -> LeadChange:
        if not self.model_fields_set:
            raise ValueError("name at least one field to change")
        if any(getattr(self, name) is None for name in self.model_fields_set):
            raise ValueError("a field to change is text, not null")
        return self


class LeadDncBody(Request):
    channels: list[Literal["phone", "sms", "email"]] = Field(
        description="Exactly the channels blocked from now on; [] clears them.", max_length=3
    )
    reason: str = Field("", max_length=500)


class LeadChannels(BaseModel):
    lead_id: int
    channels: list[str]


# --- the routes ------------------------------------------------------------------------


@ROUTES.route(
    "GET",
    "/leads",
    "The company's leads in id order, by number, external id or list",
    response=LeadPage,
    query=LeadQuery,
    errors=(422,),
)
async def list_leads(request: web.Request, query: LeadQuery) -> web.Response:
    found = await service.list_leads(
        request.app[APP],
        request[CALLER],
        number=query.number,
        external_id=query.external_id,
        lead_list=query.lead_list,
        after=paging.after(query),
        limit=query.limit + 1,
    )
    views = [service.lead_view(lead) for lead in found]
    return respond(LeadPage, paging.page(request, views, query.limit))


@ROUTES.route(
    "POST",
    "/leads",
    "Import a batch of leads into a list, as an import file: each row added, updated, "
    "unchanged, a duplicate or invalid; new leads join the list's campaigns",
    response=LeadsImported,
    body=LeadBatch,
    idempotent=True,
    errors=(403,),
)
async def import_leads(request: web.Request, body: LeadBatch) -> web.Response:
    records = [record.model_dump() for record in body.leads]
    imported = await service.import_records(
        request.app[APP], request[CALLER], records, body.lead_list
    )
    return respond(LeadsImported, imported.as_dict())


class LeadUploadForm(Request):
    """The text fields beside the upload's `file` (a CSV or XLSX with a header row)."""

    lead_list: ListName = Field("default", alias="list")


@ROUTES.route(
    "POST",
    "/leads/imports",
    "Upload a lead file (a CSV or XLSX with a header row, and the `list`): imported as "
    "`dialer leads import` imports it",
    response=LeadsImported,
    upload=LeadUploadForm,
    errors=(403,),
)
async def upload_leads(request: web.Request, upload: Upload, form: LeadUploadForm) -> web.Response:
    """Streamed to a temporary file under the upload size cap; a file that cannot be read
    changes nothing (422 unreadable_file)."""
    imported = await service.import_file(
        request.app[APP], request[CALLER], upload.path, form.lead_list
    )
    return respond(LeadsImported, imported.as_dict())


@ROUTES.route(
    "GET",
    "/leads/{id}",
    "A lead's page (as `dialer leads show --json`)",
    response=LeadDetail,
    path_model=LeadPath,
)
async def show_lead(request: web.Request, path: LeadPath) -> web.Response:
    page = await service.lead_page(request.app[APP], request[CALLER], path.id)
    return respond(LeadDetail, page.as_dict())


@ROUTES.route(
    "PATCH",
    "/leads/{id}",
    "Change a lead's names, email, state, postal code, time zone, status or number",
    response=Lead,
    path_model=LeadPath,
    body=LeadChange,
    errors=(403, 409),
)
async def update_lead(request: web.Request, path: LeadPath, body: LeadChange) -> web.Response:
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    lead = await service.update_lead(request.app[APP], request[CALLER], path.id, changes)
    return respond(Lead, service.lead_view(lead))


@ROUTES.route(
    "PUT",
    "/leads/{id}/dnc",
    "Set the channels the lead's own DNC record blocks (its status is not changed)",
    response=LeadChannels,
    path_model=LeadPath,
    body=LeadDncBody,
    errors=(403,),
)
async def set_lead_dnc(request: web.Request, path: LeadPath, body: LeadDncBody) -> web.Response:
    channels = frozenset(LeadChannel(channel) for channel in body.channels)
    changed = await service.set_channels(
        request.app[APP], request[CALLER], path.id, channels, reason=body.reason
    )
    return respond(LeadChannels, changed.as_dict())


@ROUTES.route(
    "GET",
    "/leads/{id}/attempts",
    "The lead's attempts, in the order they were made",
    response=InteractionPage,
    path_model=LeadPath,
    query=PageQuery,
)
async def lead_attempts(request: web.Request, path: LeadPath, query: PageQuery) -> web.Response:
    found = await service.lead_attempts(
        request.app[APP], request[CALLER], path.id, after=paging.after(query), limit=query.limit + 1
    )
    views = [row.as_dict() for row in found]
    return respond(InteractionPage, paging.page(request, views, query.limit))


@ROUTES.route(
    "GET",
    "/leads/{id}/skips",
    "The lead's skips, in the order they were logged",
    response=SkipPage,
    path_model=LeadPath,
    query=PageQuery,
)
async def lead_skips(request: web.Request, path: LeadPath, query: PageQuery) -> web.Response:
    found = await service.lead_skips(
        request.app[APP], request[CALLER], path.id, after=paging.after(query), limit=query.limit + 1
    )
    views = [(skip_id, row.as_dict()) for skip_id, row in found]
    return respond(SkipPage, keyed_page(request, views, query.limit))
