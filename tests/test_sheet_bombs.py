"""Spreadsheet bombs and Excel's limits: an upload past them is refused, the limit named,
before anything is written, by `dnc import` and `leads import` alike.

The bombs are built by bench/memory.py (which also measures their peak memory): small
files whose parts are deflated from repeated chunks.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Awaitable, Callable
from itertools import chain
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.memory import (
    MB,
    PHONE_HEADER,
    cell_bomb,
    repeated,
    rows_bomb,
    shared_strings_bomb,
    sparse_bomb,
    whitespace_bomb,
    write_workbook,
)
from compliance import Company, DncList, UnreadableFile, leads, registry, sheets
from compliance.sheets import MAX_CELL_CHARS, MAX_ROWS
from compliance.tables import dnc_entries, dnc_events
from compliance.tables import leads as leads_table
from tests.support import NOW

Importer = Callable[[AsyncEngine, Company, Path], Awaitable[object]]


async def import_dnc(engine: AsyncEngine, company: Company, path: Path) -> object:
    async with engine.begin() as conn:
        return await registry.import_numbers(
            conn,
            company,
            sheets.iter_first_column(path),
            DncList.DNC,
            reason="upload",
            actor="ana",
            now=NOW,
        )


async def import_lead_file(engine: AsyncEngine, company: Company, path: Path) -> object:
    async with engine.begin() as conn:
        records = sheets.iter_records(path, leads.LEAD_COLUMNS)
        return await leads.import_leads(conn, company, records, "spring", NOW)


IMPORTERS = [import_dnc, import_lead_file]


async def stored_rows(engine: AsyncEngine) -> tuple[int, ...]:
    async with engine.begin() as conn:
        return tuple(
            [
                (await conn.execute(select(func.count()).select_from(table))).scalar_one()
                for table in (dnc_entries, dnc_events, leads_table)
            ]
        )


async def refusal(engine: AsyncEngine, company: Company, path: Path, importer: Importer) -> str:
    """The UnreadableFile message of an import that must change nothing."""
    before = await stored_rows(engine)
    with pytest.raises(UnreadableFile) as info:
        await importer(engine, company, path)
    assert await stored_rows(engine) == before
    return str(info.value)


def shared_cell(path: Path, text: bytes) -> Path:
    rows = (PHONE_HEADER, b'<row r="2"><c r="A2" t="s"><v>0</v></c></row>')
    return write_workbook(path, rows, (b"<si><t>", text, b"</t></si>"))


def number_cell(path: Path, digits: bytes) -> Path:
    cell = (b'<row r="2"><c r="A2"><v>', digits, b"</v></c></row>")
    return write_workbook(path, (PHONE_HEADER, *cell))


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The large bombs, built once: they take a second or two each to deflate."""
    folder = tmp_path_factory.mktemp("bombs")
    whitespace_bomb(folder / "whitespace.xlsx", sheets.MAX_SHEET_BYTES + MB)
    shared_strings_bomb(folder / "strings.xlsx", sheets.MAX_SHARED_STRINGS_BYTES + MB)
    rows_bomb(folder / "rows.xlsx", MAX_ROWS + 1)
    cell_bomb(folder / "cell.xlsx", 100 * MB)
    return folder


# --- cells ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda path: cell_bomb(path, MAX_CELL_CHARS + 1),
        lambda path: shared_cell(path, b"9" * (MAX_CELL_CHARS + 1)),
        lambda path: number_cell(path, b"9" * (MAX_CELL_CHARS + 1)),
    ],
    ids=["inline string", "shared string", "number"],
)
@pytest.mark.parametrize("importer", IMPORTERS)
async def test_a_cell_longer_than_excel_allows_is_refused(
    engine, company, tmp_path, build, importer
):
    path = build(tmp_path / "spring.xlsx")
    message = await refusal(engine, company, path, importer)
    assert "spring.xlsx has a cell longer than 32,767 characters" in message
    assert "(Excel's limit for a cell)" in message


@pytest.mark.parametrize("importer", IMPORTERS)
async def test_a_huge_cell_is_refused_without_reading_it_whole(engine, company, bombs, importer):
    message = await refusal(engine, company, bombs / "cell.xlsx", importer)
    assert message == (
        "cell.xlsx has a cell longer than 32,767 characters on row 2 (Excel's limit for a cell)"
    )


