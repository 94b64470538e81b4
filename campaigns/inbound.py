"""Inbound texts in storage: each message the carrier posts, stored once by its MessageSid,
classified, acted on as `config/keywords.toml` says, and the reply decided.

The `inbound_messages` table is this module's. An opt-out adds to the company lists with
source sms_keyword (each add waits on the screening lock, like every DNC change), an opt-in
removes only the sms_keyword entries of the number. Exactly one confirmation per opt-out: a
repeat from a number whose opt-out was confirmed since its last opt-in gets none, unless it
put the number back on a list (a person had released it meanwhile).

A message the classifier is unsure of, or whose class says so, waits for review: a person
keeps it (its list entries stay) or releases it (the entries it added, and no other, come off
the lists), and who, when and why are recorded on the message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import Row, Select, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns.keywords import SOURCE, KeywordAction
from campaigns.statuses import Action, ActionKind
from campaigns.tables import inbound_messages
from compliance import Classification, Company, DncList, MessageClass, classify, leads, registry
from compliance import spam as spam_list
from compliance.accounts import reply_texts
from compliance.keywords import OPT_OUTS
from compliance.numbers import company_owning
from compliance.phone import from_key, to_key
from compliance.tables import Page, stream_last
from compliance.tables import leads as leads_table
from compliance.wording import toml_value

__all__ = [
    "ACTOR",
    "InboundMessage",
    "InboundText",
    "Received",
    "Resolved",
    "ReviewRefused",
    "entry_reason",
    "messages",
    "receive",
    "resolve_review",
    "review_queue",
]

log = structlog.get_logger("campaigns.inbound")

# The actor of the list changes an inbound text makes: the sender asked for them.
ACTOR = "sms"
LISTS = {ActionKind.COMPANY_DNC: DncList.DNC, ActionKind.COMPANY_DNT: DncList.DNT}


@dataclass(frozen=True, slots=True)
class InboundText:
    """A text as the carrier posts it: E.164 `sender` and `to`, and its OptOutType if any."""

    sid: str
    sender: str
    to: str
    body: str
    opt_out_type: str | None = None


@dataclass(frozen=True, slots=True)
class Received:
    """What became of an inbound text: `reply` is the text to answer with (None: none);
    `duplicate`: its MessageSid was stored before, and nothing changed; `listed`: the company
    lists the sender was newly put on."""

    id: int | None
    company: Company | None
    classification: Classification
    action: str
    reply: str | None
    duplicate: bool = False
    listed: tuple[DncList, ...] = ()


async def receive(
    conn: AsyncConnection,
    text: InboundText,
    now: datetime,
    actions: Mapping[MessageClass, KeywordAction],
) -> Received:
    """Store `text` once, do what its class does for the company owning its To number, and
    decide its reply. A MessageSid seen before changes nothing and gets no reply."""
    company = await company_owning(conn, text.to)
    classification = classify(text.body, text.opt_out_type)
    spam = company is not None and bool(await spam_list.is_spam(conn, company, [text.sender]))
    message_id = await _store_once(conn, text, company, classification, spam, now)
    if message_id is None:
        log.info("inbound.duplicate", message_sid=text.sid)
        return Received(None, company, classification, "none", None, duplicate=True)
    if company is None:
        log.warning("inbound.unknown_number", to=text.to, sender=text.sender, message_sid=text.sid)
        return Received(message_id, None, classification, "none", None)
    does = actions[classification.kind]
    changes, added = await _act(conn, company, text, does, entry_reason(text.body, text.sid), now)
    reply = None
    if does.reply and not spam:
        reply = await _reply(conn, company, message_id, text, classification.kind, bool(added))
    action = changes or ("reply sent" if reply else "none")
    review = "pending" if classification.review or does.review else "none"
    await conn.execute(
        update(inbound_messages)
        .where(inbound_messages.c.id == message_id)
        .values(action=action, reply=reply, review=review)
    )
    log.info(
        "inbound.received",
        company=company.name,
        sender=text.sender,
        message_sid=text.sid,
        classification=classification.kind.value,
        action=action,
        replied=reply is not None,
        review=review,
        spam=spam,
    )
    listed = tuple(LISTS[a.kind] for a in added if a.kind in LISTS)
    return Received(message_id, company, classification, action, reply, listed=listed)


def entry_reason(body: str, sid: str) -> str:
    """The reason of every change a message makes: its text and MessageSid, so that its
    release finds exactly the entries it added."""
    return f"text {toml_value(body)} ({sid})"


async def _store_once(
    conn: AsyncConnection,
    text: InboundText,
    company: Company | None,
    classification: Classification,
    spam: bool,
    now: datetime,
) -> int | None:
    """The new message's id, or None when its MessageSid is stored already."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(inbound_messages)
        .values(
            company_id=None if company is None else company.id,
            message_sid=text.sid,
            from_number=to_key(text.sender),
            to_number=to_key(text.to),
            body=text.body,
            received_at=now,
            classification=classification.kind.value,
            keyword=classification.keyword,
            spam=spam,
        )
        .on_conflict_do_nothing(index_elements=["message_sid"])
        .returning(inbound_messages.c.id)
    )
    return (await conn.execute(statement)).scalar_one_or_none()


