"""Stream rows out of uploaded CSV and XLSX files (DNC lists, lead lists).

Everything here is a generator over an open file: nothing loads a whole upload into memory,
so a 10M-row CSV is read in constant memory. The format is decided by the file's content, not
its extension. Every problem with the file itself (wrong format, damaged workbook, bad
encoding, malformed CSV) is raised as `UnreadableFile`, whose message is a sentence for a
campaign manager; it may surface mid-iteration, so consumers must finish iterating before
they write anything. The format is checked when an ``iter_*`` function is called (a PNG or
a truncated workbook fails at once); the file is opened for reading only when iteration
starts and is closed when it ends or the iterator is closed or dropped.

Limits (Excel's own, and caps on what a workbook may inflate to) keep memory and time
bounded whatever the upload holds; past them the file is refused as unreadable, the limit
named: MAX_ROWS rows, MAX_COLUMNS columns, MAX_CELL_CHARS characters in a cell,
MAX_SHEET_BYTES for the first sheet's XML and MAX_SHARED_STRINGS_BYTES for the shared
strings, uncompressed. Row numbers cost nothing: a gap in a sparse sheet is skipped, not
walked.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import posixpath
import pyexpat
import re
import struct
import zipfile
import zlib
from array import array
from collections.abc import Generator, Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import Literal, NamedTuple

from openpyxl.styles.numbers import builtin_format_code, is_date_format, is_timedelta_format
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import (
    CALENDAR_MAC_1904,
    CALENDAR_WINDOWS_1900,
    from_excel,
    from_ISO8601,
)

__all__ = [
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
]

MAX_ROWS = 1_048_576  # Excel's limit
MAX_COLUMNS = 16_384  # Excel's limit, column XFD
MAX_CELL_CHARS = 32_767  # Excel's limit
# Uncompressed XML: a full 1,048,576-row sheet of a dozen short columns fits.
MAX_SHEET_BYTES = 512 << 20
MAX_SHARED_STRINGS_BYTES = 128 << 20  # kept in memory, compactly: at most ~1.8x this

_HEAD_BYTES = 8192  # first block: signatures and NUL check
_SAMPLE_BYTES = 32768  # CSV sample for the delimiter sniffer
_MAX_LINE_CHARS = 1 << 20  # longer physical lines are not a table; bounds memory
_BLOCK_CHARS = 1 << 16  # CSV text is read and split into lines this much at a time
_LOCATE_CHUNK = 1 << 20
_XML_CHUNK = 1 << 16  # XLSX parts are inflated and parsed this much at a time
_MAX_PART_BYTES = 16 << 20  # the workbook's small parts: workbook, relationships, styles
_MAX_MARKUP_BYTES = 1 << 20  # one tag or comment; expat holds an unfinished one whole
_MAX_ENTRIES = 200_000  # sheets, relationships, styles in a small part (Excel: 64,000 styles)
_DELIMITERS = ",;\t|"
_ACCEPTED = "only CSV and XLSX files are accepted"

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "a legacy Excel .xls workbook (or a password-protected Office file)",
    ),
    (b"%PDF-", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
)
# Text that is not a table: web apps' "Export to Excel" often produces HTML or XML files.
_MARKUP: tuple[tuple[bytes, str], ...] = (
    (b"<?xml", "an XML document"),
    (b"<!doctype html", "an HTML page"),
    (b"<html", "an HTML page"),
    (b"<table", "an HTML page"),
)
_BOMS: tuple[tuple[bytes, str], ...] = (  # UTF-32 first: its LE BOM starts like UTF-16's
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_SEP_LINE = re.compile(r"sep=([^\r\n])(?:\r\n|\r|\n|$)")  # Excel's delimiter directive
_HEADER_SEPARATORS = re.compile(r"[\s\-]+")
_DIGIT = re.compile(r"\d")

# What a damaged XLSX raises, at open or while its sheet is streamed.
_TRUNCATED_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, struct.error)
_XLSX_ERRORS = (
    ValueError,  # bad numbers, references, dates
    IndexError,  # a shared string that does not exist
    RuntimeError,  # zipfile: encrypted member; NotImplementedError: unknown compression
)


class UnreadableFile(ValueError):
    """The file cannot be read as CSV or XLSX.

    ``str(exc)`` is a sentence for a campaign manager naming the file and the cause, e.g.
    "spring.xlsx is not a complete XLSX workbook (truncated or damaged zip)".
    """


_Rows = Generator[tuple[int, list[str]], None, None]


class _Format(NamedTuple):
    kind: Literal["csv", "xlsx"]
    encoding: str = "utf-8"  # CSV only: codec for the bytes after the BOM
    bom_len: int = 0


def sniff_format(path: Path) -> Literal["csv", "xlsx"]:
    """Tell CSV from XLSX by content (not extension); raise UnreadableFile for anything else."""
    return _detect(Path(path)).kind


def iter_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(row_number, cells)`` for every non-blank row of the first sheet / the CSV.

    Row numbers are 1-based as a spreadsheet user sees them (blank rows are skipped but
    counted). Cells are strings: None -> '', text stripped, numbers/bools/dates via ``str()``.
    """
    path = Path(path)
    return _rows(path, _detect(path))