def test_a_cell_of_exactly_excels_limit_is_read(tmp_path):
    path = cell_bomb(tmp_path / "spring.xlsx", MAX_CELL_CHARS)
    assert [len(cells[0]) for _, cells in sheets.iter_rows(path)] == [5, MAX_CELL_CHARS]


@pytest.mark.parametrize("importer", IMPORTERS)
async def test_a_csv_cell_longer_than_excel_allows_is_refused(engine, company, tmp_path, importer):
    path = tmp_path / "spring.csv"
    path.write_text(f"phone\n3055550134\n{'9' * (MAX_CELL_CHARS + 1)}\n", encoding="utf-8")
    message = await refusal(engine, company, path, importer)
    assert message == (
        "spring.csv has a cell longer than 32,767 characters on row 3 (Excel's limit for a cell)"
    )


def test_cells_past_column_xfd_are_refused(tmp_path):
    wide = b'<row r="2"><c r="XFE2"><v>1</v></c></row>'
    path = write_workbook(tmp_path / "wide.xlsx", (PHONE_HEADER, wide))
    with pytest.raises(UnreadableFile) as info:
        list(sheets.iter_rows(path))
    assert str(info.value) == (
        "wide.xlsx has cells past column XFD on row 2 (Excel's limit of 16,384 columns)"
    )


def test_markup_longer_than_a_megabyte_is_refused(tmp_path):
    comment = chain((PHONE_HEADER, b"<!--"), repeated(b"x-", 2 * MB), (b"x-->",))
    path = write_workbook(tmp_path / "spring.xlsx", comment)
    with pytest.raises(UnreadableFile) as info:
        list(sheets.iter_first_column(path))
    assert str(info.value) == (
        "spring.xlsx is a damaged XLSX workbook (XML markup over 1 MB long near row 2)"
    )


def with_styles(path: Path, piece: bytes, size: int) -> Path:
    """A stylesheet of `piece` repeated to `size` bytes inside <cellXfs>."""
    chunks = chain(
        (b"<styleSheet><cellXfs>",), repeated(piece, size), (b"</cellXfs></styleSheet>",)
    )
    archive = zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED, compresslevel=1)
    with archive, archive.open("xl/styles.xml", "w") as out:
        for chunk in chunks:
            out.write(chunk)
    return path


@pytest.mark.parametrize(
    ("piece", "size", "cause"),
    [
        (
            b"<xf/>",
            200_001 * 5,
            "is a damaged XLSX workbook (more than 200,000 xf entries)",
        ),
        (
            b" ",
            17 * MB,
            "is too large to import: its part xl/styles.xml would inflate to more than 16 MB "
            "(the limit); split it into smaller files",
        ),
    ],
    ids=["styles", "bytes"],
)
async def test_a_bloated_stylesheet_is_refused(engine, company, tmp_path, piece, size, cause):
    path = with_styles(sparse_bomb(tmp_path / "styled.xlsx", 3), piece, size)
    assert await refusal(engine, company, path, import_dnc) == f"styled.xlsx {cause}"


# --- decompressed size ------------------------------------------------------------------


@pytest.mark.parametrize("importer", IMPORTERS)
async def test_a_sheet_inflating_past_the_cap_is_refused(engine, company, bombs, importer):
    message = await refusal(engine, company, bombs / "whitespace.xlsx", importer)
    assert message == (
        "whitespace.xlsx is too large to import: its first sheet would inflate to more than "
        "512 MB (the limit); split it into smaller files"
    )


@pytest.mark.parametrize("importer", IMPORTERS)
async def test_shared_strings_inflating_past_the_cap_are_refused(engine, company, bombs, importer):
    message = await refusal(engine, company, bombs / "strings.xlsx", importer)
    assert message == (
        "strings.xlsx is too large to import: its shared strings would inflate to more than "
        "128 MB (the limit); split it into smaller files"
    )


# --- rows -------------------------------------------------------------------------------

TOO_MANY_ROWS = "has rows past row 1,048,576 (Excel's limit); split it into smaller files"


