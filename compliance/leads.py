"""Leads and each lead's own channel DNC record (phone, SMS, email).

A lead has at most one DNC record; `is_dnc` is true exactly when it blocks a channel. The
lead's status is a separate field that the DNC record never touches.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import available_timezones

import structlog
from sqlalchemy import Row, Select, bindparam, insert, select, union, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from compliance import registry
from compliance.accounts import Company
from compliance.dnc import (
    INVALID_ROWS_REPORTED,
    LISTS_BLOCKING,
    Channel,
    DncEntry,
    DncList,
    FileSummary,
    InvalidRow,
    LeadChannel,
    Source,
    format_lead_channels,
)
from compliance.phone import InvalidNumber, from_key, normalize, to_key
from compliance.tables import dnc_events, in_batch, lead_dnc, leads
from compliance.zones import state_zones

log = structlog.get_logger("compliance.leads")

LEAD_COLUMNS = (
    "phone",
    "first_name",
    "last_name",
    "email",
    "state",
    "postal_code",
    "timezone",
    "external_id",
)
IMPORT_CHUNK = 1_000


class InvalidLead(ValueError):
    """A lead row that cannot be stored; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class LeadDnc:
    channels: frozenset[LeadChannel]
    reason: str
    updated_by: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Lead:
    id: int
    external_id: str | None
    lead_list: str
    first_name: str
    last_name: str
    phone_raw: str
    phone: str
    email: str
    state: str
    postal_code: str
    timezone: str
    status: str
    dnc: LeadDnc | None
    # The lead of the same number that stands for both in the list (migration 0009).
    duplicate_of: int | None = None

    @property
    def is_dnc(self) -> bool:
        return self.dnc is not None and bool(self.dnc.channels)


@dataclass(slots=True)
class LeadImportSummary(FileSummary):
    """What a leads import did: every row read is added, updated, unchanged, a duplicate
    or invalid. Duplicates are listed like invalid rows, the first ones in detail."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: list[InvalidRow] = field(default_factory=list)
    duplicate_count: int = 0

    def duplicate(self, row: int, value: str, of: str) -> None:
        self.duplicate_count += 1
        if len(self.duplicates) < INVALID_ROWS_REPORTED:
            self.duplicates.append(InvalidRow(row, value, f"same number as {of}"))


@functools.cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def _known_timezone(name: str) -> bool:
    return name in _timezones()


def lead_row(record: dict[str, str], region: str) -> dict[str, object]:
    """Validate one imported record into a `leads` row; InvalidLead says what is wrong."""
    return {
        "external_id": record["external_id"].strip() or None,
        "first_name": record["first_name"].strip(),
        "last_name": record["last_name"].strip(),
        **_phone_columns(record["phone"], region),
        "email": _checked_email(record["email"]),
        "state": _checked_state(record["state"]),
        "postal_code": record["postal_code"].strip(),
        "timezone": _checked_zone(record["timezone"]),
    }


def _phone_columns(raw: str, region: str) -> dict[str, object]:
    try:
        number = normalize(raw, region)
    except InvalidNumber as error:
        raise InvalidLead(f"phone: {error.reason}") from error
    return {
        "phone_raw": raw.strip()[:100],
        "phone": number.key,
        "phone_extension": number.extension,
    }


def _checked_state(value: str) -> str:
    state = value.strip().upper()
    if state and not state_zones(state):
        raise InvalidLead(f"state: {value!r} is not a US state code")
    return state


def _checked_zone(value: str) -> str:
    zone = value.strip()
    if zone and not _known_timezone(zone):
        raise InvalidLead(f"timezone: {zone!r} is not an IANA time zone")
    return zone


def _checked_email(value: str) -> str:
    email = value.strip()
    if email and "@" not in email:
        raise InvalidLead(f"email: {email!r} is not an email address")
    return email


def _checked_status(value: str) -> str:
    status = value.strip()
    if not status:
        raise InvalidLead("status: a lead's status is not empty")
    return status


# The fields of a lead that an edit may change, each checked as an import checks it.
EDITABLE = ("first_name", "last_name", "email", "state", "postal_code", "timezone", "status")
_CHECKS: dict[str, Callable[[str], str]] = {
    "first_name": str.strip,
    "last_name": str.strip,
    "email": _checked_email,
    "state": _checked_state,
    "postal_code": str.strip,
    "timezone": _checked_zone,
    "status": _checked_status,
}


class LeadNumberTaken(ValueError):
    """Another lead of the list has the number a lead's edit gives it; nothing changed."""