def iter_first_column(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(row_number, value)`` of column A of the first sheet / the CSV.

    Rows with a blank first cell are skipped, other columns and sheets are ignored, and the
    first non-blank value is skipped as a header when it contains no digit ('Phone Number').
    A file whose column A is empty throughout while another column holds numbers raises
    UnreadableFile naming that column, once the whole file has been read.
    """
    path = Path(path)
    return _first_column(path.name, _rows(path, _detect(path)))


def iter_records(path: Path, columns: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(row_number, {column: value})`` for the data rows of a table with a header row.

    Header names match ``columns`` case-insensitively, with spaces/dashes read as underscores
    ('First Name' -> 'first_name'); unknown header columns are ignored and requested columns
    missing from the header give ''. A header with none of ``columns`` raises UnreadableFile.
    """
    if isinstance(columns, str):
        raise TypeError("columns must be a sequence of column names, not a string")
    if not columns:
        raise ValueError("columns must not be empty")
    path = Path(path)
    return _records(path, _rows(path, _detect(path)), tuple(columns))


# --- format detection -------------------------------------------------------------------


def _detect(path: Path) -> _Format:
    name = path.name
    with path.open("rb") as fh:
        head = fh.read(_HEAD_BYTES)
    if not head:
        raise UnreadableFile(f"{name} is empty")
    if head.startswith(_ZIP_MAGIC):
        _check_workbook_zip(path)
        return _Format("xlsx")
    for signature, what in _SIGNATURES:
        if head.startswith(signature):
            raise UnreadableFile(f"{name} looks like {what}; {_ACCEPTED}")
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return _Format("csv", encoding, len(bom))
    start = head.lstrip().lower()
    for signature, what in _MARKUP:
        if start.startswith(signature):
            raise UnreadableFile(f"{name} looks like {what}, not a table; {_ACCEPTED}")
    if b"\x00" in head:
        raise UnreadableFile(
            f"{name} looks like a binary file (it contains NUL bytes), not text; {_ACCEPTED}"
        )
    return _Format("csv")


def _check_workbook_zip(path: Path) -> None:
    """Return for an XLSX zip; raise UnreadableFile for any other or a damaged zip."""
    name = path.name
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "xl/workbook.xml" in names:
                return
            if "xl/workbook.bin" in names:
                what = "an Excel binary workbook (.xlsb)"
            elif "mimetype" in names and _starts_with(
                archive, "mimetype", b"application/vnd.oasis.opendocument"
            ):
                what = "an OpenDocument file (.ods/.odt)"
            elif "word/document.xml" in names:
                what = "a Word document"
            elif "ppt/presentation.xml" in names:
                what = "a PowerPoint presentation"
            else:
                what = "a zip archive without a spreadsheet in it"
    except _TRUNCATED_ZIP_ERRORS as exc:
        raise _incomplete_workbook(name) from exc
    raise UnreadableFile(f"{name} looks like {what}; {_ACCEPTED}")


def _starts_with(archive: zipfile.ZipFile, member: str, prefix: bytes) -> bool:
    with archive.open(member) as stream:  # only the prefix is inflated
        return stream.read(len(prefix)) == prefix


def _incomplete_workbook(name: str) -> UnreadableFile:
    return UnreadableFile(f"{name} is not a complete XLSX workbook (truncated or damaged zip)")


# --- rows -------------------------------------------------------------------------------


def _rows(path: Path, fmt: _Format) -> _Rows:
    if fmt.kind == "xlsx":
        return _xlsx_rows(path)
    return _csv_rows(path, fmt)


def _first_column(name: str, rows: _Rows) -> Iterator[tuple[int, str]]:
    with closing(rows):  # an early stop closes the file at once
        numbers_elsewhere = None  # index of the first other column seen holding a digit
        for number, cells in rows:
            value = cells[0]
            if value:
                if _DIGIT.search(value):  # the first value is data, not a header
                    yield number, value
                break
            if numbers_elsewhere is None:
                numbers_elsewhere = next(
                    (i for i, cell in enumerate(cells) if _DIGIT.search(cell)), None
                )
        else:  # column A is empty throughout
            if numbers_elsewhere is not None:
                raise _numbers_not_in_column_a(name, numbers_elsewhere)
            return
        for number, cells in rows:
            if cells[0]:
                yield number, cells[0]


def _numbers_not_in_column_a(name: str, index: int) -> UnreadableFile:
    letter = get_column_letter(index + 1)
    return UnreadableFile(
        f"{name} has nothing in column A, the only column read; the numbers seem to be in "
        f"column {letter}: move them to column A"
    )


def _records(
    path: Path, rows: _Rows, columns: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, str]]]:
    with closing(rows):  # an early stop closes the file at once
        header = next(rows, None)
        if header is None:
            return  # no rows at all: nothing to import
        yield from _data_records(path.name, header, rows, columns)