@pytest.mark.parametrize("importer", IMPORTERS)
async def test_more_rows_than_excel_allows_are_refused(engine, company, bombs, importer):
    message = await refusal(engine, company, bombs / "rows.xlsx", importer)
    assert message == f"rows.xlsx {TOO_MANY_ROWS}"


@pytest.mark.parametrize("importer", IMPORTERS)
async def test_a_csv_with_more_rows_than_excel_allows_is_refused(
    engine, company, tmp_path, importer
):
    path = tmp_path / "spring.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write("phone\n3055550134\n")
        out.writelines(repeated("\n", MAX_ROWS - 1))
    message = await refusal(engine, company, path, importer)
    assert message == f"spring.csv {TOO_MANY_ROWS}"


@pytest.mark.timeout(60)  # the old reader walked every row of the gap, for hours
@pytest.mark.parametrize("importer", IMPORTERS)
async def test_a_row_number_past_excels_limit_is_refused_at_once(
    engine, company, tmp_path, importer
):
    path = sparse_bomb(tmp_path / "sparse.xlsx", 2_000_000_000)
    assert path.stat().st_size < 5_000
    message = await refusal(engine, company, path, importer)
    assert message == f"sparse.xlsx {TOO_MANY_ROWS}"


@pytest.mark.timeout(60)
def test_a_gap_up_to_the_last_row_is_skipped_not_walked(tmp_path):
    path = sparse_bomb(tmp_path / "sparse.xlsx", MAX_ROWS)
    assert list(sheets.iter_first_column(path)) == [
        (2, "3055550134"),
        (MAX_ROWS, "3055550135"),
    ]


# --- which columns are read -------------------------------------------------------------


def xlsx_with_columns(path: Path, *rows: list[str]) -> Path:
    """A workbook of inline strings, from A1; empty values are left out."""
    sheet = []
    for number, values in enumerate(rows, 1):
        cells = "".join(
            f'<c r="{chr(65 + i)}{number}" t="inlineStr"><is><t>{value}</t></is></c>'
            for i, value in enumerate(values)
            if value
        )
        sheet.append(f'<row r="{number}">{cells}</row>'.encode())
    return write_workbook(path, sheet)


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_dnc_import_with_numbers_outside_column_a_says_where_they_are(dialer, tmp_path, kind):
    rows = [["", "Name", "Phone"], ["", "Ann", "305-555-0134"], ["", "Bob", "305-555-0135"]]
    if kind == "csv":
        path = tmp_path / "list.csv"
        path.write_text("".join(",".join(row) + "\n" for row in rows), encoding="utf-8")
    else:
        path = xlsx_with_columns(tmp_path / "list.xlsx", *rows)

    refused = dialer("dnc", "import", str(path))

    assert refused.exit_code == 1
    assert (
        f"{path.name} has nothing in column A, the only column read; the numbers seem to be "
        "in column C: move them to column A"
    ) in refused.stderr
    assert json.loads(dialer("dnc", "log", "--json").stdout) == []


def test_dnc_import_of_a_file_without_numbers_reads_nothing(dialer, tmp_path):
    path = tmp_path / "list.csv"
    path.write_text(",Name\n,Ann\n", encoding="utf-8")
    done = dialer("dnc", "import", str(path), "--json")
    assert done.exit_code == 0
    assert json.loads(done.stdout)["read"] == 0


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_leads_import_reads_columns_by_their_header_names(dialer, tmp_path, kind):
    rows = [
        ["Last Name", "Email", "Phone", "First Name", "External-ID"],
        ["Lee", "ann@example.com", "305-555-0134", "Ann", "L1"],
    ]
    if kind == "csv":
        path = tmp_path / "leads.csv"
        path.write_text("".join(",".join(row) + "\n" for row in rows), encoding="utf-8")
    else:
        path = xlsx_with_columns(tmp_path / "leads.xlsx", *rows)

    assert dialer("leads", "import", str(path)).exit_code == 0
    shown = json.loads(dialer("leads", "show", "L1", "--json").stdout)

    assert (shown["first_name"], shown["last_name"], shown["email"], shown["phone"]) == (
        "Ann",
        "Lee",
        "ann@example.com",
        "+13055550134",
    )
