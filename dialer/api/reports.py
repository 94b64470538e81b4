"""What the engine did, through the API: the skip log (as JSON pages, or CSV), the attempts
placed, a call status set after the fact, and the gate's dry run (`dialer check`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, field_validator

from compliance import Channel, Code, zones
from compliance.hours import check_instant
from dialer.api import paging
from dialer.api.routing import Routes, respond, stream_csv
from dialer.api.schemas import Instant, PageQuery, Request, Text
from dialer.api.state import APP, CALLER
from dialer.app import utcnow
from dialer.services import gate
from dialer.services import reports as service

ROUTES = Routes()
CSV = "text/csv"


def _in_range(moment: datetime) -> datetime:
    check_instant(moment)
    return moment


# An instant with its UTC offset, from 1970 to 2100, as every instant the CLI takes.
InstantParameter = Annotated[AwareDatetime, AfterValidator(_in_range)]
Name = Annotated[Text, Field(min_length=1, max_length=200)]


def keyed_page(
    request: web.Request, items: Sequence[tuple[int, Mapping[str, Any]]], limit: int
) -> dict[str, Any]:
    """The page of views whose position is not one of their fields: `(id, view)` pairs,
    fetched `limit` + 1 as for `paging.page`."""
    shown = paging.page(request, [{"id": key, "view": view} for key, view in items], limit)
    return {**shown, "data": [item["view"] for item in shown["data"]]}


# --- the shapes ------------------------------------------------------------------------


class Skip(BaseModel):
    """An attempt the gate refused, with every failing rule (as `dialer skips`)."""

    campaign: str | None
    lead_id: int | None
    external_id: str | None
    number: str = Field(description="E.164, or the input as given when it was no number.")
    channel: str
    reason: str = Field(description="The first failing code.")
    reasons: list[str] = Field(description="Every failing code, the first first.")
    rule: str
    detail: list[dict[str, Any]] = Field(description="Every failing rule: code, rule, detail.")
    decided_at: Instant


class SkipPage(BaseModel):
    data: list[Skip]
    next_cursor: str | None
    next_url: str | None


class Interaction(BaseModel):
    """An attempt placed and what came of it (as `dialer interactions`)."""

    id: int
    campaign: str | None
    lead_id: int | None
    external_id: str | None
    number: str
    channel: str
    result: str | None
    digits: str | None
    status: str | None
    placed_at: Instant
    ended_at: Instant | None


class InteractionPage(BaseModel):
    data: list[Interaction]
    next_cursor: str | None
    next_url: str | None


class SkipQuery(PageQuery):
    """The filters of `dialer skips`; `Accept: text/csv` answers every matching skip as CSV."""

    campaign: Name | None = Field(None, description="One campaign's skips.")
    reason: str | None = Field(
        None, max_length=50, description="Skips whose first failing code it is, e.g. COMPANY_DNC."
    )
    since: InstantParameter | None = Field(None, description="Decided at or after.")
    until: InstantParameter | None = Field(None, description="Decided before.")

    @field_validator("reason")
    @classmethod
    def _known_code(cls, value: str | None) -> str | None:
        if value is not None and value not in set(Code):
            raise ValueError(f"not a skip code; one of {', '.join(Code)}")
        return value


class InteractionQuery(PageQuery):
    campaign: Name | None = Field(None, description="One campaign's attempts.")


class AttemptPath(BaseModel):
    id: int = Field(ge=1, le=2**31 - 1)


class DispositionBody(Request):
    status: str = Field(min_length=1, max_length=50, description="A call status code.")


class Disposition(BaseModel):
    """The status set on the attempt, and the configured actions that fired."""

    id: int
    status: str
    final: bool
    actions: list[str]


class CheckBody(Request):
    """What `dialer check` takes: may `number` be called or texted at `at` (default: now)."""

    number: str = Field(min_length=1, max_length=100, description="Any format.")
    channel: Literal["voice", "sms"] = "voice"
    at: InstantParameter | None = None
    state: str | None = Field(None, max_length=60, description="The lead's state, e.g. CO.")
    timezone: str | None = Field(None, max_length=64, description="e.g. America/Denver.")
    lead: str | None = Field(None, max_length=200, description="A lead's id or external id.")
    campaign: Name | None = Field(None, description="Its window, attempt limit and channel.")

    @field_validator("state")
    @classmethod
    def _known_state(cls, value: str | None) -> str | None:
        return None if value is None else zones.known_state(value)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return None if value is None else zones.known_zone(value)


class Reason(BaseModel):
    code: str
    rule: str
    detail: dict[str, Any]


class Decision(BaseModel):
    """The gate's decision (as `dialer check --json`)."""

    number: str | None
    allowed: bool
    permanent: bool = Field(description="Waiting will not help.")
    reasons: list[Reason]
    zones: list[str]
    local_times: dict[str, str]
    next_eligible_at: Instant | None


