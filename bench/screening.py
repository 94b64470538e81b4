"""Screening throughput: the gate on 1,000-attempt batches against a 10M-number company list.

Ours: `compliance.screen` for each batch (company and lead DNC, history for caps and
campaign limits, calling hours in every candidate zone). Baseline, in the same run on the
same database: one raw indexed batch query for the same numbers (`IN (...)` on SQLite with
sqlite3, `= ANY($1)` on PostgreSQL with asyncpg). Target: ours >= 0.5x the baseline.

Run: `python -m bench.screening [LIST_SIZE]` (default 10,000,000).
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from sqlalchemy import text

from bench.common import compare
from bench.upload import POSTGRES_SERVER, scratch_postgres
from compliance import Attempt, CampaignLimits, Channel, accounts, load_rules, screen
from dialer.database import create_engine, upgrade_schema

BATCH = 1000
BATCHES = 50
TARGET = 0.5
NOON_IN_NEW_YORK = datetime(2026, 3, 10, 16, 0, tzinfo=UTC)
AREA_CODES = (305, 786, 954)  # Florida: 4M listed numbers each at most


def number(index: int) -> int:
    """The index-th number of the Florida space (valid exchanges 200-999, every line)."""
    npa, rest = divmod(index, 8_000_000)
    exchange, line = divmod(rest, 10_000)
    return 10_000_000_000 + AREA_CODES[npa] * 10_000_000 + (200 + exchange) * 10_000 + line


def listed_numbers(size: int) -> Iterator[int]:
    """`size` distinct valid numbers, in key order: every even index."""
    return (number(2 * index) for index in range(size))


def batches(size: int, seed: int = 11) -> list[list[int]]:
    """Random probes over the same space: about half of them are on the list."""
    rng = random.Random(seed)
    return [[number(rng.randrange(2 * size)) for _ in range(BATCH)] for _ in range(BATCHES)]


async def fill_list(url: str, size: int) -> None:
    """Load the company list directly (setup, not timed): 10M rows through the product's
    upload path would make the benchmark run for minutes before measuring anything."""
    engine = create_engine(url)
    try:
        await upgrade_schema(engine)
        async with engine.begin() as conn:
            company, _ = await accounts.ensure_company(conn, "bench", NOON_IN_NEW_YORK)
            raw = (await conn.get_raw_connection()).driver_connection
            rows = ((company.id, n, "dnc", "upload", "", "bench") for n in listed_numbers(size))
            if engine.dialect.name == "postgresql":
                await raw.copy_records_to_table(
                    "dnc_entries",
                    records=((*row, NOON_IN_NEW_YORK) for row in rows),
                    columns=[
                        "company_id",
                        "number",
                        "list_name",
                        "source",
                        "reason",
                        "added_by",
                        "added_at",
                    ],
                )
            else:
                await raw.executemany(
                    "INSERT INTO dnc_entries (company_id, number, list_name, source, reason,"
                    " added_by, added_at) VALUES (?, ?, ?, ?, ?, ?, '2026-03-10 16:00:00')",
                    rows,
                )
        async with engine.begin() as conn:
            # Fresh statistics, as autovacuum would gather them in production; without
            # them PostgreSQL plans the first probes as sequential scans.
            await conn.execute(text("ANALYZE dnc_entries"))
    finally:
        await engine.dispose()


async def time_screening(url: str, probes: list[list[int]]) -> tuple[float, int]:
    engine = create_engine(url)
    rules = load_rules()
    campaign = CampaignLimits(id=1, name="bench", max_attempts=3)
    blocked = 0
    try:
        async with engine.connect() as conn:
            company = await accounts.find_company(conn, "bench")
            started = time.perf_counter()
            for batch in probes:
                attempts = [
                    Attempt(f"+{n}", Channel.VOICE, lead_id=i + 1, campaign=campaign)
                    for i, n in enumerate(batch)
                ]
                decisions = await screen(conn, company, attempts, NOON_IN_NEW_YORK, rules)
                blocked += sum(not decision.allowed for decision in decisions)
            return time.perf_counter() - started, blocked
    finally:
        await engine.dispose()


def time_sqlite_query(path: Path, probes: list[list[int]]) -> float:
    connection = sqlite3.connect(path)
    query = (
        "SELECT number FROM dnc_entries WHERE company_id = 1 AND number IN "
        f"({', '.join('?' * BATCH)})"
    )
    started = time.perf_counter()
    for batch in probes:
        connection.execute(query, batch).fetchall()
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


async def time_postgres_query(dsn: str, probes: list[list[int]]) -> float:
    connection = await asyncpg.connect(dsn)
    try:
        query = "SELECT number FROM dnc_entries WHERE company_id = 1 AND number = ANY($1)"
        started = time.perf_counter()
        for batch in probes:
            await connection.fetch(query, batch)
        return time.perf_counter() - started
    finally:
        await connection.close()


def report(label: str, ours: float, blocked: int, baseline: float, baseline_name: str) -> None:
    attempts = BATCH * BATCHES
    compare(
        f"screening {label} ({blocked:,} of {attempts:,} skipped)",
        attempts / ours,
        attempts / baseline,
        baseline_name,
        TARGET,
        "attempts",
    )


def main(size: int = 10_000_000) -> None:
    probes = batches(size)
    with tempfile.TemporaryDirectory(prefix="dialer-bench-") as scratch:
        path = Path(scratch) / "dialer.db"
        url = f"sqlite+aiosqlite:///{path}"
        asyncio.run(fill_list(url, size))
        ours, blocked = asyncio.run(time_screening(url, probes))
        report("SQLite", ours, blocked, time_sqlite_query(path, probes), "raw sqlite3 IN (...)")

    name = "dialer_bench_screening"
    if not asyncio.run(scratch_postgres(name)):
        print(f"screening PostgreSQL: skipped, no server at {POSTGRES_SERVER}")
        return
    url = f"postgresql+asyncpg://{POSTGRES_SERVER}/{name}"
    asyncio.run(fill_list(url, size))
    ours, blocked = asyncio.run(time_screening(url, probes))
    baseline = asyncio.run(time_postgres_query(f"postgresql://{POSTGRES_SERVER}/{name}", probes))
    report("PostgreSQL", ours, blocked, baseline, "raw asyncpg = ANY($1)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000)