async def update_lead(
    conn: AsyncConnection, company: Company, lead: Lead, changes: dict[str, str]
) -> None:
    """Change the lead's EDITABLE fields and its `phone` (any format) as `changes` says:
    InvalidLead names a bad field, LeadNumberTaken refuses a number its list has already."""
    unknown = sorted(set(changes) - {*EDITABLE, "phone"})
    if unknown:
        raise InvalidLead(f"{', '.join(unknown)}: not a field an edit changes")
    values: dict[str, object] = {
        name: _CHECKS[name](value) for name, value in changes.items() if name != "phone"
    }
    if "phone" in changes:
        values.update(_phone_columns(changes["phone"], company.default_region))
        await _refuse_taken_number(conn, company, lead, int(values["phone"]))
    if not values:
        return
    try:
        await conn.execute(update(leads).where(leads.c.id == lead.id).values(values))
    except IntegrityError as error:  # another transaction gave a lead that number meanwhile
        raise LeadNumberTaken(f"phone: list {lead.lead_list!r} has that number already") from error
    log.info("lead.updated", company=company.name, lead_id=lead.id, fields=sorted(values))


async def _refuse_taken_number(
    conn: AsyncConnection, company: Company, lead: Lead, phone: int
) -> None:
    if lead.duplicate_of is not None:
        return  # no member of its list: it holds no number there
    holder = (
        await conn.execute(
            select(leads.c.id).where(
                leads.c.company_id == company.id,
                leads.c.lead_list == lead.lead_list,
                leads.c.phone == phone,
                leads.c.duplicate_of.is_(None),
                leads.c.id != lead.id,
            )
        )
    ).scalar()
    if holder is not None:
        raise LeadNumberTaken(
            f"phone: lead {holder} of list {lead.lead_list!r} has that number already"
        )


async def list_leads(
    conn: AsyncConnection,
    company: Company,
    *,
    phone: str | None = None,
    external_id: str | None = None,
    lead_list: str | None = None,
    after: int | None = None,
    limit: int,
) -> list[Lead]:
    """The company's leads in id order, after the id `after`: those of the number `phone`
    (E.164), the external id, the list, when given. One query."""
    query = _lead_query(company)
    if phone is not None:
        query = query.where(leads.c.phone == to_key(phone))
    if external_id is not None:
        query = query.where(leads.c.external_id == external_id)
    if lead_list is not None:
        query = query.where(leads.c.lead_list == lead_list)
    if after is not None:
        query = query.where(leads.c.id > after)
    rows = await conn.execute(query.order_by(leads.c.id).limit(limit))
    return [_lead(row) for row in rows]


def _take(records: Iterator[tuple[int, dict[str, str]]], count: int) -> list:
    return list(itertools.islice(records, count))


async def import_leads(
    conn: AsyncConnection,
    company: Company,
    records: Iterable[tuple[int, dict[str, str]]],
    lead_list: str,
    now: datetime,
    on_progress: Callable[[int], None] | None = None,
) -> LeadImportSummary:
    """Store valid records as leads of `lead_list`, one lead per number in a list: a record
    whose external id is a known lead updates it (into `lead_list`), one whose number the
    list holds already is a duplicate and not stored (the first stays)."""
    summary = LeadImportSummary()
    source = iter(records)
    while chunk := await asyncio.to_thread(_take, source, IMPORT_CHUNK):
        summary.read += len(chunk)
        rows = []
        for row_number, record in chunk:
            try:
                rows.append((row_number, record["phone"], lead_row(record, company.default_region)))
            except InvalidLead as error:
                summary.reject(row_number, record["phone"], str(error))
        if rows:
            await _store(conn, company, lead_list, rows, now, summary)
        if on_progress is not None:
            on_progress(len(chunk))
    log.info(
        "leads.imported",
        company=company.name,
        lead_list=lead_list,
        read=summary.read,
        added=summary.added,
        updated=summary.updated,
        unchanged=summary.unchanged,
        duplicates=summary.duplicate_count,
        invalid=summary.invalid_count,
    )
    return summary


# The columns an import writes: a known lead gets them all from its new row.
_IMPORTED = (*LEAD_COLUMNS, "phone_raw", "phone_extension", "lead_list", "duplicate_of")
# Who holds a number in the list: ("lead", id) stored already, ("row", n) a row of this chunk.
_Holder = tuple[str, int]


