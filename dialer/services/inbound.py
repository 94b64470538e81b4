"""The inbound texts a company received, and their review: list them, list those waiting
for review, keep or release one, whoever asks (CLI, API, pages)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from campaigns import inbound
from campaigns.inbound import InboundMessage, Resolved
from compliance import MessageClass, Permission
from compliance.tables import Page
from dialer.app import App, utcnow
from dialer.services import Caller, acting

__all__ = [
    "message_view",
    "messages",
    "messages_page",
    "resolve",
    "resolved_view",
    "review_queue",
]


@asynccontextmanager
async def messages(
    app: App,
    caller: Caller,
    *,
    classification: MessageClass | None = None,
    since: datetime | None = None,
    limit: int | None = None,
) -> AsyncIterator[Page[InboundMessage]]:
    """The company's inbound texts, oldest first, optionally of one class and received at
    or after `since`; with `limit`, the newest `limit`."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        yield await inbound.messages(
            conn, who.company, classification=classification, since=since, limit=limit
        )


async def messages_page(
    app: App,
    caller: Caller,
    *,
    classification: MessageClass | None = None,
    since: datetime | None = None,
    pending: bool = False,
    after: int | None = None,
    limit: int | None = None,
) -> list[InboundMessage]:
    """A page of the inbound texts `messages` lists (only those waiting for review if
    `pending`), in the order they were stored: after the message of id `after`, at most
    `limit`."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        return await inbound.messages_after(
            conn,
            who.company,
            classification=classification,
            since=since,
            pending=pending,
            after=after,
            limit=limit,
        )


@asynccontextmanager
async def review_queue(app: App, caller: Caller) -> AsyncIterator[Page[InboundMessage]]:
    """Every message of the company waiting for review, oldest first."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller)
        yield await inbound.review_queue(conn, who.company)


async def resolve(
    app: App, caller: Caller, message_id: int, *, release: bool, reason: str
) -> Resolved:
    """Keep a message waiting for review (its opt-out stands), or release it: take off the
    company lists only the entries it added. A release lifts a protection, so it needs an
    admin or can_remove_dnc (NotPermitted); a message not waiting for review, or a blank
    reason, is refused (ReviewRefused)."""
    async with app.transaction() as conn:
        who = await acting(app, conn, caller, Permission.REMOVE if release else Permission.CHANGE)
        return await inbound.resolve_review(
            conn,
            who.company,
            message_id,
            release=release,
            by=who.actor,
            reason=reason,
            now=utcnow(),
        )


def message_view(message: InboundMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "message_sid": message.sid,
        "received_at": message.received_at.isoformat(),
        "from": message.sender,
        "to": message.to,
        "body": message.body,
        "classification": message.classification.value,
        "keyword": message.keyword,
        "spam": message.spam,
        "action": message.action,
        "reply": message.reply,
        "review": message.review,
        "reviewed_by": message.reviewed_by,
        "reviewed_at": None if message.reviewed_at is None else message.reviewed_at.isoformat(),
        "review_reason": message.review_reason,
    }


def resolved_view(resolved: Resolved) -> dict[str, Any]:
    return {
        "message": message_view(resolved.message),
        "removed_from": [list_name.value for list_name in resolved.removed_from],
    }