def _data_records(
    name: str, header: tuple[int, list[str]], rows: _Rows, columns: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, str]]]:
    header_number, names = header
    positions: dict[str, int] = {}
    for index, label in enumerate(names):
        positions.setdefault(_header_key(label), index)
    wanted = [(column, positions.get(_header_key(column))) for column in columns]
    if all(index is None for _, index in wanted):
        found = ", ".join(repr(label[:40]) for label in names[:12] if label)
        raise UnreadableFile(
            f"{name} has no header row with the expected columns: "
            f"row {header_number} has {found or 'no names'}, "
            f"expected one or more of {', '.join(columns)}"
        )
    for number, cells in rows:
        width = len(cells)
        record = {
            column: cells[index] if index is not None and index < width else ""
            for column, index in wanted
        }
        yield number, record


def _header_key(label: str) -> str:
    return _HEADER_SEPARATORS.sub("_", label.strip().casefold())


# --- XLSX -------------------------------------------------------------------------------
#
# The workbook is read with expat, part by part, in chunks: no part is ever held whole and
# no cell is built past MAX_CELL_CHARS, so memory stays flat whatever a part inflates to.
# openpyxl is used only for its number-format and date rules.


class _Book(NamedTuple):
    sheet: str  # zip member of the first worksheet
    shared_strings: str | None
    epoch: dt.datetime
    date_styles: frozenset[int]
    duration_styles: frozenset[int]


