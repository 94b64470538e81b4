"""State blackouts, sending numbers and the Spam list through the API, as the `dialer
blackouts`, `numbers` and `spam` commands: any user of the company reads them, managers
change them; ending a blackout early needs an admin or can_remove_dnc and a reason."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, Field

from dialer.api import paging
from dialer.api.errors import Problem
from dialer.api.routing import Routes, respond
from dialer.api.schemas import Instant, PageQuery, Request, Text
from dialer.api.state import APP, CALLER
from dialer.app import utcnow
from dialer.services import blackouts as blackout_service
from dialer.services import numbers as number_service
from dialer.services import spam as spam_service

ROUTES = Routes()

# Numbers one request may add: the CLI takes any more.
MAX_NUMBERS = 1000
MAX_NUMBER_TEXT = 100
MAX_TEXT = 500
# A page of a listing in number order ends at a number: the next starts after it.
_NUMBER_POSITION = re.compile(r"\+[1-9][0-9]{1,14}")


def _number_after(query: PageQuery) -> str | None:
    match = paging.position(query, _NUMBER_POSITION)
    return None if match is None else match[0]


def _number_page(request: web.Request, views: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    return paging.page(request, views, limit, key="number")


# --- blackouts --------------------------------------------------------------------------


class EarlyEnd(BaseModel):
    at: Instant = Field(description="When it stopped applying.")
    by: str
    reason: str
    entered_at: Instant


class Blackout(BaseModel):
    """As `dialer blackouts list --json` shows it; `ended` is null unless ended early."""

    state: str
    starts_at: Instant
    ends_at: Instant = Field(description="The declared end (exclusive).")
    reason: str
    source: str
    id: int
    ended: EarlyEnd | None


class BlackoutPage(BaseModel):
    data: list[Blackout]
    next_cursor: str | None
    next_url: str | None


class BlackoutQuery(PageQuery):
    all: bool = Field(False, description="Past blackouts too.")


class BlackoutCreate(Request):
    state: Text = Field(min_length=1, max_length=10, description="Postal code, e.g. LA.")
    starts_at: AwareDatetime | None = Field(None, description="Start (default: now).")
    ends_at: AwareDatetime = Field(description="End (exclusive).")
    source: Text = Field(
        min_length=1, max_length=MAX_TEXT, description="The declaration: a URL or order number."
    )
    reason: Text = Field("", max_length=MAX_TEXT, description="What it is, e.g. a storm's name.")


class BlackoutPath(BaseModel):
    id: int = Field(ge=1, le=2**31 - 1)


class BlackoutEnd(Request):
    at: AwareDatetime | None = Field(None, description="When it ends (default: now).")
    reason: Text = Field(
        min_length=1, max_length=MAX_TEXT, description="Why it ends early, e.g. the order."
    )


@ROUTES.route(
    "GET",
    "/blackouts",
    "The blackouts not over yet (all=true: past ones too), in the order entered",
    response=BlackoutPage,
    query=BlackoutQuery,
)
async def list_blackouts(request: web.Request, query: BlackoutQuery) -> web.Response:
    found = await blackout_service.blackouts_page(
        request.app[APP],
        request[CALLER],
        everything=query.all,
        after=paging.after(query),
        limit=query.limit + 1,
    )
    views = [blackout_service.blackout_view(blackout) for blackout in found]
    return respond(BlackoutPage, paging.page(request, views, query.limit))


@ROUTES.route(
    "POST",
    "/blackouts",
    "Add a blackout (managers): no calls or texts to the state from the next batch on",
    status=201,
    response=Blackout,
    body=BlackoutCreate,
    idempotent=True,
    errors=(403,),
)
async def add_blackout(request: web.Request, body: BlackoutCreate) -> web.Response:
    added = await blackout_service.add_blackout(
        request.app[APP],
        request[CALLER],
        body.state,
        body.starts_at or utcnow(),
        body.ends_at,
        source=body.source,
        reason=body.reason,
    )
    return respond(Blackout, blackout_service.blackout_view(added), 201)


@ROUTES.route(
    "POST",
    "/blackouts/{id}/end",
    "End a blackout early (an admin or can_remove_dnc, with a reason); its end is kept",
    response=Blackout,
    path_model=BlackoutPath,
    body=BlackoutEnd,
    errors=(403,),
)
async def end_blackout(request: web.Request, path: BlackoutPath, body: BlackoutEnd) -> web.Response:
    ended = await blackout_service.end_blackout(
        request.app[APP], request[CALLER], path.id, body.at or utcnow(), reason=body.reason
    )
    return respond(Blackout, blackout_service.blackout_view(ended))


# --- sending numbers --------------------------------------------------------------------


class SendingNumber(BaseModel):
    number: str = Field(description="E.164.")
    added_at: Instant
    added_by: str


class NumberPage(BaseModel):
    data: list[SendingNumber]
    next_cursor: str | None
    next_url: str | None


class NumbersAdd(Request):
    numbers: list[str] = Field(
        min_length=1, max_length=MAX_NUMBERS, description="In any format; all or none."
    )


class Registered(BaseModel):
    added: list[str] = Field(description="Now the company's (E.164).")
    already_registered: list[str]


@ROUTES.route(
    "GET",
    "/numbers",
    "The company's sending numbers, in number order",
    response=NumberPage,
    query=PageQuery,
)
async def list_sending_numbers(request: web.Request, query: PageQuery) -> web.Response:
    found = await number_service.list_numbers(
        request.app[APP], request[CALLER], after=_number_after(query), limit=query.limit + 1
    )
    views = [number_service.number_view(number) for number in found]
    return respond(NumberPage, _number_page(request, views, query.limit))


@ROUTES.route(
    "POST",
    "/numbers",
    "Register sending numbers (managers): one invalid or another company's refuses all",
    status=201,
    also=(200,),
    response=Registered,
    body=NumbersAdd,
    idempotent=True,
    errors=(403, 409),
)
async def add_sending_numbers(request: web.Request, body: NumbersAdd) -> web.Response:
    """201 when a number was registered, 200 when every one was the company's already."""
    added = await number_service.add_numbers(request.app[APP], request[CALLER], body.numbers)
    return respond(Registered, added.as_dict(), 201 if added.added else 200)


