"""The company DNC registry in storage: add, remove, look up, import, export, audit.

Every function takes an open `AsyncConnection` inside the caller's transaction, so a
command's changes and their audit events commit together or not at all.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from datetime import datetime

import structlog
from sqlalchemy import (
    ColumnElement,
    Row,
    TextClause,
    and_,
    bindparam,
    delete,
    insert,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from compliance.accounts import Company
from compliance.dnc import (
    LISTS_BLOCKING,
    AuditEvent,
    Channel,
    DncEntry,
    DncList,
    ImportSummary,
    Source,
    User,
    check_removal,
)
from compliance.phone import InvalidNumber, from_key, normalize, to_key
from compliance.tables import (
    Page,
    UtcDateTime,
    dnc_entries,
    dnc_events,
    in_batch,
    stream_last,
)

log = structlog.get_logger("compliance.registry")

# Rows read from a file per step: big enough to amortize a round trip, small enough that
# memory stays flat whatever the file size.
IMPORT_CHUNK = 50_000


# PostgreSQL advisory-lock namespace of changes the gate reads ("DNC" in ASCII).
_DNC_LOCKS = 0x444E43


async def lock_for_screening(conn: AsyncConnection, company: Company) -> None:
    """Hold off the company's changes the gate reads until this transaction ends.

    The engine takes it before it screens and commits dial intents; every change to a DNC
    list, a lead's channel DNC or a blackout takes it too (`lock_for_change`). So a change
    that committed before an intent was seen by the screening that led to it. Screenings
    exclude each other as well: each counts the attempts the one before it committed, so
    two campaigns (or nodes) dialing one number at once stay within its caps together.
    SQLite needs nothing: each transaction holds the database's write lock from its start.
    """
    await lock_for_change(conn, company)


async def lock_for_change(conn: AsyncConnection, company: Company) -> None:
    """Wait until no transaction of the company is between screening and dial intent."""
    if conn.dialect.name == "postgresql":
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(:space, :company)"),
            {"space": _DNC_LOCKS, "company": company.id},
        )


def _active(now: datetime) -> ColumnElement[bool]:
    return or_(dnc_entries.c.expires_at.is_(None), dnc_entries.c.expires_at > now)


async def add_numbers(
    conn: AsyncConnection,
    company: Company,
    numbers: Sequence[str],
    list_name: DncList,
    *,
    source: Source,
    reason: str,
    actor: str,
    now: datetime,
    expires_at: datetime | None = None,
) -> list[str]:
    """Put E.164 `numbers` on a company list, until `expires_at` if given (then screening
    no longer sees them); returns those that were not already on it."""
    keys = sorted({to_key(number) for number in numbers})
    if not keys:
        return []
    await lock_for_change(conn, company)
    rows = [
        {
            "company_id": company.id,
            "number": key,
            "list_name": list_name.value,
            "source": source.value,
            "reason": reason,
            "added_by": actor,
            "added_at": now,
            "expires_at": expires_at,
        }
        for key in keys
    ]
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    upsert = dialect.insert(dnc_entries)
    # An expired entry is replaced; a live one stays as it was (and is not re-audited).
    statement = upsert.on_conflict_do_update(
        index_elements=["company_id", "number", "list_name"],
        set_={column: upsert.excluded[column] for column in rows[0] if column != "number"},
        where=and_(dnc_entries.c.expires_at.is_not(None), dnc_entries.c.expires_at <= now),
    ).returning(dnc_entries.c.number)
    added = sorted((await conn.execute(statement, rows)).scalars().all())
    await _audit(conn, company, "add", list_name, added, source, reason, actor, now)
    for key in added:
        log.info(
            "dnc.added",
            company=company.name,
            number=from_key(key),
            list=list_name.value,
            source=source.value,
            reason=reason,
            by=actor,
        )
    return [from_key(key) for key in added]


async def remove_numbers(
    conn: AsyncConnection,
    company: Company,
    numbers: Sequence[str],
    list_name: DncList,
    *,
    reason: str,
    user: User | None,
    by: str,
    now: datetime,
) -> list[str]:
    """Take numbers off a list if `user` may, with a reason; returns those that were on it."""
    check_removal(user, reason, by)
    return await _remove(conn, company, numbers, list_name, None, reason, by, now)


async def remove_by_source(
    conn: AsyncConnection,
    company: Company,
    numbers: Sequence[str],
    list_name: DncList,
    source: Source,
    *,
    reason: str,
    actor: str,
    now: datetime,
    entry_reason: str | None = None,
) -> list[str]:
    """Take off a list only the entries of `numbers` that `source` added (an opt-in by text
    lifts what texts put there, never a manual, upload, status-rule or IVR entry), and with
    `entry_reason` only those added with exactly that reason (one message's entry); audited
    with `source` and `reason`. Returns the numbers whose entry was removed."""
    return await _remove(
        conn, company, numbers, list_name, source, reason, actor, now, entry_reason
    )


async def _remove(
    conn: AsyncConnection,
    company: Company,
    numbers: Sequence[str],
    list_name: DncList,
    source: Source | None,
    reason: str,
    actor: str,
    now: datetime,
    entry_reason: str | None = None,
) -> list[str]:
    """Delete the list's entries of `numbers` (only those `source` added, and only those
    added with `entry_reason`, when given) and audit each removal; a manual removal is
    audited as such."""
    keys = sorted({to_key(number) for number in numbers})
    if not keys:
        return []
    await lock_for_change(conn, company)
    of_source = () if source is None else (dnc_entries.c.source == source.value,)
    of_reason = () if entry_reason is None else (dnc_entries.c.reason == entry_reason,)
    removed = sorted(
        (
            await conn.execute(
                delete(dnc_entries)
                .where(
                    dnc_entries.c.company_id == company.id,
                    dnc_entries.c.list_name == list_name.value,
                    dnc_entries.c.number.in_(keys),
                    *of_source,
                    *of_reason,
                )
                .returning(dnc_entries.c.number)
            )
        )
        .scalars()
        .all()
    )
    audited = source or Source.MANUAL
    await _audit(conn, company, "remove", list_name, removed, audited, reason, actor, now)
    for key in removed:
        log.info(
            "dnc.removed",
            company=company.name,
            number=from_key(key),
            list=list_name.value,
            source=audited.value,
            reason=reason,
            by=actor,
        )
    return [from_key(key) for key in removed]


async def _audit(
    conn: AsyncConnection,
    company: Company,
    action: str,
    list_name: DncList,
    keys: Sequence[int],
    source: Source,
    reason: str,
    actor: str,
    now: datetime,
) -> None:
    if not keys:
        return
    await conn.execute(
        insert(dnc_events),
        [
            {
                "company_id": company.id,
                "at": now,
                "action": action,
                "list_name": list_name.value,
                "number": key,
                "source": source.value,
                "reason": reason,
                "actor": actor,
            }
            for key in keys
        ],
    )


async def listings(
    conn: AsyncConnection, company: Company, numbers: Sequence[str], now: datetime
) -> dict[str, list[DncEntry]]:
    """The live entries of each E.164 number on the company lists, in list order.

    One query for the whole batch, whatever its size; numbers on no list are absent.
    """
    keys = {to_key(number): number for number in numbers}
    if not keys:
        return {}
    rows = await conn.execute(
        select(dnc_entries).where(
            dnc_entries.c.company_id == company.id,
            in_batch(dnc_entries.c.number, list(keys), conn.dialect.name),
            _active(now),
        )
    )
    found: dict[str, list[DncEntry]] = {}
    for row in rows:
        found.setdefault(keys[row.number], []).append(_entry(row))
    for entries_of_number in found.values():
        entries_of_number.sort(key=lambda entry: entry.list_name)
    return found


async def blocking(
    conn: AsyncConnection,
    company: Company,
    numbers: Sequence[str],
    channel: Channel,
    now: datetime,
) -> dict[str, list[DncEntry]]:
    """For each E.164 number blocked on `channel`, the live entries that block it."""
    lists = LISTS_BLOCKING[channel]
    found = {
        number: [entry for entry in listed if entry.list_name in lists]
        for number, listed in (await listings(conn, company, numbers, now)).items()
    }
    return {number: entries for number, entries in found.items() if entries}


async def blocked(
    conn: AsyncConnection,
    company: Company,
    numbers: Sequence[str],
    channel: Channel,
    now: datetime,
) -> dict[str, list[DncList]]:
    """For each E.164 number blocked on `channel`, the company lists that block it."""
    found = await blocking(conn, company, numbers, channel, now)
    return {number: [entry.list_name for entry in entries] for number, entries in found.items()}


def _entry(row: Row) -> DncEntry:
    return DncEntry(
        number=from_key(row.number),
        list_name=DncList(row.list_name),
        source=Source(row.source),
        reason=row.reason,
        added_by=row.added_by,
        added_at=row.added_at,
        expires_at=row.expires_at,
    )


async def entries(
    conn: AsyncConnection, company: Company, list_name: DncList | None, now: datetime
) -> AsyncIterator[DncEntry]:
    """Stream a company's live entries (for export), list by list, in number order."""
    query = select(dnc_entries).where(dnc_entries.c.company_id == company.id, _active(now))
    if list_name is not None:
        query = query.where(dnc_entries.c.list_name == list_name.value)
    page = await stream_last(conn, query, (dnc_entries.c.list_name, dnc_entries.c.number), None)
    async for row in page.rows:
        yield _entry(row)