async def _act(
    conn: AsyncConnection,
    company: Company,
    text: InboundText,
    does: KeywordAction,
    reason: str,
    now: datetime,
) -> tuple[str, list[Action]]:
    """Apply the class's actions: (what they did, "" for nothing to do; the actions that
    changed something, none when entries were removed)."""
    added = [
        action for action in does.actions if await _apply(conn, company, text, action, reason, now)
    ]
    removed = [
        str(action)
        for action in does.removes
        if await registry.remove_by_source(
            conn,
            company,
            [text.sender],
            LISTS[action.kind],
            SOURCE,
            reason=reason,
            actor=ACTOR,
            now=now,
        )
    ]
    if removed:
        return f"sms_keyword entries removed from {', '.join(removed)}", []
    if added:
        return f"{', '.join(map(str, added))} added", added
    if does.actions:
        return "already listed", []
    if does.removes:
        return "no sms_keyword entries", []
    return "", []


async def _apply(
    conn: AsyncConnection,
    company: Company,
    text: InboundText,
    action: Action,
    reason: str,
    now: datetime,
) -> bool:
    """One action of the statuses' vocabulary, on the sender's number and its leads; whether
    it changed anything."""
    if action.kind in LISTS:
        return bool(
            await registry.add_numbers(
                conn,
                company,
                [text.sender],
                LISTS[action.kind],
                source=SOURCE,
                reason=reason,
                actor=ACTOR,
                now=now,
            )
        )
    lead_ids = (
        (
            await conn.execute(
                select(leads_table.c.id).where(
                    leads_table.c.company_id == company.id,
                    leads_table.c.phone == to_key(text.sender),
                )
            )
        )
        .scalars()
        .all()
    )
    if action.kind is ActionKind.LEAD_STATUS:
        # Only a lead not in that status yet changes: a repeat is no new opt-out.
        changed = await conn.execute(
            update(leads_table)
            .where(leads_table.c.id.in_(lead_ids), leads_table.c.status != action.argument)
            .values(status=action.argument)
        )
        return changed.rowcount > 0
    changed = False
    blocked = await leads.blocked_channels(conn, lead_ids)
    for lead_id in lead_ids:
        current = blocked.get(lead_id, frozenset())
        if action.argument in current:
            continue
        lead = await leads.get_lead(conn, company, lead_id)
        await leads.set_lead_channels(
            conn,
            company,
            lead,
            current | {action.argument},
            reason=reason,
            by=ACTOR,
            now=now,
            source=SOURCE,
        )
        changed = True
    return changed


