"""Inbound texts and their review through the API, as `dialer inbound list|review|resolve`:
any user of the company reads them; a manager keeps an opt-out under review, releasing one
needs an admin or can_remove_dnc."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from compliance import MessageClass
from compliance.hours import check_instant
from dialer.api import paging
from dialer.api.routing import Routes, respond
from dialer.api.schemas import Instant, PageQuery, Request, Text
from dialer.api.state import APP, CALLER
from dialer.services import inbound as service

ROUTES = Routes()

ClassName = Literal[tuple(kind.value for kind in MessageClass)]  # type: ignore[valid-type]
ReviewState = Literal["none", "pending", "kept", "released"]
MAX_REASON = 500


class InboundMessage(BaseModel):
    """As `dialer inbound list --json` shows it: `review` is pending while it waits."""

    # "from" is a Python keyword: the field is `sender` here, `from` in JSON.
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    id: int
    message_sid: str
    received_at: Instant
    sender: str = Field(alias="from", description="E.164.")
    to: str = Field(description="The company's number it came to (E.164).")
    body: str
    classification: ClassName
    keyword: str | None = Field(description="What decided the classification.")
    spam: bool = Field(description="The sender is on the Spam list: nothing was done.")
    action: str = Field(description="What was done.")
    reply: str | None = Field(description="The text answered, null for none.")
    review: ReviewState
    reviewed_by: str | None
    reviewed_at: Instant | None
    review_reason: str | None


class InboundPage(BaseModel):
    data: list[InboundMessage]
    next_cursor: str | None
    next_url: str | None


class InboundQuery(PageQuery):
    classification: ClassName | None = Field(None, description="Only messages of this class.")
    since: AwareDatetime | None = Field(None, description="Only those received at or after.")

    @field_validator("since")
    @classmethod
    def _in_range(cls, value: AwareDatetime | None) -> AwareDatetime | None:
        if value is not None:
            check_instant(value)
        return value


class MessagePath(BaseModel):
    id: int = Field(ge=1, le=2**31 - 1)


class Resolve(Request):
    decision: Literal["keep", "release"] = Field(
        description="keep: the opt-out stands. release: its list entries are taken off "
        "(an admin or can_remove_dnc)."
    )
    # Not blank: the why of a decision is kept on the message.
    reason: Text = Field(min_length=1, max_length=MAX_REASON)

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("give the reason for the decision")
        return value


class Resolved(BaseModel):
    message: InboundMessage
    removed_from: list[Literal["dnc", "dnt"]] = Field(description="The lists a release took.")


@ROUTES.route(
    "GET",
    "/inbound",
    "The company's inbound texts, oldest first",
    response=InboundPage,
    query=InboundQuery,
)
async def list_inbound(request: web.Request, query: InboundQuery) -> web.Response:
    found = await service.messages_page(
        request.app[APP],
        request[CALLER],
        classification=None if query.classification is None else MessageClass(query.classification),
        since=query.since,
        after=paging.after(query),
        limit=query.limit + 1,
    )
    views = [service.message_view(message) for message in found]
    return respond(InboundPage, paging.page(request, views, query.limit))


@ROUTES.route(
    "GET",
    "/inbound/review",
    "The messages waiting for review, oldest first",
    response=InboundPage,
    query=PageQuery,
)
async def review_queue(request: web.Request, query: PageQuery) -> web.Response:
    found = await service.messages_page(
        request.app[APP],
        request[CALLER],
        pending=True,
        after=paging.after(query),
        limit=query.limit + 1,
    )
    views = [service.message_view(message) for message in found]
    return respond(InboundPage, paging.page(request, views, query.limit))


@ROUTES.route(
    "POST",
    "/inbound/{id}/resolve",
    "Keep or release a message waiting for review; one not waiting is a 409",
    response=Resolved,
    path_model=MessagePath,
    body=Resolve,
    errors=(403, 409),
)
async def resolve(request: web.Request, path: MessagePath, body: Resolve) -> web.Response:
    resolved = await service.resolve(
        request.app[APP],
        request[CALLER],
        path.id,
        release=body.decision == "release",
        reason=body.reason,
    )
    return respond(Resolved, service.resolved_view(resolved))