async def entries_page(
    conn: AsyncConnection,
    company: Company,
    now: datetime,
    *,
    list_name: DncList | None = None,
    number: str | None = None,
    source: Source | None = None,
    added_after: datetime | None = None,
    after: tuple[str, DncList] | None = None,
    limit: int,
) -> list[DncEntry]:
    """A page of a company's live entries in (number, list) order, the primary key's own:
    one index range scan from the entry `after` (E.164 number, list), whatever the page."""
    query = select(dnc_entries).where(dnc_entries.c.company_id == company.id, _active(now))
    if list_name is not None:
        query = query.where(dnc_entries.c.list_name == list_name.value)
    if number is not None:
        query = query.where(dnc_entries.c.number == to_key(number))
    if source is not None:
        query = query.where(dnc_entries.c.source == source.value)
    if added_after is not None:
        query = query.where(dnc_entries.c.added_at > added_after)
    if after is not None:
        last_number, last_list = after
        query = query.where(
            tuple_(dnc_entries.c.number, dnc_entries.c.list_name)
            > tuple_(to_key(last_number), last_list.value)
        )
    rows = await conn.execute(
        query.order_by(dnc_entries.c.number, dnc_entries.c.list_name).limit(limit)
    )
    return [_entry(row) for row in rows]


async def audit_events(
    conn: AsyncConnection,
    company: Company,
    *,
    number: str | None = None,
    lead_id: int | None = None,
    limit: int | None = None,
) -> Page[AuditEvent]:
    """The company's DNC audit trail, streamed oldest first, optionally for one number or
    lead; with `limit`, only the newest `limit` events."""
    query = select(dnc_events).where(dnc_events.c.company_id == company.id)
    if number is not None:
        query = query.where(dnc_events.c.number == to_key(number))
    if lead_id is not None:
        query = query.where(dnc_events.c.lead_id == lead_id)
    page = await stream_last(conn, query, (dnc_events.c.id,), limit)
    return Page(rows=(_event(row) async for row in page.rows), more=page.more)