# --- the Spam list ----------------------------------------------------------------------


class SpamEntry(BaseModel):
    number: str = Field(description="E.164.")
    reason: str
    added_by: str
    added_at: Instant


class SpamEntryPage(BaseModel):
    data: list[SpamEntry]
    next_cursor: str | None
    next_url: str | None


class SpamAdd(Request):
    numbers: list[str] = Field(
        min_length=1, max_length=MAX_NUMBERS, description="In any format; all or none."
    )
    reason: Text = Field("", max_length=MAX_TEXT, description="Why their texts are unwanted.")


class SpamAdded(BaseModel):
    added: list[str] = Field(description="Now on the list (E.164).")
    already_listed: list[str]


class SpamNumberPath(BaseModel):
    # A number has a digit: /spam/events never matches.
    number: str = Field(min_length=1, max_length=MAX_NUMBER_TEXT, pattern="[0-9]")


class SpamRemoveQuery(BaseModel):
    reason: Text = Field(
        "", max_length=MAX_TEXT, description="Why its texts are wanted again (required)."
    )


class SpamEvent(BaseModel):
    id: int
    at: Instant
    action: str = Field(description="add or remove.")
    number: str
    actor: str
    reason: str


class SpamEventPage(BaseModel):
    data: list[SpamEvent]
    next_cursor: str | None
    next_url: str | None


class SpamEventQuery(PageQuery):
    number: str | None = Field(None, max_length=MAX_NUMBER_TEXT, description="Any format.")


@ROUTES.route(
    "GET",
    "/spam",
    "The Spam list (inbound texts ignored; it blocks nothing outbound), in number order",
    response=SpamEntryPage,
    query=PageQuery,
)
async def list_spam(request: web.Request, query: PageQuery) -> web.Response:
    found = await spam_service.entries_page(
        request.app[APP], request[CALLER], after=_number_after(query), limit=query.limit + 1
    )
    views = [spam_service.entry_view(entry) for entry in found]
    return respond(SpamEntryPage, _number_page(request, views, query.limit))


@ROUTES.route(
    "POST",
    "/spam",
    "Put numbers on the Spam list (managers): one invalid number refuses them all",
    status=201,
    also=(200,),
    response=SpamAdded,
    body=SpamAdd,
    idempotent=True,
    errors=(403,),
)
async def add_spam(request: web.Request, body: SpamAdd) -> web.Response:
    """201 when a number was added, 200 when every one was listed already."""
    added = await spam_service.add_numbers(
        request.app[APP], request[CALLER], body.numbers, reason=body.reason
    )
    return respond(SpamAdded, added.as_dict(), 201 if added.added else 200)


@ROUTES.route(
    "GET",
    "/spam/events",
    "The Spam list's audit trail (every add and removal), oldest first",
    response=SpamEventPage,
    query=SpamEventQuery,
    errors=(422,),
)
async def spam_events(request: web.Request, query: SpamEventQuery) -> web.Response:
    found = await spam_service.events_page(
        request.app[APP],
        request[CALLER],
        number=query.number,
        after=paging.after(query),
        limit=query.limit + 1,
    )
    views = [spam_service.event_view(event) for event in found]
    return respond(SpamEventPage, paging.page(request, views, query.limit))


@ROUTES.route(
    "DELETE",
    "/spam/{number}",
    "Take a number off the Spam list (managers), with a reason",
    status=204,
    path_model=SpamNumberPath,
    query=SpamRemoveQuery,
    errors=(403, 422),
)
async def remove_spam(
    request: web.Request, path: SpamNumberPath, query: SpamRemoveQuery
) -> web.Response:
    removed = await spam_service.remove_numbers(
        request.app[APP], request[CALLER], [path.number], reason=query.reason
    )
    if not removed.removed:
        raise Problem(404, "not_found", f"{removed.not_listed[0]} is not on the Spam list")
    return web.Response(status=204)
