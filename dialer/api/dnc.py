"""The company Do-Not-Call and Do-Not-Text lists through the API: list, add, look up,
remove, check, upload, export and the audit trail, over dialer.services.dnc as the
`dialer dnc` commands are."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from compliance import Channel, DncList, Source
from dialer.api import paging
from dialer.api.errors import Problem
from dialer.api.routing import Routes, respond, stream_csv
from dialer.api.schemas import (
    DncAdd,
    DncAdded,
    DncCheck,
    DncPage,
    DncQuery,
    DncRecord,
    DncRemoveQuery,
    EventPage,
    EventQuery,
    ExportQuery,
    ImportForm,
    ImportSummary,
    NumberChecks,
    NumberPath,
)
from dialer.api.state import APP, CALLER, OBSERVER
from dialer.api.uploads import Upload
from dialer.services import dnc as service

ROUTES = Routes()

# An entry's position in its listing: its number and list, the listing's order.
_ENTRY_POSITION = re.compile(r"(\+[1-9][0-9]{1,14}):(dnc|dnt)")
# Export rows buffered before each write to the client.


def _list(name: str | None) -> DncList | None:
    return DncList(name) if name else None


@ROUTES.route(
    "GET",
    "/dnc",
    "The live entries of the company lists, in number order",
    response=DncPage,
    query=DncQuery,
    errors=(422,),
)
async def list_entries(request: web.Request, query: DncQuery) -> web.Response:
    match = paging.position(query, _ENTRY_POSITION)
    found = await service.entries_page(
        request.app[APP],
        request[CALLER],
        list_name=_list(query.list_name),
        number=query.number,
        source=Source(query.source) if query.source else None,
        added_after=query.added_after,
        after=None if match is None else (match[1], DncList(match[2])),
        limit=query.limit + 1,
    )
    views = [service.entry_view(entry) for entry in found]
    return respond(DncPage, paging.page(request, views, query.limit, _position))


def _position(view: dict[str, Any]) -> str:
    return f"{view['number']}:{view['list']}"


@ROUTES.route(
    "POST",
    "/dnc",
    "Add numbers to a list (managers): one invalid number refuses them all",
    status=201,
    also=(200,),
    response=DncAdded,
    body=DncAdd,
    idempotent=True,
    errors=(403,),
)
async def add_numbers(request: web.Request, body: DncAdd) -> web.Response:
    """201 when a number was added, 200 when every one was listed already."""
    added = await service.add_numbers(
        request.app[APP],
        request[CALLER],
        body.numbers,
        DncList(body.list_name),
        reason=body.reason,
        expires_at=body.expires_at,
        source=Source.API,
    )
    if added.added:
        listed = {(DncList(body.list_name), Source.API): len(added.added)}
        request.app[OBSERVER].listed(added.company, listed)
    return respond(DncAdded, added.as_dict(), 201 if added.added else 200)


@ROUTES.route(
    "POST",
    "/dnc/check",
    "Whether numbers (up to 1,000) are blocked on a channel by the company lists",
    response=NumberChecks,
    body=DncCheck,
)
async def check_numbers(request: web.Request, body: DncCheck) -> web.Response:
    checks = await service.check_numbers(
        request.app[APP], request[CALLER], body.numbers, Channel(body.channel)
    )
    views = {"data": [check.as_dict() for check in checks]}
    return respond(NumberChecks, views, check=False)


@ROUTES.route(
    "POST",
    "/dnc/imports",
    "Upload a CSV or XLSX list (managers): the first column of its first sheet",
    response=ImportSummary,
    upload=ImportForm,
    errors=(403,),
)
async def import_file(request: web.Request, upload: Upload, form: ImportForm) -> web.Response:
    """A file that cannot be read changes nothing (422 unreadable_file)."""
    summary = await service.import_file(
        request.app[APP],
        request[CALLER],
        upload.path,
        DncList(form.list_name),
        reason=form.reason,
        expires_at=form.expires_at,
        file_name=upload.name,
    )
    return respond(ImportSummary, service.import_view(summary))


@ROUTES.route(
    "GET",
    "/dnc/export",
    "Every live entry as CSV, spreadsheet-safe, as `dialer dnc export` writes it",
    response={"type": "string"},
    media_type="text/csv",
    query=ExportQuery,
)
async def export_entries(request: web.Request, query: ExportQuery) -> web.StreamResponse:
    app, caller = request.app[APP], request[CALLER]
    async with service.export_entries(app, caller, _list(query.list_name)) as entries:
        rows = (tuple(service.entry_view(entry).values()) async for entry in entries)
        return await stream_csv(request, "dnc.csv", service.EXPORT_COLUMNS, rows)


@ROUTES.route(
    "GET",
    "/dnc/events",
    "The audit trail, oldest first: every add, removal and lead channel change",
    response=EventPage,
    query=EventQuery,
    errors=(422,),
)
async def list_events(request: web.Request, query: EventQuery) -> web.Response:
    found = await service.events_page(
        request.app[APP],
        request[CALLER],
        number=query.number,
        after=paging.after(query),
        limit=query.limit + 1,
    )
    views = [service.event_view(event) for event in found]
    return respond(EventPage, paging.page(request, views, query.limit))


@ROUTES.route(
    "GET",
    "/dnc/{number}",
    "A number (any format, URL-encoded) on each list, and its audit history",
    response=DncRecord,
    path_model=NumberPath,
    errors=(422,),
)
async def show_number(request: web.Request, path: NumberPath) -> web.Response:
    """404 when the number is on no list and never was."""
    record = await service.number_record(request.app[APP], request[CALLER], path.number)
    if not record.known:
        raise Problem(404, "not_found", f"{record.number} is on no list and never was")
    return respond(DncRecord, record.as_dict())


@ROUTES.route(
    "DELETE",
    "/dnc/{number}",
    "Take a number off a list: an admin or a user who may remove, with a reason",
    status=204,
    path_model=NumberPath,
    query=DncRemoveQuery,
    errors=(403, 422),
)
async def remove_number(
    request: web.Request, path: NumberPath, query: DncRemoveQuery
) -> web.Response:
    removed = await service.remove_numbers(
        request.app[APP],
        request[CALLER],
        [path.number],
        DncList(query.list_name),
        reason=query.reason,
    )
    if not removed.removed:
        number = removed.not_listed[0]
        raise Problem(404, "not_found", f"{number} is not on the {query.list_name} list")
    return web.Response(status=204)