async def _store(
    conn: AsyncConnection,
    company: Company,
    lead_list: str,
    rows: list[tuple[int, str, dict[str, object]]],
    now: datetime,
    summary: LeadImportSummary,
) -> None:
    """Store one chunk of valid rows: one read, one update, one insert."""
    stored = await _known_leads(conn, company, lead_list, [row for _, _, row in rows])
    values = dict(stored)
    by_external = {lead["external_id"]: key for key, lead in stored.items() if lead["external_id"]}
    holders = {lead["phone"]: key for key, lead in stored.items() if _member(lead, lead_list)}
    new_rows: dict[_Holder, tuple[int, str]] = {}
    for row_number, raw, row in rows:
        target = by_external.get(row["external_id"]) if row["external_id"] else None
        holder = holders.get(row["phone"])
        if holder is not None and holder != target:
            summary.duplicate(row_number, raw, f"{holder[0]} {holder[1]}")
            continue
        wanted = {**row, "lead_list": lead_list, "duplicate_of": None}
        if target is None:
            target = ("row", row_number)
            new_rows[target] = (row_number, raw)
        else:
            before = values[target]
            if _member(before, lead_list) and holders.get(before["phone"]) == target:
                del holders[before["phone"]]
            wanted = {**before, **wanted}
            changed = wanted != before
            summary.updated += changed
            summary.unchanged += not changed
        values[target] = wanted
        holders[row["phone"]] = target
        if row["external_id"]:
            by_external[row["external_id"]] = target
    rewritten = sorted(key[1] for key, lead in stored.items() if values[key] != lead)
    await _update_leads(conn, [values[("lead", lead_id)] for lead_id in rewritten])
    await _insert_leads(conn, company, now, values, new_rows, summary)


def _member(lead: dict[str, object], lead_list: str) -> bool:
    return lead["lead_list"] == lead_list and lead["duplicate_of"] is None


async def _known_leads(
    conn: AsyncConnection, company: Company, lead_list: str, rows: list[dict[str, object]]
) -> dict[_Holder, dict[str, object]]:
    """The stored leads the rows may meet: those of their external ids, and the list's
    leads of their numbers."""
    external_ids = sorted({str(row["external_id"]) for row in rows if row["external_id"]})
    phones = sorted({int(row["phone"]) for row in rows})
    known = select(leads.c.id, *(leads.c[column] for column in _IMPORTED)).where(
        leads.c.company_id == company.id
    )
    # A UNION, not an OR: each side searches its own index.
    found = await conn.execute(
        union(
            known.where(leads.c.external_id.in_(external_ids)),
            known.where(
                leads.c.lead_list == lead_list,
                leads.c.duplicate_of.is_(None),
                in_batch(leads.c.phone, phones, conn.dialect.name),
            ),
        )
    )
    return {("lead", row.id): row._asdict() for row in found}


async def _update_leads(conn: AsyncConnection, changed: list[dict[str, object]]) -> None:
    """Write these leads (in id order) with their new values."""
    if changed:
        await conn.execute(
            update(leads)
            .where(leads.c.id == bindparam("lead"))
            .values({column: bindparam(f"new_{column}") for column in _IMPORTED}),
            [{"lead": lead["id"], **{f"new_{c}": lead[c] for c in _IMPORTED}} for lead in changed],
        )


async def _insert_leads(
    conn: AsyncConnection,
    company: Company,
    now: datetime,
    values: dict[_Holder, dict[str, object]],
    new_rows: dict[_Holder, tuple[int, str]],
    summary: LeadImportSummary,
) -> None:
    """Add the new leads; one another transaction added meanwhile is a duplicate."""
    if not new_rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(leads)
        .values(company_id=company.id, created_at=now)
        .on_conflict_do_nothing()
        .returning(leads.c.phone)
    )
    added = set((await conn.execute(statement, [values[key] for key in new_rows])).scalars())
    for key, (row_number, raw) in new_rows.items():
        if values[key]["phone"] in added:
            summary.added += 1
        else:
            summary.duplicate(row_number, raw, "a lead added meanwhile")


async def find_lead(conn: AsyncConnection, company: Company, ref: str) -> Lead | None:
    """The lead whose external id is `ref`, else whose id is `ref`."""
    query = _lead_query(company)
    row = (await conn.execute(query.where(leads.c.external_id == ref))).first()
    if row is None and ref.isdigit():
        row = (await conn.execute(query.where(leads.c.id == int(ref)))).first()
    return None if row is None else _lead(row)


async def list_exists(conn: AsyncConnection, company: Company, lead_list: str) -> bool:
    """Whether `company` has a lead in `lead_list` (a list is its leads' common name)."""
    query = select(leads.c.id).where(
        leads.c.company_id == company.id, leads.c.lead_list == lead_list
    )
    return (await conn.execute(query.limit(1))).first() is not None