def _xlsx_rows(path: Path) -> _Rows:
    name = path.name
    sheet: _SheetParser | None = None
    try:
        with zipfile.ZipFile(path) as archive:
            book = _read_book(archive, name)
            strings = _SharedStrings()
            if book.shared_strings is not None:
                chunks = _part_chunks(
                    archive,
                    name,
                    book.shared_strings,
                    "its shared strings",
                    MAX_SHARED_STRINGS_BYTES,
                )
                _parse(_SharedStringsParser(name, strings).parser, chunks)
            sheet = _SheetParser(name, book, strings)
            chunks = _part_chunks(archive, name, book.sheet, "its first sheet", MAX_SHEET_BYTES)
            for _ in _feed(sheet.parser, chunks):
                yield from sheet.rows
                sheet.rows.clear()
    except UnreadableFile:
        raise
    except _TRUNCATED_ZIP_ERRORS as exc:
        raise _incomplete_workbook(name) from exc
    except KeyError as exc:
        raise _damaged_workbook(name, "a required part is missing") from exc
    except _BadMarkup as exc:
        raise _damaged_workbook(name, str(exc), sheet and sheet.where) from exc
    except pyexpat.ExpatError as exc:
        raise _damaged_workbook(name, "invalid XML", sheet and sheet.where) from exc
    except _XLSX_ERRORS as exc:
        raise _damaged_workbook(name, "unreadable data", sheet and sheet.where) from exc


def _too_many_rows(name: str) -> UnreadableFile:
    return UnreadableFile(
        f"{name} has rows past row {MAX_ROWS:,} (Excel's limit); split it into smaller files"
    )


def _cell_too_long(name: str, row: int | None) -> UnreadableFile:
    where = "" if row is None else f" on row {row}"
    return UnreadableFile(
        f"{name} has a cell longer than {MAX_CELL_CHARS:,} characters{where} "
        "(Excel's limit for a cell)"
    )


def _damaged_workbook(name: str, cause: str, row: int | None = None) -> UnreadableFile:
    where = "" if row is None else f" near row {row}"
    return UnreadableFile(f"{name} is a damaged XLSX workbook ({cause}{where})")


def _too_large(name: str, what: str, limit: int) -> UnreadableFile:
    return UnreadableFile(
        f"{name} is too large to import: {what} would inflate to more than "
        f"{limit >> 20} MB (the limit); split it into smaller files"
    )


def _part_chunks(
    archive: zipfile.ZipFile, name: str, member: str, what: str, limit: int
) -> Generator[bytes, None, None]:
    """The inflated bytes of one member, refused past `limit` before or while inflating.

    The declared size is checked first (refused at once), then the bytes are counted as
    they come: the declared size alone is not trusted.
    """
    info = archive.getinfo(member)
    if info.file_size > limit:
        raise _too_large(name, what, limit)
    total = 0
    with archive.open(info) as stream:
        while chunk := stream.read(_XML_CHUNK):
            total += len(chunk)
            if total > limit:
                raise _too_large(name, what, limit)
            yield chunk


def _new_parser(target: object) -> pyexpat.XMLParserType:
    """An expat parser calling target's _start/_end/_text; a DTD (never in a workbook) fails."""
    parser = pyexpat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True  # whitespace runs arrive in large pieces, not line by line
    parser.buffer_size = _XML_CHUNK
    parser.StartElementHandler = getattr(target, "_start", None)
    parser.EndElementHandler = getattr(target, "_end", None)
    parser.CharacterDataHandler = getattr(target, "_text", None)
    parser.StartDoctypeDeclHandler = _refuse_dtd
    return parser


class _BadMarkup(ValueError):
    """XML no workbook holds; the message is the cause."""


def _refuse_dtd(*_: object) -> None:
    raise _BadMarkup("a DTD, which workbooks never have")


def _feed(parser: pyexpat.XMLParserType, chunks: Generator[bytes, None, None]) -> Iterator[None]:
    """Parse chunk by chunk, yielding after each; refuse a single tag or comment over 1 MB.

    Expat buffers an unfinished tag whole: its position lagging far behind the bytes fed
    means one piece of markup is that long.
    """
    fed = 0
    with closing(chunks):  # a parse error must not leave the zip member open
        for chunk in chunks:
            parser.Parse(chunk, False)
            fed += len(chunk)
            if fed - parser.CurrentByteIndex > _MAX_MARKUP_BYTES:
                raise _BadMarkup("XML markup over 1 MB long")
            yield
    parser.Parse(b"", True)
    yield


