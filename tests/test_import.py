"""Bulk uploads of DNC lists on both backends: messy rows, duplicates, broken files."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from compliance import Channel, DncList, UnreadableFile, registry, sheets
from compliance.tables import dnc_entries, dnc_events
from tests.support import NOW

MESSY_CSV = """Phone Number,Name
(305) 555-0134,Ann
305.555.0135,Bob

+1 305 555 0136,Cy
1-305-555-0134,Ann again
3055550137.0,Excel
3.05555E+09,Scientific
555-0134,Short
+1 (305) 555-0138 x12,Ext
"""


async def upload(engine, company, path: Path, list_name=DncList.DNC):
    async with engine.begin() as conn:
        return await registry.import_numbers(
            conn,
            company,
            sheets.iter_first_column(path),
            list_name,
            reason="upload",
            actor="ana",
            now=NOW,
        )


async def stored(engine, company) -> list[int]:
    async with engine.begin() as conn:
        rows = await conn.execute(
            select(dnc_entries.c.number).where(dnc_entries.c.company_id == company.id)
        )
        return sorted(rows.scalars())


async def events(engine) -> int:
    async with engine.begin() as conn:
        return (await conn.execute(select(func.count()).select_from(dnc_events))).scalar_one()


async def test_messy_csv_is_normalized_counted_and_reported(engine, company, tmp_path):
    path = tmp_path / "list.csv"
    path.write_text(MESSY_CSV, encoding="utf-8")

    summary = await upload(engine, company, path)

    assert (summary.read, summary.added, summary.duplicates_in_file) == (8, 5, 1)
    assert summary.already_listed == 0
    assert [(r.row, r.value) for r in summary.invalid] == [(8, "3.05555E+09"), (9, "555-0134")]
    assert "scientific" in summary.invalid[0].error.lower()
    assert await stored(engine, company) == [13055550134 + n for n in range(5)]
    assert await events(engine) == 5


async def test_uploading_the_same_file_again_changes_nothing(engine, company, tmp_path):
    path = tmp_path / "list.csv"
    path.write_text(MESSY_CSV, encoding="utf-8")
    await upload(engine, company, path)

    again = await upload(engine, company, path)

    assert (again.added, again.already_listed, again.duplicates_in_file) == (0, 5, 1)
    assert await events(engine) == 5


async def test_xlsx_reads_only_the_first_column_of_the_first_sheet(engine, company, tmp_path):
    book = Workbook()
    first = book.active
    first.append(["phone", "+12125550100", "notes"])
    first.append([3055550134, "+12125550101", "x"])
    first.append([3055550135.0, None, None])
    other = book.create_sheet("other")
    other.append(["+12125550102"])
    path = tmp_path / "list.xlsx"
    book.save(path)

    summary = await upload(engine, company, path, DncList.DNT)

    assert (summary.read, summary.added) == (2, 2)
    assert await stored(engine, company) == [13055550134, 13055550135]
    async with engine.begin() as conn:
        voice = await registry.blocked(conn, company, ["+13055550134"], Channel.VOICE, NOW)
        sms = await registry.blocked(conn, company, ["+13055550134"], Channel.SMS, NOW)
    assert (voice, sms) == ({}, {"+13055550134": [DncList.DNT]})


async def test_a_file_broken_half_way_writes_nothing(engine, company, tmp_path):
    path = tmp_path / "broken.csv"
    good = "".join(f"+1305555{n:04d}\n" for n in range(60_000)).encode()
    path.write_bytes(good + b"\xff\xfe garbage\n+13055559999\n")

    with pytest.raises(UnreadableFile, match="UTF-8"):
        await upload(engine, company, path)

    assert await stored(engine, company) == []
    assert await events(engine) == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"%PDF-1.7\n...", "CSV"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "CSV"),
        (b"PK\x03\x04 truncated zip", "XLSX"),
        (b"", "empty"),
    ],
)
async def test_files_that_are_not_csv_or_xlsx_are_refused(
    engine, company, tmp_path, content, message
):
    path = tmp_path / "upload.xlsx"
    path.write_bytes(content)

    with pytest.raises(UnreadableFile, match=message):
        await upload(engine, company, path)
    assert await stored(engine, company) == []


async def test_truncated_xlsx_is_refused(engine, company, tmp_path):
    book = Workbook()
    for n in range(2000):
        book.active.append([f"+1305555{n:04d}"])
    path = tmp_path / "list.xlsx"
    book.save(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    with pytest.raises(UnreadableFile):
        await upload(engine, company, path)
    assert await stored(engine, company) == []
