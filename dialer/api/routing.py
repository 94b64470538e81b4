"""The API's routes, declared once: method, path, the models of the path, query and body,
the response, and whether the route needs a token. The router and the OpenAPI document are
both built from that list, and a request is validated by the models it shows."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterable, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from dialer.api.errors import Problem
from dialer.api.idempotency import once
from dialer.api.state import PUBLIC
from dialer.api.uploads import received
from dialer.csvfiles import CsvWriter

# A JSON body is small; uploads (multipart, streamed) have their own limit (uploads).
MAX_JSON_BODY = 64 * 1024
JSON = "application/json"

Handler = Callable[..., Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    status: int = 200
    # A model of the answer, a raw JSON schema, or None for no content.
    response: type[BaseModel] | Mapping[str, Any] | None = None
    # The answer's media type (a CSV export's is text/csv).
    media_type: str = JSON
    # Other successes it may answer, with the same content (a 200 beside a 201).
    also: tuple[int, ...] = ()
    path_model: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    # A multipart upload: the model of its text fields, beside its `file` (uploads).
    upload: type[BaseModel] | None = None
    # A media type the body may be sent in instead of JSON (a TOML definition): the handler
    # then gets the body's text as `text`, and no `body`.
    text_body: str | None = None
    public: bool = False
    # The Idempotency-Key mechanism (dialer.api.idempotency) guards it.
    idempotent: bool = False
    # Problem statuses it may answer beyond those its declaration implies (a 403, a 503).
    errors: tuple[int, ...] = ()

    @property
    def name(self) -> str:
        return self.handler.__name__

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """Validate what the route declares, then call its handler with the models."""
        arguments: dict[str, Any] = {}
        if self.path_model is not None:
            try:
                arguments["path"] = self.path_model.model_validate(dict(request.match_info))
            except ValidationError as error:  # a path that names nothing of ours
                raise Problem(404, "not_found", f"no such resource: {request.path}") from error
        if self.query is not None:
            arguments["query"] = _validated(self.query, dict(request.query), 400, "query")
        shown: Any = None
        if self.text_body is not None and request.content_type == self.text_body:
            shown = arguments["text"] = await read_text(request)
        elif self.body is not None:
            body = _validated(self.body, await read_json(request), 422, "body")
            arguments["body"] = body
            shown = body.model_dump(mode="json")
        if self.idempotent:
            return await once(request, shown, self.handler, arguments)
        if self.upload is not None:
            async with received(request) as upload:
                form = _validated(self.upload, upload.fields, 422, "form")
                return await self.handler(request, upload=upload, form=form, **arguments)
        return await self.handler(request, **arguments)


def _validated(model: type[BaseModel], value: Any, status: int, where: str) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError as error:
        raise Problem(
            status,
            "validation_failed",
            f"the {where} is not valid: {error.error_count()} error(s), each in `errors`",
            errors=[_field_error(item) for item in error.errors()],
        ) from error


def _field_error(item: Mapping[str, Any]) -> dict[str, str]:
    where = ".".join(str(part) for part in item["loc"]) or "body"
    return {"field": where, "message": item["msg"], "type": item["type"]}


async def read_json(request: web.Request) -> Any:
    """The request's JSON body, of at most MAX_JSON_BODY bytes: 413, 415 or 400 else."""
    if request.content_type != JSON:
        raise Problem(415, "unsupported_media_type", f"send the body as {JSON}")
    raw = await _read_body(request)
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError) as error:
        raise Problem(400, "malformed_json", f"the body is not JSON: {error}") from error


async def read_text(request: web.Request) -> str:
    """The request's body as UTF-8 text, of at most MAX_JSON_BODY bytes: 413 or 400 else."""
    raw = await _read_body(request)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise Problem(400, "malformed_text", f"the body is not UTF-8 text: {error}") from error


async def _read_body(request: web.Request) -> bytes:
    if (request.content_length or 0) > MAX_JSON_BODY:
        raise _too_large()
    try:
        return await request.clone(client_max_size=MAX_JSON_BODY).read()
    except web.HTTPRequestEntityTooLarge as error:
        raise _too_large() from error


def _too_large() -> Problem:
    return Problem(413, "payload_too_large", f"a JSON body has at most {MAX_JSON_BODY:,} bytes")


def respond(
    model: type[BaseModel],
    value: Mapping[str, Any],
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    *,
    check: bool = True,
) -> web.Response:
    """`value` (a service's view) as the JSON answer, checked against its model; a key
    the view leaves out stays out (an optional field is absent, not null).

    `check=False` writes the view as it is, for an answer of a thousand items that must be
    fast: checking it would double its cost. Its model still documents it, and the
    schema test (tests/test_api_schema.py) holds the answers to it."""
    if not check:
        return web.json_response(value, status=status, headers=headers)
    checked = model.model_validate(value)
    # pydantic writes the JSON itself: a third of the time of model_dump and json.dumps.
    body = checked.model_dump_json(by_alias=True, exclude_unset=True).encode()
    return web.Response(body=body, status=status, headers=headers, content_type=JSON)


# A CSV answer is sent in pieces of about this many characters, as its rows come.
CSV_CHUNK = 64 * 1024


async def stream_csv(
    request: web.Request,
    file_name: str,
    columns: Sequence[str],
    rows: AsyncIterable[Sequence[Any]],
) -> web.StreamResponse:
    """`rows` as a CSV download, every cell spreadsheet-safe (CsvWriter), streamed: memory
    stays flat however many rows come."""
    answer = web.StreamResponse(
        headers={"Content-Disposition": f'attachment; filename="{file_name}"'}
    )
    answer.content_type, answer.charset = "text/csv", "utf-8"
    await answer.prepare(request)
    buffer = io.StringIO()
    writer = CsvWriter(buffer, columns, number_columns={"number"})
    async for row in rows:
        writer.write(row)
        if buffer.tell() >= CSV_CHUNK:
            await answer.write(buffer.getvalue().encode())
            buffer.seek(0)
            buffer.truncate()
    await answer.write(buffer.getvalue().encode())
    await answer.write_eof()
    return answer


@dataclass(slots=True)
class Routes:
    endpoints: list[Endpoint] = field(default_factory=list)

    def route(self, method: str, path: str, summary: str, **options: Any) -> Callable:
        def register(handler: Handler) -> Handler:
            self.endpoints.append(Endpoint(method, path, handler, summary, **options))
            return handler

        return register

    def __iter__(self) -> Iterator[Endpoint]:
        return iter(self.endpoints)

    def add_to(self, api: web.Application) -> None:
        for endpoint in self.endpoints:
            api.router.add_route(endpoint.method, endpoint.path, endpoint.serve, name=endpoint.name)
        api[PUBLIC] = frozenset(endpoint.name for endpoint in self.endpoints if endpoint.public)
