"""Streaming rows out of uploaded CSV/XLSX files: formats, encodings, damage, memory."""

from __future__ import annotations

import codecs
import datetime as dt
import tracemalloc
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import psutil
import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900

from compliance import sheets
from compliance.sheets import (
    UnreadableFile,
    iter_first_column,
    iter_records,
    iter_rows,
    sniff_format,
)

# --- helpers ----------------------------------------------------------------------------


def write_csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def write_xlsx(path: Path, *sheet_rows: Iterable[Sequence[object]]) -> Path:
    """One worksheet per argument, written in write-only (streaming) mode."""
    workbook = Workbook(write_only=True)
    for number, rows in enumerate(sheet_rows, 1):
        sheet = workbook.create_sheet(f"Sheet{number}")
        for row in rows:
            sheet.append(list(row))
    workbook.save(path)
    return path


def rewrite_part(path: Path, part: str, transform: Callable[[bytes], bytes]) -> None:
    """Rewrite one member of a zip (a valid zip results, with the member changed)."""
    with zipfile.ZipFile(path) as source:
        members = [(info.filename, source.read(info)) for info in source.infolist()]
    assert part in dict(members)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in members:
            target.writestr(name, transform(data) if name == part else data)


def is_open(path: Path) -> bool:
    return any(Path(f.path) == path for f in psutil.Process().open_files())


def unreadable(iterator_factory: Callable[[], Iterable[object]]) -> str:
    """Run a reader to the end and return the UnreadableFile message it must raise."""
    with pytest.raises(UnreadableFile) as info:
        list(iterator_factory())
    return str(info.value)


# --- CSV --------------------------------------------------------------------------------


def test_csv_first_column_skips_header_blank_rows_and_other_columns(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "dnc.csv",
        "Phone Number,Name,Notes\r\n"
        "(305) 555-0134,Ann,x\r\n"
        "\r\n"
        ",,\r\n"
        "+1 305.555.0135,Bob\r\n"
        "3.05555e+09,,\r\n"
        ",only in B,\r\n"
        "  3055550136.0  ,Cy,\r\n"
        '"305,555,0137",Dee,"a, b"\r\n',
    )
    assert sniff_format(path) == "csv"
    assert list(iter_first_column(path)) == [
        (2, "(305) 555-0134"),
        (5, "+1 305.555.0135"),
        (6, "3.05555e+09"),
        (8, "3055550136.0"),
        (9, "305,555,0137"),
    ]
    rows = list(iter_rows(path))
    assert [number for number, _ in rows] == [1, 2, 5, 6, 7, 8, 9]
    assert rows[0] == (1, ["Phone Number", "Name", "Notes"])
    assert rows[4] == (7, ["", "only in B", ""])
    assert rows[6] == (9, ["305,555,0137", "Dee", "a, b"])


def test_csv_without_header_keeps_the_first_row(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "dnc.csv", "3055550134\n3055550135\n")
    assert list(iter_first_column(path)) == [(1, "3055550134"), (2, "3055550135")]


@pytest.mark.parametrize("header", ["phone", "Phone Number", "Telefon", "number", "N/A"])
def test_first_value_without_a_digit_is_a_header(tmp_path: Path, header: str) -> None:
    path = write_csv(tmp_path / "dnc.csv", f"\n{header}\n3055550134\nabc\n")
    # only the first value can be a header: later digit-less values are data for the normalizer
    assert list(iter_first_column(path)) == [(3, "3055550134"), (4, "abc")]


def test_single_column_csv_with_spaces_and_no_delimiter(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "dnc.csv", "phone\n305 555 0134\n(305) 555-0135\n305-555-0136\n")
    assert list(iter_rows(path)) == [
        (1, ["phone"]),
        (2, ["305 555 0134"]),
        (3, ["(305) 555-0135"]),
        (4, ["305-555-0136"]),
    ]


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_other_delimiters_are_sniffed(tmp_path: Path, delimiter: str) -> None:
    lines = ["Telefon;Name;Ort", "0305 5550134;Müller, Anna;Köln", "0305 5550135;Bär;Bonn"]
    path = write_csv(tmp_path / "dnc.csv", "\n".join(lines).replace(";", delimiter) + "\n")
    assert list(iter_rows(path))[1] == (2, ["0305 5550134", "Müller, Anna", "Köln"])
    assert list(iter_first_column(path)) == [(2, "0305 5550134"), (3, "0305 5550135")]