def _parse(parser: pyexpat.XMLParserType, chunks: Generator[bytes, None, None]) -> None:
    for _ in _feed(parser, chunks):
        pass


def _local(tag: str) -> str:
    return tag.rpartition(" ")[2]  # expat gives "namespace-uri local-name"


class _Elements:
    """Collects (tag, parent tag, attributes) of the wanted elements of a small part."""

    def __init__(self, wanted: frozenset[str]) -> None:
        self.wanted, self.stack, self.found = wanted, [""], []
        self.parser = _new_parser(self)

    def _start(self, tag: str, attrs: dict[str, str]) -> None:
        local = _local(tag)
        if local in self.wanted:
            if len(self.found) == _MAX_ENTRIES:
                raise _BadMarkup(f"more than {_MAX_ENTRIES:,} {local} entries")
            self.found.append((local, self.stack[-1], {_local(k): v for k, v in attrs.items()}))
        self.stack.append(local)

    def _end(self, _tag: str) -> None:
        self.stack.pop()


def _elements(
    archive: zipfile.ZipFile, name: str, member: str, *wanted: str
) -> list[tuple[str, str, dict[str, str]]]:
    collector = _Elements(frozenset(wanted))
    chunks = _part_chunks(archive, name, member, f"its part {member}", _MAX_PART_BYTES)
    _parse(collector.parser, chunks)
    return collector.found


def _read_book(archive: zipfile.ZipFile, name: str) -> _Book:
    """Where the first worksheet and the shared strings are, and how dates are stored."""
    workbook = _elements(archive, name, "xl/workbook.xml", "workbookPr", "sheet")
    relations = {
        attrs["Id"]: attrs
        for _, _, attrs in _elements(archive, name, "xl/_rels/workbook.xml.rels", "Relationship")
        if attrs.get("TargetMode") != "External"
    }
    members = set(archive.namelist())
    sheets = [
        _part_path(relations[attrs["id"]]["Target"])
        for tag, _, attrs in workbook
        if tag == "sheet" and relations[attrs["id"]]["Type"].endswith("/worksheet")
    ]
    sheets = [member for member in sheets if member in members]
    if not sheets:
        raise UnreadableFile(f"{name} has no worksheets")
    strings = [
        _part_path(attrs["Target"])
        for attrs in relations.values()
        if attrs["Type"].endswith("/sharedStrings")
    ]
    date1904 = any(
        tag == "workbookPr" and attrs.get("date1904", "").lower() in ("1", "true")
        for tag, _, attrs in workbook
    )
    date_styles, duration_styles = _date_styles(archive, name, members)
    return _Book(
        sheet=sheets[0],
        shared_strings=strings[0] if strings else None,
        epoch=CALENDAR_MAC_1904 if date1904 else CALENDAR_WINDOWS_1900,
        date_styles=date_styles,
        duration_styles=duration_styles,
    )


def _part_path(target: str) -> str:
    """A relationship target of xl/workbook.xml as a zip member name."""
    if target.startswith("/"):
        return target[1:]
    return posixpath.normpath(posixpath.join("xl", target))


def _date_styles(
    archive: zipfile.ZipFile, name: str, members: set[str]
) -> tuple[frozenset[int], frozenset[int]]:
    """Indexes of the cell styles whose number format shows a date, and a duration."""
    if "xl/styles.xml" not in members:
        return frozenset(), frozenset()
    custom: dict[int, str] = {}
    styles: list[int] = []
    for tag, parent, attrs in _elements(archive, name, "xl/styles.xml", "numFmt", "xf"):
        if tag == "numFmt" and parent == "numFmts":
            custom[int(attrs["numFmtId"])] = attrs.get("formatCode", "")
        elif tag == "xf" and parent == "cellXfs":
            styles.append(int(attrs.get("numFmtId", 0)))
    formats = [custom[i] if i in custom else builtin_format_code(i) for i in styles]
    return (
        frozenset(i for i, code in enumerate(formats) if is_date_format(code)),
        frozenset(i for i, code in enumerate(formats) if is_timedelta_format(code)),
    )