async def audit_page(
    conn: AsyncConnection,
    company: Company,
    *,
    number: str | None = None,
    after: int | None = None,
    limit: int,
) -> list[AuditEvent]:
    """A page of the company's DNC audit trail, oldest first, from the event after `after`
    (its id), optionally for one E.164 number."""
    query = select(dnc_events).where(dnc_events.c.company_id == company.id)
    if number is not None:
        query = query.where(dnc_events.c.number == to_key(number))
    if after is not None:
        query = query.where(dnc_events.c.id > after)
    rows = await conn.execute(query.order_by(dnc_events.c.id).limit(limit))
    return [_event(row) for row in rows]


def _event(row: Row) -> AuditEvent:
    return AuditEvent(
        id=row.id,
        at=row.at,
        action=row.action,
        list_name=row.list_name,
        number=None if row.number is None else from_key(row.number),
        lead_id=row.lead_id,
        channels=row.channels,
        source=row.source,
        reason=row.reason,
        actor=row.actor,
    )


# --- bulk import -----------------------------------------------------------------------
# A worker thread reads and normalizes the file a chunk at a time while the previous chunk
# is staged in a temporary table (SQLite executemany into a keyed table that drops repeats;
# PostgreSQL COPY). Set-based statements then add the new numbers in key order, each with
# one audit event. A file that fails half-way leaves the list untouched.