# --- the routes ------------------------------------------------------------------------


@ROUTES.route(
    "GET",
    "/skips",
    "The skip log, in the order skips were logged; every matching skip as CSV with "
    "Accept: text/csv",
    response=SkipPage,
    query=SkipQuery,
    errors=(404,),
)
async def list_skips(request: web.Request, query: SkipQuery) -> web.StreamResponse:
    filters = {
        "campaign": query.campaign,
        "reason": query.reason,
        "since": query.since,
        "until": query.until,
    }
    if _wants_csv(request):
        return await _skips_csv(request, filters)
    found = await service.skip_page(
        request.app[APP],
        request[CALLER],
        **filters,
        after=paging.after(query),
        limit=query.limit + 1,
    )
    views = [(skip_id, row.as_dict()) for skip_id, row in found]
    return respond(SkipPage, keyed_page(request, views, query.limit))


def _wants_csv(request: web.Request) -> bool:
    accepted = [part.split(";")[0].strip() for part in request.headers.get("Accept", "").split(",")]
    return CSV in accepted and "application/json" not in accepted


async def _skips_csv(request: web.Request, filters: dict[str, Any]) -> web.StreamResponse:
    """Every matching skip, oldest first, as `dialer skips --format csv --all` writes it,
    streamed from one snapshot."""
    async with service.skip_log(request.app[APP], request[CALLER], **filters) as page:
        rows = (service.cells(row.as_dict(), service.SKIP_CSV) async for row in page.rows)
        return await stream_csv(request, "skips.csv", list(service.SKIP_CSV), rows)


@ROUTES.route(
    "GET",
    "/interactions",
    "The attempts placed, in the order they were made (as `dialer interactions`)",
    response=InteractionPage,
    query=InteractionQuery,
    errors=(404,),
)
async def list_interactions(request: web.Request, query: InteractionQuery) -> web.Response:
    found = await service.interaction_page(
        request.app[APP],
        request[CALLER],
        campaign=query.campaign,
        after=paging.after(query),
        limit=query.limit + 1,
    )
    views = [row.as_dict() for row in found]
    return respond(InteractionPage, paging.page(request, views, query.limit))


@ROUTES.route(
    "POST",
    "/interactions/{id}/disposition",
    "Set an attempt's call status after the fact: the status's configured actions fire",
    response=Disposition,
    path_model=AttemptPath,
    body=DispositionBody,
    errors=(403, 409),
)
async def set_disposition(
    request: web.Request, path: AttemptPath, body: DispositionBody
) -> web.Response:
    status = await service.set_disposition(request.app[APP], request[CALLER], path.id, body.status)
    return respond(
        Disposition,
        {
            "id": path.id,
            "status": status.code,
            "final": status.final,
            "actions": [str(action) for action in status.actions],
        },
    )


@ROUTES.route(
    "POST",
    "/check",
    "A dry run of the gate (as `dialer check --json`): may a number be contacted, and if "
    "not, why and from when",
    response=Decision,
    body=CheckBody,
    errors=(404,),
)
async def check(request: web.Request, body: CheckBody) -> web.Response:
    decision = await gate.check_attempt(
        request.app[APP],
        request[CALLER],
        body.number,
        channel=Channel(body.channel),
        at=body.at or utcnow(),
        state=body.state,
        timezone=body.timezone,
        lead=body.lead,
        campaign=body.campaign,
    )
    return respond(Decision, decision.as_dict())