def test_excel_sep_directive_sets_the_delimiter_and_is_not_a_row(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "leads.csv", "sep=;\r\nFirst Name;Phone\r\nAnn;3055550134\r\n")
    assert list(iter_records(path, ["first_name", "phone"])) == [
        (2, {"first_name": "Ann", "phone": "3055550134"})
    ]


def test_utf8_bom_is_stripped(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "dnc.csv", "3055550134,x\n3055550135,y\n", "utf-8-sig")
    assert path.read_bytes().startswith(codecs.BOM_UTF8)
    assert list(iter_first_column(path)) == [(1, "3055550134"), (2, "3055550135")]
    assert list(iter_rows(path)) == [(1, ["3055550134", "x"]), (2, ["3055550135", "y"])]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_with_bom_is_read(tmp_path: Path, encoding: str) -> None:
    text = "Telefon\tName\r\n0305 5550134\tJosé Ñúñez\r\n\r\n0305 5550135\t李\r\n"
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = codecs.BOM_UTF16_BE + data
    path = tmp_path / "dnc.csv"
    path.write_bytes(data)
    assert sniff_format(path) == "csv"
    assert list(iter_rows(path)) == [
        (1, ["Telefon", "Name"]),
        (2, ["0305 5550134", "José Ñúñez"]),
        (4, ["0305 5550135", "李"]),
    ]


def test_invalid_utf8_mid_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "spring.csv"
    path.write_bytes(b"phone,name\r\n3055550134,Ann\r\n3055550135,Jos\xff\r\n3055550136,Bob\r\n")
    message = unreadable(lambda: iter_first_column(path))
    assert message.startswith("spring.csv is not UTF-8 text")
    assert "invalid byte 0xff near line 3" in message
    assert "save it as CSV UTF-8" in message


def test_invalid_utf8_far_into_the_file_is_located(tmp_path: Path) -> None:
    # Larger than the reader's 1 MiB block, so the damage lies past what was streamed.
    good = "".join(f"30555{n:05d},Ann\n" for n in range(1, 200_000)).encode()
    path = tmp_path / "big.csv"
    path.write_bytes(b"phone,name\n" + good + b"3055550000,Ren\xe9e\n3055550001,x\n")
    rows: list[tuple[int, str]] = []
    with pytest.raises(UnreadableFile, match=r"0xe9 near line 200001\b"):
        rows.extend(iter_first_column(path))
    assert len(rows) > 1000  # streamed: rows before the damage were already yielded


def test_windows_1252_csv_is_rejected_with_a_hint(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "leads.csv", "phone;name\n3055550134;Müller\n", "cp1252")
    message = unreadable(lambda: iter_rows(path))
    assert "leads.csv is not UTF-8 text (invalid byte 0xfc near line 2" in message


def test_truncated_multibyte_character_at_the_end(tmp_path: Path) -> None:
    path = tmp_path / "dnc.csv"
    path.write_bytes(b"3055550134\n3055550135 \xe2\x82")
    assert "near line 2" in unreadable(lambda: iter_rows(path))


def test_quoted_cells_spanning_lines_count_as_one_row(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "leads.csv", 'phone,notes\n305,"two\nlines"\n306,x\n')
    assert list(iter_rows(path)) == [
        (1, ["phone", "notes"]),
        (2, ["305", "two\nlines"]),
        (3, ["306", "x"]),
    ]


def test_old_mac_line_endings(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "dnc.csv", "phone\r3055550134\r\r3055550135\r")
    assert list(iter_first_column(path)) == [(2, "3055550134"), (4, "3055550135")]


def test_unclosed_quote_does_not_swallow_the_rest_of_the_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "dnc.csv", 'phone\n"3055550134\n3055550135\n3055550136\n')
    message = unreadable(lambda: iter_first_column(path))
    assert message.startswith("dnc.csv is not a valid CSV file (line 4:")
    assert "never closed" in message


def test_field_too_large_is_unreadable_with_a_line(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "dnc.csv", 'phone\n3055550134\n"' + "9" * 200_000 + '"\n')
    message = unreadable(lambda: iter_first_column(path))
    assert message.startswith("dnc.csv is not a valid CSV file (line 3:")
    assert "131072 characters" in message