_NEW_NUMBERS = """
CREATE TEMP TABLE dnc_new {on_commit} AS
SELECT {distinct} s.number FROM dnc_staging s
WHERE NOT EXISTS (
    SELECT 1 FROM dnc_entries e
    WHERE e.company_id = :company AND e.number = s.number AND e.list_name = :list
      AND (e.expires_at IS NULL OR e.expires_at > :now)
)
"""

_SELECT_NEW_ENTRIES = """
SELECT :company, number, :list, 'upload', :reason, :actor, :now, :expires FROM dnc_new
"""

_ADD_EVENTS = """
INSERT INTO dnc_events (company_id, at, action, list_name, number, source, reason, actor)
SELECT :company, :now, 'add', :list, number, 'upload', :reason, :actor FROM {source}
"""

_ENTRY_COLUMNS = "(company_id, number, list_name, source, reason, added_by, added_at, expires_at)"


def _sql(statement: str) -> TextClause:
    instants = [name for name in ("now", "expires") if f":{name}" in statement]
    return text(statement).bindparams(*(bindparam(name, type_=UtcDateTime) for name in instants))


class _SqliteStaging:
    """Stages into an INTEGER PRIMARY KEY table: repeats drop out, rows come out sorted."""

    distinct: int

    async def open(self, conn: AsyncConnection) -> None:
        self.conn, self.distinct = conn, 0
        for statement in (
            "DROP TABLE IF EXISTS temp.dnc_staging",
            "DROP TABLE IF EXISTS temp.dnc_new",
            "CREATE TEMP TABLE dnc_staging (number INTEGER PRIMARY KEY)",
        ):
            await conn.execute(text(statement))
        self.driver = (await conn.get_raw_connection()).driver_connection

    async def stage(self, keys: list[int]) -> None:
        # One statement per chunk: SQLite unpacks the JSON array itself, so the driver
        # thread does not fight the reader thread for the GIL once per row.
        cursor = await self.driver.execute(
            "INSERT OR IGNORE INTO dnc_staging (number) SELECT value FROM json_each(?)",
            (json.dumps(keys),),
        )
        self.distinct += cursor.rowcount

    async def finish(self, params: dict[str, object]) -> tuple[int, int]:
        """Add the new numbers with their events; returns (distinct staged, added)."""
        conn = self.conn
        await conn.execute(_sql(_NEW_NUMBERS.format(on_commit="", distinct="")), params)
        # The write lock is ours (BEGIN IMMEDIATE), so only expired entries can collide.
        added = (
            await conn.execute(
                _sql(f"INSERT OR REPLACE INTO dnc_entries {_ENTRY_COLUMNS} {_SELECT_NEW_ENTRIES}"),
                params,
            )
        ).rowcount
        await conn.execute(_sql(_ADD_EVENTS.format(source="dnc_new")), params)
        await conn.execute(text("DROP TABLE temp.dnc_staging"))
        await conn.execute(text("DROP TABLE temp.dnc_new"))
        return self.distinct, added


