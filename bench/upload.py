"""DNC upload throughput: `dialer dnc import` of a messy CSV against raw bulk inserts.

Ours: read the CSV, normalize every row, stage, add new numbers with their audit events.
Baselines, measured in the same run on the same machine:
- SQLite: stdlib sqlite3 `executemany` of the same numbers, already normalized, into a
  table indexed like `dnc_entries` (same columns, same primary key, same pragmas);
- PostgreSQL: asyncpg `COPY` of the same numbers into a table indexed like `dnc_entries`.
Target: ours >= 0.5x the baseline's rows per second.

Run: `python -m bench.upload [ROWS]` (default 1,000,000).
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from bench.common import compare
from bench.normalize import iter_inputs
from compliance import DncList, accounts, normalize, registry, sheets
from dialer.database import SQLITE_PRAGMAS, create_engine, upgrade_schema

POSTGRES_SERVER = "postgres@127.0.0.1:5432"
TARGET = 0.5

PARITY_TABLE = """
CREATE TABLE parity (
    company_id INTEGER NOT NULL, number BIGINT NOT NULL, list_name VARCHAR(3) NOT NULL,
    source VARCHAR(20) NOT NULL, reason TEXT NOT NULL, added_by VARCHAR(200) NOT NULL,
    added_at {timestamp} NOT NULL, expires_at {timestamp},
    PRIMARY KEY (company_id, number, list_name)
) {suffix}
"""


def write_upload(path: Path, count: int) -> None:
    """The normalize benchmark's messy mix, with every 25th row repeating an earlier one."""
    with path.open("w", encoding="utf-8") as file:
        file.write("phone\n")
        earlier = ""
        for index, row in enumerate(iter_inputs(count, seed=7)):
            if index % 25 == 24:
                row = earlier
            elif index % 25 == 0:
                earlier = row
            file.write(row + "\n")


def normalized_keys(path: Path) -> list[int]:
    """The numbers a baseline inserts: the file's valid numbers, already normalized."""
    keys = []
    for _, value in sheets.iter_first_column(path):
        try:
            keys.append(normalize(value).key)
        except ValueError:
            continue
    return keys


async def import_with_dialer(url: str, path: Path) -> tuple[float, int]:
    engine = create_engine(url)
    try:
        await upgrade_schema(engine)
        now = datetime.now(UTC)
        async with engine.begin() as conn:
            company, _ = await accounts.ensure_company(conn, "bench", now)
        started = time.perf_counter()
        async with engine.begin() as conn:
            summary = await registry.import_numbers(
                conn,
                company,
                sheets.iter_first_column(path),
                DncList.DNC,
                reason="bench",
                actor="bench",
                now=now,
            )
        return time.perf_counter() - started, summary.read
    finally:
        await engine.dispose()


def sqlite_executemany(directory: Path, keys: list[int]) -> float:
    connection = sqlite3.connect(directory / "parity.db", isolation_level=None)
    for pragma in SQLITE_PRAGMAS:
        connection.execute(pragma)
    connection.execute(PARITY_TABLE.format(timestamp="DATETIME", suffix="WITHOUT ROWID"))
    now = datetime.now(UTC).isoformat()
    rows = ((1, key, "dnc", "upload", "bench", "bench", now) for key in keys)
    started = time.perf_counter()
    connection.execute("BEGIN IMMEDIATE")
    connection.executemany(
        "INSERT OR IGNORE INTO parity (company_id, number, list_name, source, reason,"
        " added_by, added_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


async def postgres_copy(url: str, keys: list[int]) -> float:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(PARITY_TABLE.format(timestamp="timestamptz", suffix=""))
        now = datetime.now(UTC)
        # COPY cannot skip duplicates: the baseline gets the distinct numbers only.
        rows = [(1, key, "dnc", "upload", "bench", "bench", now) for key in dict.fromkeys(keys)]
        started = time.perf_counter()
        async with connection.transaction():
            await connection.copy_records_to_table(
                "parity",
                records=rows,
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
        return time.perf_counter() - started
    finally:
        await connection.close()


async def scratch_postgres(name: str) -> bool:
    """Create an empty database `name`; False when no server answers."""
    try:
        admin = await asyncpg.connect(f"postgresql://{POSTGRES_SERVER}/test")
    except OSError:
        return False
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return True


def report(
    label: str, rows: int, ours: float, baseline_rows: int, baseline: float, baseline_name: str
) -> None:
    compare(
        f"upload {label} ({rows:,} rows in {ours:.2f}s)",
        rows / ours,
        baseline_rows / baseline,
        baseline_name,
        TARGET,
        "rows",
    )


def main(count: int = 1_000_000) -> None:
    with tempfile.TemporaryDirectory(prefix="dialer-bench-") as scratch:
        directory = Path(scratch)
        upload = directory / "upload.csv"
        write_upload(upload, count)
        keys = normalized_keys(upload)

        url = f"sqlite+aiosqlite:///{directory / 'dialer.db'}"
        ours, rows = asyncio.run(import_with_dialer(url, upload))
        report(
            "SQLite",
            rows,
            ours,
            len(keys),
            sqlite_executemany(directory, keys),
            "raw sqlite3 executemany",
        )

        name = "dialer_bench_upload"
        if not asyncio.run(scratch_postgres(name)):
            print(f"upload PostgreSQL: skipped, no server at {POSTGRES_SERVER}")
            return
        url = f"postgresql+asyncpg://{POSTGRES_SERVER}/{name}"
        ours, rows = asyncio.run(import_with_dialer(url, upload))
        baseline = asyncio.run(postgres_copy(f"postgresql://{POSTGRES_SERVER}/{name}", keys))
        report("PostgreSQL", rows, ours, len(set(keys)), baseline, "raw asyncpg COPY")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