def test_nul_byte_after_the_first_block_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "dnc.csv"
    path.write_bytes(b"phone\n" + b"3055550134\n" * 2000 + b"305\x00555\n")
    message = unreadable(lambda: iter_first_column(path))
    assert "NUL byte on line 2002" in message
    assert "only CSV and XLSX files are accepted" in message


def test_a_line_too_long_to_be_a_row_is_refused(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "dnc.csv", "phone\n" + "3055550134," * 200_000 + "\n")
    assert "line 2 is longer than" in unreadable(lambda: iter_first_column(path))


# --- XLSX -------------------------------------------------------------------------------


def test_xlsx_first_column_of_first_sheet_only(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "spring.xlsx",
        [
            ["Phone Number", "Name", 1234567890],
            [],
            [3055550134, "Ann"],
            [None, "Bob", 3055559999],
            ["  (305) 555-0135 ", None, "x"],
            [None],
            [1234.5],  # rewritten below into a float 3055550134.0, as Excel can store it
        ],
        [["3055558888"], ["3055557777"]],
    )
    rewrite_part(
        path,
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace(b"<v>1234.5</v>", b"<v>3055550134.0</v>"),
    )
    assert sniff_format(path) == "xlsx"
    assert list(iter_first_column(path)) == [
        (3, "3055550134"),
        (5, "(305) 555-0135"),
        (7, "3055550134.0"),
    ]


def test_xlsx_rows_and_cell_conversion(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "leads.xlsx",
        [
            ["phone", "vip", "since", "score", "note"],
            [3055550134, True, dt.datetime(2024, 5, 1, 9, 30), 2.5, "  hi  "],
            [],
            [None, None, None, None, None],
            [None, None, "only C"],
            [1234.5, False],
        ],
    )
    rewrite_part(
        path,
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace(b"<v>1234.5</v>", b"<v>3.05555E+9</v>"),
    )
    assert list(iter_rows(path)) == [
        (1, ["phone", "vip", "since", "score", "note"]),
        (2, ["3055550134", "True", "2024-05-01 09:30:00", "2.5", "hi"]),
        (5, ["", "", "only C"]),
        (6, ["3055550000.0", "False"]),
    ]


@pytest.mark.parametrize("epoch", [CALENDAR_WINDOWS_1900, CALENDAR_MAC_1904])
def test_xlsx_cells_read_as_openpyxl_reads_them(tmp_path: Path, epoch: dt.datetime) -> None:
    workbook = Workbook()  # not write-only: shared strings, styles, merged formats
    workbook.epoch = epoch
    sheet = workbook.active
    sheet.append(["phone", "when", "time", "length", "flag", "score", "rich"])
    sheet.append([3055550134, dt.datetime(2024, 5, 1, 9, 30), dt.time(9, 5), None, True, 0.1])
    sheet.append(["(305) 555-0135", dt.date(1999, 12, 31), None, dt.timedelta(hours=36)])
    sheet["G3"] = "  padded  "
    sheet["B2"].number_format = "yyyy-mm-dd hh:mm"  # a custom date format
    sheet["D3"].number_format = "[h]:mm:ss"
    sheet["F2"].number_format = "0.00%"
    sheet["A4"] = "=1+2"  # a formula without a cached value reads as empty
    sheet["C5"] = "only C"
    path = tmp_path / "leads.xlsx"
    workbook.save(path)

    expected = []
    reference = load_workbook(path, read_only=True, data_only=True)
    for number, row in enumerate(reference.worksheets[0].iter_rows(values_only=True), 1):
        cells = [
            "" if value is None else value.strip() if isinstance(value, str) else str(value)
            for value in row
        ]
        if any(cells):
            expected.append((number, cells[: max(i for i, c in enumerate(cells) if c) + 1]))
    reference.close()

    assert [(number, cells) for number, cells in iter_rows(path)] == expected
    assert expected[1][1][1:3] == ["2024-05-01 09:30:00", "09:05:00"]


def test_xlsx_with_a_wrong_dimension_is_read_to_the_end(tmp_path: Path) -> None:
    # some writers store <dimension ref="A1"/>; openpyxl's read-only mode trusts it unless told
    path = write_xlsx(tmp_path / "dnc.xlsx", [[f"30555501{n:02d}"] for n in range(10)])
    rewrite_part(
        path,
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace(b"</sheetPr>", b'</sheetPr><dimension ref="A1:A2"/>'),
    )
    assert len(list(iter_first_column(path))) == 10