async def _reply(
    conn: AsyncConnection,
    company: Company,
    message_id: int,
    text: InboundText,
    kind: MessageClass,
    fresh: bool,
) -> str | None:
    """The company's text for the class; an opt-out is confirmed once: when it listed the
    number anew, or when no opt-out of the number was confirmed since its last opt-in."""
    texts = await reply_texts(conn, company)
    if kind is MessageClass.OPT_IN:
        return texts.opt_in
    if kind is MessageClass.HELP:
        return texts.help
    if kind not in OPT_OUTS:
        return None
    if fresh or not await _confirmed_before(conn, company, message_id, text.sender):
        return texts.opt_out
    return None


async def _confirmed_before(
    conn: AsyncConnection, company: Company, message_id: int, sender: str
) -> bool:
    """Whether another opt-out from `sender` was confirmed after its last opt-in. Read
    after the opt-out's list change took the screening lock, so of two opt-outs at once the
    second sees the first's confirmation."""
    of_sender = (
        inbound_messages.c.company_id == company.id,
        inbound_messages.c.from_number == to_key(sender),
        inbound_messages.c.id != message_id,  # ids follow inserts, not the lock's order
    )
    last_opt_in = (
        select(func.coalesce(func.max(inbound_messages.c.id), 0))
        .where(*of_sender, inbound_messages.c.classification == MessageClass.OPT_IN.value)
        .scalar_subquery()
    )
    confirmed = select(inbound_messages.c.id).where(
        *of_sender,
        inbound_messages.c.classification.in_([kind.value for kind in OPT_OUTS]),
        inbound_messages.c.reply.is_not(None),
        inbound_messages.c.id > last_opt_in,
    )
    return (await conn.execute(confirmed.limit(1))).first() is not None


# --- listing and review ----------------------------------------------------------------


class ReviewRefused(ValueError):
    """A review decision that cannot be made as asked; nothing was changed."""


class UnknownMessage(ReviewRefused):
    """No inbound message of that id in the company (another company's is unknown here)."""


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A stored inbound text of a company, with what was done and its review: `review` is
    none, pending, kept or released; `reviewed_*` say who decided, when and why."""

    id: int
    sid: str
    sender: str
    to: str
    body: str
    received_at: datetime
    classification: MessageClass
    keyword: str | None
    spam: bool
    action: str
    reply: str | None
    review: str
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_reason: str | None


@dataclass(frozen=True, slots=True)
class Resolved:
    """A review decided: the message as it now stands, and the lists a release took its
    sender off (none when its entries had been removed or replaced meanwhile)."""

    message: InboundMessage
    removed_from: tuple[DncList, ...] = ()


_ORDER = (inbound_messages.c.received_at, inbound_messages.c.id)


async def messages(
    conn: AsyncConnection,
    company: Company,
    *,
    classification: MessageClass | None = None,
    since: datetime | None = None,
    limit: int | None = None,
) -> Page[InboundMessage]:
    """The company's inbound texts, streamed oldest first, optionally of one class and
    received at or after `since`; with `limit`, only the newest `limit`. Messages to a
    number no company owns are no company's, so never listed."""
    return await _page(conn, _received(company, classification, since), limit)


async def messages_after(
    conn: AsyncConnection,
    company: Company,
    *,
    classification: MessageClass | None = None,
    since: datetime | None = None,
    pending: bool = False,
    after: int | None = None,
    limit: int | None = None,
) -> list[InboundMessage]:
    """The company's inbound texts as `messages` filters them (only those waiting for
    review if `pending`), in the order they were stored (by id), from after the message of
    id `after`, at most `limit`: one query."""
    query = _received(company, classification, since).order_by(inbound_messages.c.id)
    if pending:
        query = query.where(inbound_messages.c.review == "pending")
    if after is not None:
        query = query.where(inbound_messages.c.id > after)
    return [_message(row) for row in await conn.execute(query.limit(limit))]


def _received(
    company: Company, classification: MessageClass | None, since: datetime | None
) -> Select:
    query = select(inbound_messages).where(inbound_messages.c.company_id == company.id)
    if classification is not None:
        query = query.where(inbound_messages.c.classification == classification.value)
    if since is not None:
        query = query.where(inbound_messages.c.received_at >= since)
    return query