class _PostgresStaging:
    """Stages into an unindexed table, then lets the server sort and deduplicate."""

    async def open(self, conn: AsyncConnection) -> None:
        self.conn = conn
        await conn.execute(
            text("CREATE TEMP TABLE dnc_staging (number bigint NOT NULL) ON COMMIT DROP")
        )
        self.driver = (await conn.get_raw_connection()).driver_connection

    async def stage(self, keys: list[int]) -> None:
        await self.driver.execute(
            "INSERT INTO dnc_staging (number) SELECT unnest($1::bigint[])", keys
        )

    async def finish(self, params: dict[str, object]) -> tuple[int, int]:
        conn = self.conn
        distinct = (
            await conn.execute(text("SELECT count(DISTINCT number) FROM dnc_staging"))
        ).scalar_one()
        new_numbers = _NEW_NUMBERS.format(on_commit="ON COMMIT DROP", distinct="DISTINCT")
        await conn.execute(_sql(new_numbers), params)
        # Other processes may add the same numbers meanwhile: audit exactly what landed.
        added = (
            await conn.execute(
                _sql(
                    f"""
                    WITH added AS (
                        INSERT INTO dnc_entries {_ENTRY_COLUMNS}
                        {_SELECT_NEW_ENTRIES} ORDER BY number
                        ON CONFLICT (company_id, number, list_name) DO UPDATE
                        SET source = excluded.source, reason = excluded.reason,
                            added_by = excluded.added_by, added_at = excluded.added_at,
                            expires_at = excluded.expires_at
                        WHERE dnc_entries.expires_at <= :now
                        RETURNING number
                    )
                    {_ADD_EVENTS.format(source="added")}
                    """
                ),
                params,
            )
        ).rowcount
        return distinct, added


def _read_chunk(
    rows: Iterator[tuple[int, str]], region: str
) -> tuple[int, list[int], list[tuple[int, str, str]]]:
    """Up to IMPORT_CHUNK rows: (rows read, normalized keys, rejected rows)."""
    keys, rejected, read = [], [], 0
    for row, value in itertools.islice(rows, IMPORT_CHUNK):
        read += 1
        try:
            keys.append(normalize(value, region).key)
        except InvalidNumber as error:
            rejected.append((row, value, error.reason))
    keys.sort()  # sorted runs insert into the staging B-tree far faster than random keys
    return read, keys, rejected


async def import_numbers(
    conn: AsyncConnection,
    company: Company,
    rows: Iterable[tuple[int, str]],
    list_name: DncList,
    *,
    reason: str,
    actor: str,
    now: datetime,
    expires_at: datetime | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Add every valid number of `rows` (row number, raw value) to a company list, until
    `expires_at` if given (a live entry stays as it was).

    Invalid rows are reported, repeats counted. Memory stays flat whatever the file size.
    """
    staging = _PostgresStaging() if conn.dialect.name == "postgresql" else _SqliteStaging()
    await staging.open(conn)
    summary, source, staged = ImportSummary(), iter(rows), 0

    def next_chunk() -> asyncio.Future:
        return asyncio.ensure_future(asyncio.to_thread(_read_chunk, source, company.default_region))

    pending = next_chunk()
    try:
        while True:
            read, keys, rejected = await pending
            if not read:
                break
            pending = next_chunk()  # read ahead while this chunk is staged
            summary.read += read
            for row, value, error in rejected:
                summary.reject(row, value, error)
            if keys:
                await staging.stage(keys)
                staged += len(keys)
            if on_progress is not None:
                on_progress(read)
    finally:
        pending.cancel()
    params = {
        "company": company.id,
        "list": list_name.value,
        "reason": reason,
        "actor": actor,
        "now": now,
        "expires": expires_at,
    }
    # Only now: staging the file, however long, must not hold off the engine's screening.
    await lock_for_change(conn, company)
    distinct, summary.added = await staging.finish(params)
    summary.duplicates_in_file = staged - distinct
    summary.already_listed = distinct - summary.added
    log.info(
        "dnc.imported",
        company=company.name,
        list=list_name.value,
        read=summary.read,
        added=summary.added,
        already_listed=summary.already_listed,
        duplicates_in_file=summary.duplicates_in_file,
        invalid=summary.invalid_count,
        reason=reason,
        by=actor,
    )
    return summary