def test_xlsx_content_with_csv_extension_is_read_as_xlsx(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "upload.csv", [["phone"], [3055550134]])
    assert sniff_format(path) == "xlsx"
    assert list(iter_first_column(path)) == [(2, "3055550134")]


def test_csv_content_with_xlsx_extension_is_read_as_csv(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "upload.xlsx", "phone\n3055550134\n")
    assert sniff_format(path) == "csv"
    assert list(iter_first_column(path)) == [(2, "3055550134")]


def test_truncated_xlsx_is_unreadable(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "spring.xlsx", [[f"30555{n:05d}"] for n in range(2000)])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableFile) as info:
        sniff_format(path)
    expected = "spring.xlsx is not a complete XLSX workbook (truncated or damaged zip)"
    assert str(info.value) == expected
    assert unreadable(lambda: iter_first_column(path)) == expected
    assert not is_open(path)


def test_damaged_sheet_data_inside_a_valid_zip_fails_during_iteration(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "spring.xlsx", [[f"30555{n:05d}"] for n in range(5000)])

    def cut_in_half(xml: bytes) -> bytes:
        # with a <dimension>, openpyxl does not pre-scan the sheet at open: damage shows later
        xml = xml.replace(b"</sheetPr>", b'</sheetPr><dimension ref="A1:A5000"/>')
        return xml[: len(xml) // 2]

    rewrite_part(path, "xl/worksheets/sheet1.xml", cut_in_half)
    rows: list[tuple[int, str]] = []
    with pytest.raises(UnreadableFile) as info:
        rows.extend(iter_first_column(path))
    assert len(rows) > 100
    assert str(info.value) == (
        f"spring.xlsx is a damaged XLSX workbook (invalid XML near row {len(rows) + 1})"
    )
    assert not is_open(path)


def test_unreadable_cell_value_names_the_row(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "spring.xlsx", [["phone"], [3055550134], [], [1234.5], [1]])
    rewrite_part(
        path, "xl/worksheets/sheet1.xml", lambda xml: xml.replace(b"<v>1234.5</v>", b"<v>3x</v>")
    )
    message = unreadable(lambda: iter_first_column(path))
    assert message == "spring.xlsx is a damaged XLSX workbook (unreadable data near row 4)"


def test_corrupted_compressed_sheet_is_unreadable(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "spring.xlsx", [[f"30555{n:05d}", n] for n in range(5000)])
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data = bytearray(path.read_bytes())
    middle = start + info.compress_size // 2
    data[middle : middle + 64] = bytes(64)  # zero out compressed bytes: bad stream or CRC
    path.write_bytes(bytes(data))
    assert sniff_format(path) == "xlsx"  # the central directory is intact
    assert "spring.xlsx" in unreadable(lambda: iter_rows(path))
    assert not is_open(path)


def test_damaged_sheet_without_dimension_names_the_row(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "spring.xlsx", [[f"30555{n:05d}"] for n in range(500)])
    rewrite_part(path, "xl/worksheets/sheet1.xml", lambda xml: xml[: len(xml) // 2])
    message = unreadable(lambda: iter_first_column(path))
    assert message.startswith("spring.xlsx is a damaged XLSX workbook (invalid XML near row ")
    assert not is_open(path)


def test_damaged_workbook_part_fails_at_open_without_leaking_the_file(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "spring.xlsx", [["3055550134"]])
    rewrite_part(path, "xl/workbook.xml", lambda xml: xml[:40])
    assert unreadable(lambda: iter_rows(path)).startswith("spring.xlsx is a damaged XLSX")
    assert not is_open(path)


def test_zip_that_is_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "dnc.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("dnc.csv", "3055550134\n")
    message = unreadable(lambda: iter_first_column(path))
    assert message == (
        "dnc.xlsx looks like a zip archive without a spreadsheet in it; "
        "only CSV and XLSX files are accepted"
    )


@pytest.mark.parametrize(
    ("content", "looks_like"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a PNG image"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "a PDF document"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504), "a legacy Excel .xls workbook"),
        (b"GIF89a\x01\x00", "a GIF image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "a JPEG image"),
        (b"\x1f\x8b\x08\x00" + bytes(8), "a gzip-compressed file"),
        (b"3055550134\n\x00\x01\x02\x03", "a binary file (it contains NUL bytes)"),
        (b"\r\n<!DOCTYPE html><html><table><tr><td>3055550134", "an HTML page"),
    ],
)
def test_other_formats_are_refused_by_content(
    tmp_path: Path, content: bytes, looks_like: str
) -> None:
    path = tmp_path / "dnc.csv"
    path.write_bytes(content)
    with pytest.raises(UnreadableFile) as info:
        sniff_format(path)
    message = str(info.value)
    assert message.startswith(f"dnc.csv looks like {looks_like}")
    assert message.endswith("only CSV and XLSX files are accepted")
    assert unreadable(lambda: iter_rows(path)) == message


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "dnc.csv"
    path.write_bytes(b"")
    with pytest.raises(UnreadableFile, match=r"^dnc\.csv is empty$"):
        sniff_format(path)
    assert unreadable(lambda: iter_first_column(path)) == "dnc.csv is empty"


# --- records ----------------------------------------------------------------------------


def test_records_match_header_case_spacing_and_dashes(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "leads.csv",
        "\n"
        "  FIRST NAME ,Last-Name,Phone,Favourite Color,EMAIL\n"
        "Ann,Lee,3055550134,red,ann@example.com,extra\n"
        "\n"
        "Bob,,3055550135\n",
    )
    columns = ["first_name", "last_name", "phone", "email", "company"]
    assert list(iter_records(path, columns)) == [
        (
            3,
            {
                "first_name": "Ann",
                "last_name": "Lee",
                "phone": "3055550134",
                "email": "ann@example.com",
                "company": "",
            },
        ),
        (
            5,
            {
                "first_name": "Bob",
                "last_name": "",
                "phone": "3055550135",
                "email": "",
                "company": "",
            },
        ),
    ]


def test_records_from_xlsx(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "leads.xlsx",
        [["Phone", "Zip-Code", "ignored"], [3055550134, 33101, "x"], [], [None, "02134"]],
    )
    assert list(iter_records(path, ["phone", "zip_code"])) == [
        (2, {"phone": "3055550134", "zip_code": "33101"}),
        (4, {"phone": "", "zip_code": "02134"}),
    ]


def test_records_without_any_expected_column_is_unreadable(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "leads.csv", "3055550134,Ann\n3055550135,Bob\n")
    with pytest.raises(UnreadableFile) as info:
        list(iter_records(path, ["phone", "first_name"]))
    assert not is_open(path)  # even while the traceback keeps the generator frames alive
    message = str(info.value)
    assert message.startswith("leads.csv has no header row with the expected columns")
    assert "'3055550134', 'Ann'" in message
    assert message.endswith("expected one or more of phone, first_name")


def test_records_reject_a_string_as_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "leads.csv", "phone\n3055550134\n")
    with pytest.raises(TypeError):
        iter_records(path, "phone")


# --- resources and memory ---------------------------------------------------------------


def test_stopping_early_closes_the_workbook(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "dnc.xlsx", [[f"30555{n:05d}"] for n in range(100)])
    rows = iter_first_column(path)
    assert not is_open(path)  # nothing is opened before iteration starts
    assert next(rows) == (1, "3055500000")
    assert is_open(path)
    rows.close()
    assert not is_open(path)

    for _number, _value in iter_first_column(path):
        break  # the abandoned generator is finalized at once and closes the file
    assert not is_open(path)


def test_stopping_early_closes_the_csv(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "dnc.csv", "3055550134\n" * 100)
    rows = iter_rows(path)
    next(rows)
    assert is_open(path)
    rows.close()
    assert not is_open(path)


def test_csv_is_streamed_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "dnc.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("phone,name\n")
        for n in range(200_000):
            out.write(f"+1305{n:07d},Some Name {n}\n")
    assert path.stat().st_size > 5_000_000
    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_first_column(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 200_000
    assert peak < 1_000_000, f"peak {peak} bytes while streaming"


def test_module_exports() -> None:
    assert set(sheets.__all__) == {
        "MAX_CELL_CHARS",
        "MAX_COLUMNS",
        "MAX_ROWS",
        "MAX_SHARED_STRINGS_BYTES",
        "MAX_SHEET_BYTES",
        "UnreadableFile",
        "iter_first_column",
        "iter_records",
        "iter_rows",
        "sniff_format",
    }
    assert issubclass(UnreadableFile, ValueError)