async def review_queue(conn: AsyncConnection, company: Company) -> Page[InboundMessage]:
    """Every message of the company waiting for review, streamed oldest first."""
    query = select(inbound_messages).where(
        inbound_messages.c.company_id == company.id, inbound_messages.c.review == "pending"
    )
    return await _page(conn, query, None)


async def _page(conn: AsyncConnection, query: Select, limit: int | None) -> Page[InboundMessage]:
    page = await stream_last(conn, query, _ORDER, limit)
    return Page(rows=(_message(row) async for row in page.rows), more=page.more)


def _message(row: Row) -> InboundMessage:
    return InboundMessage(
        id=row.id,
        sid=row.message_sid,
        sender=from_key(row.from_number),
        to=from_key(row.to_number),
        body=row.body,
        received_at=row.received_at,
        classification=MessageClass(row.classification),
        keyword=row.keyword,
        spam=row.spam,
        action=row.action,
        reply=row.reply,
        review=row.review,
        reviewed_by=row.reviewed_by,
        reviewed_at=row.reviewed_at,
        review_reason=row.review_reason,
    )


async def resolve_review(
    conn: AsyncConnection,
    company: Company,
    message_id: int,
    *,
    release: bool,
    by: str,
    reason: str,
    now: datetime,
) -> Resolved:
    """Keep or release a message of the company waiting for review, recording who, when and
    why. A release takes off the company lists only the sms_keyword entries of the sender
    that this message added (audited, `by` as the actor, `reason` as why): an entry an
    earlier text, a person, an upload or a status added stays. The caller checks that `by`
    may (a release lifts a protection). ReviewRefused, nothing changed, for a message
    unknown to the company, one not pending, or a blank reason."""
    why = reason.strip()
    if not why:
        raise ReviewRefused("give the reason for the decision (--reason)")
    decision = "released" if release else "kept"
    # Only a pending message changes: of two reviewers at once, the second is refused.
    row = (
        await conn.execute(
            update(inbound_messages)
            .where(
                inbound_messages.c.id == message_id,
                inbound_messages.c.company_id == company.id,
                inbound_messages.c.review == "pending",
            )
            .values(review=decision, reviewed_by=by, reviewed_at=now, review_reason=why)
            .returning(*inbound_messages.c)
        )
    ).first()
    if row is None:
        raise await _not_pending(conn, company, message_id)
    message = _message(row)
    removed_from: tuple[DncList, ...] = ()
    if release:
        removed_from = tuple(
            [
                list_name
                for list_name in LISTS.values()
                if await registry.remove_by_source(
                    conn,
                    company,
                    [message.sender],
                    list_name,
                    SOURCE,
                    reason=why,
                    actor=by,
                    now=now,
                    entry_reason=entry_reason(message.body, message.sid),
                )
            ]
        )
    log.info(
        f"inbound.{decision}",
        company=company.name,
        message_id=message.id,
        message_sid=message.sid,
        sender=message.sender,
        removed_from=[list_name.value for list_name in removed_from],
        reason=why,
        by=by,
    )
    return Resolved(message, removed_from)


async def _not_pending(conn: AsyncConnection, company: Company, message_id: int) -> ReviewRefused:
    """Why message `message_id` cannot be reviewed (another company's is unknown here)."""
    row = (
        await conn.execute(
            select(inbound_messages).where(
                inbound_messages.c.id == message_id,
                inbound_messages.c.company_id == company.id,
            )
        )
    ).first()
    if row is None:
        return UnknownMessage(
            f"no inbound message {message_id} in this company (see `dialer inbound list`)"
        )
    if row.review == "none":
        return ReviewRefused(f"message {message_id} is not waiting for review")
    return ReviewRefused(
        f"message {message_id} is not waiting for review "
        f"({row.review} by {row.reviewed_by} at {row.reviewed_at.isoformat()})"
    )