async def get_lead(conn: AsyncConnection, company: Company, lead_id: int) -> Lead | None:
    """The lead with this id, if it belongs to `company`."""
    row = (await conn.execute(_lead_query(company).where(leads.c.id == lead_id))).first()
    return None if row is None else _lead(row)


def _lead_query(company: Company) -> Select:
    query = select(leads, lead_dnc).outerjoin(lead_dnc, lead_dnc.c.lead_id == leads.c.id)
    return query.where(leads.c.company_id == company.id)


def _lead(row: Row) -> Lead:
    mapping = row._mapping
    dnc = None
    if mapping[lead_dnc.c.lead_id] is not None:
        dnc = LeadDnc(
            channels=frozenset(
                channel for channel in LeadChannel if mapping[lead_dnc.c[channel.value]]
            ),
            reason=mapping[lead_dnc.c.reason],
            updated_by=mapping[lead_dnc.c.updated_by],
            created_at=mapping[lead_dnc.c.created_at],
            updated_at=mapping[lead_dnc.c.updated_at],
        )
    return Lead(
        id=mapping[leads.c.id],
        external_id=mapping[leads.c.external_id],
        lead_list=mapping[leads.c.lead_list],
        first_name=mapping[leads.c.first_name],
        last_name=mapping[leads.c.last_name],
        phone_raw=mapping[leads.c.phone_raw],
        phone=from_key(mapping[leads.c.phone]),
        email=mapping[leads.c.email],
        state=mapping[leads.c.state],
        postal_code=mapping[leads.c.postal_code],
        timezone=mapping[leads.c.timezone],
        status=mapping[leads.c.status],
        dnc=dnc,
        duplicate_of=mapping[leads.c.duplicate_of],
    )


@dataclass(frozen=True, slots=True)
class ListBlock:
    """A company list entry of a lead's number, and the channels it blocks."""

    entry: DncEntry
    channels: tuple[Channel, ...]


async def company_blocks(
    conn: AsyncConnection, company: Company, lead: Lead, now: datetime
) -> list[ListBlock]:
    """The company lists (dnc, dnt) that hold the lead's number now, in list order."""
    listed = (await registry.listings(conn, company, [lead.phone], now)).get(lead.phone, [])
    return [ListBlock(entry, _blocked_by(entry.list_name)) for entry in listed]


def _blocked_by(list_name: DncList) -> tuple[Channel, ...]:
    return tuple(channel for channel, lists in LISTS_BLOCKING.items() if list_name in lists)


async def set_lead_channels(
    conn: AsyncConnection,
    company: Company,
    lead: Lead,
    channels: frozenset[LeadChannel],
    *,
    reason: str,
    by: str,
    now: datetime,
    source: Source = Source.MANUAL,
) -> None:
    """Make `channels` exactly the lead's blocked channels (empty clears), with an audit event."""
    await registry.lock_for_change(conn, company)
    flags = {channel.value: channel in channels for channel in LeadChannel}
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    upsert = dialect.insert(lead_dnc).values(
        lead_id=lead.id, reason=reason, updated_by=by, created_at=now, updated_at=now, **flags
    )
    await conn.execute(
        upsert.on_conflict_do_update(
            index_elements=["lead_id"],
            set_={"reason": reason, "updated_by": by, "updated_at": now, **flags},
        )
    )
    text_channels = format_lead_channels(channels)
    await conn.execute(
        insert(dnc_events).values(
            company_id=company.id,
            at=now,
            action="lead_channels",
            lead_id=lead.id,
            number=to_key(lead.phone),
            channels=text_channels,
            source=source.value,
            reason=reason,
            actor=by,
        )
    )
    log.info(
        "lead.dnc_changed",
        company=company.name,
        lead_id=lead.id,
        external_id=lead.external_id,
        channels=text_channels,
        reason=reason,
        by=by,
    )


async def blocked_channels(
    conn: AsyncConnection, lead_ids: Sequence[int]
) -> dict[int, frozenset[LeadChannel]]:
    """The channels each lead's own DNC record blocks; one query per batch."""
    wanted = sorted(set(lead_ids))
    if not wanted:
        return {}
    rows = await conn.execute(
        select(lead_dnc).where(in_batch(lead_dnc.c.lead_id, wanted, conn.dialect.name))
    )
    return {row.lead_id: frozenset(c for c in LeadChannel if getattr(row, c.value)) for row in rows}