class _SharedStrings:
    """The shared strings table, compact: one UTF-8 buffer and where each string ends.

    A list of str would cost ~60 bytes per string on top of its text.
    """

    def __init__(self) -> None:
        self._text = bytearray()
        self._ends = array("Q")

    def append(self, text: str) -> None:
        self._text += text.encode()
        self._ends.append(len(self._text))

    def __getitem__(self, index: int) -> str:
        if not 0 <= index < len(self._ends):
            raise IndexError("shared string index out of range")
        start = self._ends[index - 1] if index else 0
        return self._text[start : self._ends[index]].decode()


class _TextCollector:
    """Text of <t> elements (not of phonetic <rPh> runs), refused past MAX_CELL_CHARS."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.pieces: list[str] = []
        self.length = 0
        self.collecting = False
        self.in_phonetic = False

    def _text(self, data: str) -> None:
        if self.collecting:
            self.length += len(data)
            if self.length > MAX_CELL_CHARS:
                raise _cell_too_long(self.name, self.where)
            self.pieces.append(data)

    @property
    def where(self) -> int | None:
        """The row being read, for messages."""
        return None

    def take(self) -> str:
        text = "".join(self.pieces)
        self.pieces.clear()
        self.length = 0
        return text


class _SharedStringsParser(_TextCollector):
    def __init__(self, name: str, strings: _SharedStrings) -> None:
        super().__init__(name)
        self.strings = strings
        self.parser = _new_parser(self)

    def _start(self, tag: str, _attrs: dict[str, str]) -> None:
        local = _local(tag)
        if local == "t":
            self.collecting = not self.in_phonetic
        elif local == "rPh":
            self.in_phonetic = True

    def _end(self, tag: str) -> None:
        local = _local(tag)
        if local == "t":
            self.collecting = False
        elif local == "rPh":
            self.in_phonetic = False
        elif local == "si":
            self.strings.append(self.take())


class _SheetParser(_TextCollector):
    """Turns a worksheet's XML into (row number, cells) for its non-blank rows.

    Only rows present in the XML cost anything: a gap of a billion rows is one number.
    Past Excel's limits (rows, columns, characters in a cell) the sheet is refused.
    """

    def __init__(self, name: str, book: _Book, strings: _SharedStrings) -> None:
        super().__init__(name)
        self.book, self.strings = book, strings
        self.rows: list[tuple[int, list[str]]] = []  # completed since the last chunk
        self.row_elements = 0
        self.last_row = 0  # number of the last row finished
        self.row: int | None = None  # number of the row being read
        self.cells: list[tuple[int, str]] = []
        self.column = 0
        self.kind, self.style = "", 0  # kind "": not in a cell
        self.parser = _new_parser(self)

    @property
    def where(self) -> int:
        """The row an error is in (or just after the last row read)."""
        return self.row if self.row is not None else self.last_row + 1

    def _start(self, tag: str, attrs: dict[str, str]) -> None:
        local = _local(tag)
        if local == "c":
            self._start_cell(attrs)
        elif local == "v":
            self.collecting = self.kind not in ("", "inlineStr")
        elif local == "t":
            self.collecting = self.kind == "inlineStr" and not self.in_phonetic
        elif local == "rPh":
            self.in_phonetic = True
        elif local == "row":
            self._start_row(attrs.get("r"))

    def _end(self, tag: str) -> None:
        local = _local(tag)
        if local in ("v", "t"):
            self.collecting = False
        elif local == "rPh":
            self.in_phonetic = False
        elif local == "c":
            self.cells.append((self.column, self._value(self.take())))
            self.kind = ""
        elif local == "row":
            self._end_row()

    def _start_row(self, number: str | None) -> None:
        self.row_elements += 1
        self.row = int(number) if number else self.last_row + 1
        if self.row > MAX_ROWS or self.row_elements > MAX_ROWS:
            raise _too_many_rows(self.name)
        self.column = 0

    def _end_row(self) -> None:
        if self.cells:
            width = max(column for column, _ in self.cells)
            cells = [""] * width
            for column, text in self.cells:
                cells[column - 1] = text
            if any(cells):
                self.rows.append((self.row, cells))
            self.cells.clear()
        self.last_row, self.row = self.row, None

    def _start_cell(self, attrs: dict[str, str]) -> None:
        reference = attrs.get("r")
        self.column = _column_number(reference) if reference else self.column + 1
        if self.column > MAX_COLUMNS or len(self.cells) >= MAX_COLUMNS:
            raise UnreadableFile(
                f"{self.name} has cells past column XFD on row {self.where} "
                f"(Excel's limit of {MAX_COLUMNS:,} columns)"
            )
        self.kind = attrs.get("t", "n")
        self.style = int(attrs.get("s") or 0)

    def _value(self, raw: str) -> str:
        """The cell as text, as openpyxl reads it with data_only: numbers, dates, booleans."""
        kind = self.kind
        if not raw or kind in ("inlineStr", "str", "e"):
            return raw.strip()
        if kind == "s":
            return self.strings[int(raw)].strip()
        if kind == "b":
            return str(bool(int(raw)))
        if kind == "d":
            return str(from_ISO8601(raw))
        if kind != "n":
            return raw.strip()
        number = float(raw) if "." in raw or "e" in raw or "E" in raw else int(raw)
        if self.style in self.book.date_styles:
            duration = self.style in self.book.duration_styles
            try:
                return str(from_excel(number, self.book.epoch, timedelta=duration))
            except (OverflowError, ValueError):
                return "#VALUE!"  # a date serial out of range, shown as Excel does
        return str(number)


_REFERENCE = re.compile(r"([A-Za-z]+)[0-9]*")


def _column_number(reference: str) -> int:
    """1 for 'A1', 28 for 'AB7'; more than MAX_COLUMNS for any reference past XFD."""
    match = _REFERENCE.fullmatch(reference)
    if match is None:
        raise ValueError("bad cell reference")
    letters = match.group(1).upper()
    if len(letters) > 3:
        return MAX_COLUMNS + 1
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - 64
    return number


# --- CSV --------------------------------------------------------------------------------


def _csv_rows(path: Path, fmt: _Format) -> _Rows:
    name = path.name
    delimiter, has_sep_line = _csv_layout(path, fmt)
    with path.open("rb") as raw:
        raw.seek(fmt.bom_len)
        # Universal newlines: CRLF and old Mac CR files both arrive as "\n"-ended lines.
        text = io.TextIOWrapper(raw, encoding=fmt.encoding, errors="strict", newline=None)
        # strict: a quote that is never closed must not silently swallow the rest of the file
        reader = csv.reader(
            _bounded_lines(text, name),
            delimiter=delimiter,
            quotechar='"',
            doublequote=True,
            skipinitialspace=True,
            strict=True,
        )
        try:
            if has_sep_line:
                next(reader, None)  # Excel hides it; data starts at row 1
            for number, row in enumerate(reader, 1):
                if number > MAX_ROWS:
                    raise _too_many_rows(name)
                cells = list(map(str.strip, row))
                if any(cells):
                    if max(map(len, cells)) > MAX_CELL_CHARS:
                        raise _cell_too_long(name, number)
                    yield number, cells
        except UnicodeDecodeError as exc:
            raise _not_text(path, fmt) from exc
        except csv.Error as exc:
            raise UnreadableFile(
                f"{name} is not a valid CSV file (line {reader.line_num}: {_csv_cause(exc)})"
            ) from exc


def _csv_layout(path: Path, fmt: _Format) -> tuple[str, bool]:
    """(delimiter, whether the first line is Excel's 'sep=X' directive) from a sample."""
    with path.open("rb") as raw:
        raw.seek(fmt.bom_len)
        data = raw.read(_SAMPLE_BYTES)
    sample = data.decode(fmt.encoding, "replace")  # decoding errors are reported later
    if len(data) == _SAMPLE_BYTES:  # drop the cut-off last line
        cut = max(sample.rfind("\n"), sample.rfind("\r"))
        if cut > 0:
            sample = sample[:cut]
    sep = _SEP_LINE.match(sample)
    if sep and sep.group(1) in _DELIMITERS:
        return sep.group(1), True
    # blank lines make every delimiter look inconsistent to the sniffer
    sample = "\n".join(line for line in sample.splitlines() if line.strip())
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:  # e.g. a single column: no delimiter to find
        delimiter = ","
    return (delimiter if delimiter in _DELIMITERS else ","), False


def _bounded_lines(text: io.TextIOWrapper, name: str) -> Iterator[str]:
    """Physical lines for csv.reader, refusing NUL and lines too long to be a table row.

    Reads blocks and splits them in C: a readline() per row would cost as much as parsing.
    """
    number, partial = 0, ""
    while block := text.read(_BLOCK_CHARS):
        if "\x00" in block:
            line = number + (partial + block).count("\n", 0, (partial + block).index("\x00")) + 1
            raise UnreadableFile(
                f"{name} looks like a binary file (NUL byte on line {line}); {_ACCEPTED}"
            )
        lines = (partial + block).split("\n")
        partial = lines.pop()
        if len(partial) >= _MAX_LINE_CHARS:
            raise UnreadableFile(
                f"{name} is not a valid CSV file (line {number + len(lines) + 1} is longer "
                f"than {_MAX_LINE_CHARS} characters)"
            )
        number += len(lines)
        yield from (line + "\n" for line in lines)
    if partial:
        yield partial


def _csv_cause(exc: csv.Error) -> str:
    message = str(exc)
    if "field larger than field limit" in message:
        return (
            f"a cell is longer than {csv.field_size_limit()} characters, "
            'probably an opening quote " that is never closed'
        )
    if "unexpected end of data" in message:
        return 'the file ends inside a quoted cell: an opening quote " is never closed'
    if "expected after" in message:
        return f"unexpected text after a closing quote ({message})"
    return message


def _not_text(path: Path, fmt: _Format) -> UnreadableFile:
    label = "UTF-8" if fmt.encoding == "utf-8" else fmt.encoding[:6].upper()
    where = _locate_decode_error(path, fmt)
    if where is None:  # the file changed under us
        detail = ""
    else:
        line, offset, byte = where
        what = f"invalid byte 0x{byte:02x}" if fmt.encoding == "utf-8" else "invalid data"
        detail = f" ({what} near line {line}, byte {offset})"
    return UnreadableFile(f"{path.name} is not {label} text{detail}; save it as CSV UTF-8")


def _locate_decode_error(path: Path, fmt: _Format) -> tuple[int, int, int] | None:
    """(line, byte offset, first bad byte) of the first undecodable bytes, in one pass."""
    decoder = codecs.getincrementaldecoder(fmt.encoding)("strict")
    line, after_cr = 1, False
    with path.open("rb") as raw:
        position = raw.seek(fmt.bom_len)  # absolute offset of the next chunk
        while True:
            chunk = raw.read(_LOCATE_CHUNK)
            pending = decoder.getstate()[0]
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                data = pending + chunk
                line += _line_breaks(data[: exc.start].decode(fmt.encoding, "replace"), after_cr)
                return line, position - len(pending) + exc.start, data[exc.start]
            if not chunk:
                return None
            line += _line_breaks(text, after_cr)
            after_cr = text.endswith("\r") if text else after_cr
            position += len(chunk)


def _line_breaks(text: str, after_cr: bool) -> int:
    """Line breaks (\\n, \\r or \\r\\n) in text; after_cr: the previous text ended with \\r."""
    breaks = text.count("\n") + text.count("\r") - text.count("\r\n")
    return breaks - 1 if after_cr and text.startswith("\n") else breaks
